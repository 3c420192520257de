-- Deals (issue 19; seed 002's car): a purchase on its way from a deposit to delivery,
-- one row per member and order (the order '' for a member's one deal when the events
-- name none), each step at the first time it happened. The deposit funnel of the
-- service report reads these rows, not the events.
CREATE TABLE deals (
    member_id       BIGINT NOT NULL,
    deal            TEXT NOT NULL,
    first_at        BIGINT NOT NULL,
    small_at        BIGINT,
    full_at         BIGINT,
    delivered_at    BIGINT,
    refunded_at     BIGINT,
    PRIMARY KEY (member_id, deal)
);
CREATE INDEX deals_first ON deals (first_at);
