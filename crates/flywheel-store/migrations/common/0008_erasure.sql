-- When a member's personal data was erased (PIPL); the row stays, anonymous, so the
-- books and the aggregates stay whole.
ALTER TABLE members ADD COLUMN erased_at BIGINT;
