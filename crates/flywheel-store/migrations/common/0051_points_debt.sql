-- Every group of events asks whether its members owe points (`load_wallets`): a debt
-- account with a balance. Through points_accounts_member that read every account of
-- every member in the group, row by row, to find the few debts; this index holds only
-- the debts still owed, so the answer is usually an empty look-up.
CREATE INDEX points_accounts_debt ON points_accounts (member_id) WHERE account_type = 'debt' AND balance <> 0;
