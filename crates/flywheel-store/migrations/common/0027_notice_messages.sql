-- Membership notices (a benefit leaving a member's tier) go out through the outbox
-- (issue 18): each notice records the message that carried it, once.
ALTER TABLE notices ADD COLUMN message_id BIGINT;
