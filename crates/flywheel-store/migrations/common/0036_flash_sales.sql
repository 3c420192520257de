-- Flash sales (issue 20): each sale with the units left to claim, moved only while above
-- zero in the statement that takes one, and its claims — held until paid, or lapsed
-- (their unit back on sale) when unpaid past pay_by.
CREATE TABLE flash_sales (
    id                  TEXT PRIMARY KEY,
    definition          TEXT NOT NULL,
    remaining           BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    updated_by          TEXT NOT NULL
);

CREATE TABLE flash_claims (
    id                  TEXT PRIMARY KEY,
    sale_id             TEXT NOT NULL,
    member_id           BIGINT NOT NULL,
    claim_key           TEXT NOT NULL UNIQUE,
    status              TEXT NOT NULL,
    claimed_at          BIGINT NOT NULL,
    pay_by              BIGINT NOT NULL,
    paid_at             BIGINT,
    order_id            TEXT,
    redemption_id       TEXT
);
CREATE INDEX flash_claims_member ON flash_claims (sale_id, member_id, status);
CREATE INDEX flash_claims_due ON flash_claims (status, pay_by);
