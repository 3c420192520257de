-- Migration 51's index of debts held only those still owed (`balance <> 0`). A column an
-- index's predicate names counts as indexed: on PostgreSQL no update that changes a
-- balance could then be a heap-only (HOT) update, so each of the ~65,000 balance
-- upserts of a 60,000-event import wrote a new entry into every index of the table and
-- left a dead one behind (bench/PROFILE.md). Debt accounts are few and rarely drop back
-- to zero; the index holds them all, and the read (`load_wallets`) still asks for a
-- balance, which it checks in the row.
DROP INDEX points_accounts_debt;
CREATE INDEX points_accounts_debt ON points_accounts (member_id) WHERE account_type = 'debt';
