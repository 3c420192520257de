-- Marketing tools (issue 20). The product catalogue: what coupons, flash sales and
-- group-buys are scoped to, and what fills in an order line's category and price.
CREATE TABLE products (
    sku                 TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    sub_brand           TEXT,
    category            TEXT,
    price               BIGINT,
    service_after_days  BIGINT,
    active              BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    updated_by          TEXT NOT NULL
);
CREATE INDEX products_category ON products (category);

-- Coupon definitions, with the counters their budgets are checked against in the same
-- statement that moves them: codes issued and discount granted (minor units).
CREATE TABLE coupons (
    id                  TEXT PRIMARY KEY,
    definition          TEXT NOT NULL,
    budget_count        BIGINT,
    budget_amount       BIGINT,
    issued              BIGINT NOT NULL,
    granted             BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    updated_by          TEXT NOT NULL
);

-- Issued codes: one per issue key, each a member's, redeemed on one order at most.
CREATE TABLE coupon_codes (
    code                TEXT PRIMARY KEY,
    coupon_id           TEXT NOT NULL,
    member_id           BIGINT NOT NULL,
    issue_key           TEXT NOT NULL UNIQUE,
    source              TEXT NOT NULL,
    issued_at           BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    status              TEXT NOT NULL,
    order_id            TEXT,
    order_amount        BIGINT,
    discount            BIGINT,
    redeemed_at         BIGINT
);
CREATE INDEX coupon_codes_member ON coupon_codes (member_id, coupon_id);
CREATE INDEX coupon_codes_coupon ON coupon_codes (coupon_id, status);
CREATE INDEX coupon_codes_order ON coupon_codes (order_id);
