-- Staff's discretionary points (issue 19; seed 003: employees act within an authorised
-- range): each gift reserves its points against the giver's monthly allowance, once per
-- request key, before the ledger posts them.
CREATE TABLE staff_gifts (
    request_key     TEXT PRIMARY KEY,
    staff_id        TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    points          BIGINT NOT NULL,
    month           BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    reason          TEXT NOT NULL
);
CREATE INDEX staff_gifts_month ON staff_gifts (staff_id, month);
