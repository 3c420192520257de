-- Indexes for look-ups by member that ingest makes on every batch. Without them each
-- batch scanned the whole table, so imports slowed down as the database grew:
-- a merge re-points the merged member's points orders, and loading a wallet reads the
-- member's debt account.
CREATE INDEX points_orders_member ON points_orders (member_id);
CREATE INDEX points_accounts_member ON points_accounts (member_id) WHERE member_id IS NOT NULL;
