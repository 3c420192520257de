-- Points: a double-entry ledger with lots. The same SQL on SQLite and PostgreSQL.

-- One row per transaction; `key` is its idempotency key.
CREATE TABLE points_transactions (
    key             TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    programme       TEXT NOT NULL,
    reason          TEXT NOT NULL,
    source_type     TEXT NOT NULL,
    source_id       TEXT NOT NULL,
    rule_id         TEXT,
    actor           TEXT,
    member_id       BIGINT,
    at              BIGINT NOT NULL,
    posted_at       BIGINT NOT NULL
);

-- The balanced lines of each transaction, with what reports group by copied in. No
-- key of its own: lines are unique per transaction by construction, the transaction's
-- key guards against posting twice, and a key on two long texts was an eighth of the file.
CREATE TABLE points_entries (
    txn_key         TEXT NOT NULL,
    account         TEXT NOT NULL,
    account_type    TEXT NOT NULL,
    programme       TEXT NOT NULL,
    member_id       BIGINT,
    partner_id      TEXT,
    kind            TEXT NOT NULL,
    at              BIGINT NOT NULL,
    amount          BIGINT NOT NULL
);
CREATE INDEX points_entries_member ON points_entries (member_id, at) WHERE member_id IS NOT NULL;
CREATE INDEX points_entries_at ON points_entries (at, account_type, kind);

-- Each account's balance, kept in step with its entries in the same transaction.
CREATE TABLE points_accounts (
    account         TEXT PRIMARY KEY,
    account_type    TEXT NOT NULL,
    programme       TEXT NOT NULL,
    member_id       BIGINT,
    partner_id      TEXT,
    balance         BIGINT NOT NULL
);

-- Lots: each credit, what is left of it, when it becomes available and when it expires.
CREATE TABLE points_lots (
    id              TEXT PRIMARY KEY,
    member_id       BIGINT NOT NULL,
    programme       TEXT NOT NULL,
    earned_at       BIGINT NOT NULL,
    available_at    BIGINT NOT NULL,
    expires_at      BIGINT,
    points          BIGINT NOT NULL,
    remaining       BIGINT NOT NULL,
    pending         BIGINT NOT NULL,
    order_id        TEXT
);
CREATE INDEX points_lots_member ON points_lots (member_id) WHERE remaining > 0;
CREATE INDEX points_lots_due ON points_lots (available_at) WHERE pending = 1;
CREATE INDEX points_lots_expiry ON points_lots (expires_at) WHERE remaining > 0 AND pending = 0;

-- Which lots a redemption took its points from (a cancellation returns them there).
CREATE TABLE points_lot_moves (
    txn_key         TEXT NOT NULL,
    lot_id          TEXT NOT NULL,
    points          BIGINT NOT NULL,
    PRIMARY KEY (txn_key, lot_id)
);

-- Awards per member, rule and period (day, month, all), for the rules' limits.
CREATE TABLE points_usage (
    member_id       BIGINT NOT NULL,
    rule_id         TEXT NOT NULL,
    period          TEXT NOT NULL,
    count           BIGINT NOT NULL,
    points          BIGINT NOT NULL,
    PRIMARY KEY (member_id, rule_id, period)
);

CREATE TABLE points_budgets (
    rule_id         TEXT PRIMARY KEY,
    spent           BIGINT NOT NULL
);

-- Points each rule awarded an order, how many its refunds reversed, and the rule's rate.
CREATE TABLE points_orders (
    order_id        TEXT NOT NULL,
    rule_id         TEXT NOT NULL,
    programme       TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    earned          BIGINT NOT NULL,
    reversed        BIGINT NOT NULL,
    rate_points     BIGINT NOT NULL,
    rate_per        BIGINT NOT NULL,
    PRIMARY KEY (order_id, rule_id)
);

-- Versions of the earning rules (version 0, the built-in defaults, is not stored).
CREATE TABLE points_rules (
    version         BIGINT PRIMARY KEY,
    effective_from  BIGINT NOT NULL,
    rules           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL
);

CREATE TABLE rewards (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    programme       TEXT NOT NULL,
    points_cost     BIGINT NOT NULL,
    cash_cost       BIGINT,
    stock           BIGINT,
    per_member_limit BIGINT,
    valid_from      BIGINT,
    valid_until     BIGINT,
    active          BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE redemptions (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    request         TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    reward_id       TEXT,
    programme       TEXT NOT NULL,
    points          BIGINT NOT NULL,
    cash            BIGINT,
    status          TEXT NOT NULL,
    txn_key         TEXT NOT NULL,
    cancel_txn_key  TEXT,
    created_at      BIGINT NOT NULL,
    cancelled_at    BIGINT,
    actor           TEXT NOT NULL
);
CREATE INDEX redemptions_member ON redemptions (member_id, reward_id);

CREATE TABLE partners (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    programme       TEXT NOT NULL,
    rate_ours       BIGINT NOT NULL,
    rate_theirs     BIGINT NOT NULL,
    daily_limit     BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);

-- Transfers and exchanges by idempotency key, with the UTC day their limits count in.
CREATE TABLE points_transfers (
    idempotency_key TEXT PRIMARY KEY,
    request         TEXT NOT NULL,
    from_member_id  BIGINT NOT NULL,
    to_member_id    BIGINT NOT NULL,
    programme       TEXT NOT NULL,
    points          BIGINT NOT NULL,
    day             TEXT NOT NULL,
    at              BIGINT NOT NULL
);
CREATE INDEX points_transfers_sender ON points_transfers (from_member_id, day);

CREATE TABLE points_exchanges (
    idempotency_key TEXT PRIMARY KEY,
    request         TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    partner_id      TEXT NOT NULL,
    direction       TEXT NOT NULL,
    points          BIGINT NOT NULL,
    partner_points  BIGINT NOT NULL,
    day             TEXT NOT NULL,
    at              BIGINT NOT NULL
);
CREATE INDEX points_exchanges_partner ON points_exchanges (partner_id, day);
CREATE INDEX points_exchanges_member ON points_exchanges (member_id, day);

CREATE TABLE points_adjustments (
    idempotency_key TEXT PRIMARY KEY,
    request         TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    programme       TEXT NOT NULL,
    points          BIGINT NOT NULL,
    reason          TEXT NOT NULL,
    actor           TEXT NOT NULL,
    at              BIGINT NOT NULL
);
