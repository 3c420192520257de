-- The owner of each relationship (issue 19): one member of staff who holds the member
-- for the brand, assigned by rule (home store or city, by load) or by hand (audited).
CREATE TABLE member_owners (
    member_id       BIGINT PRIMARY KEY,
    staff_id        TEXT NOT NULL,
    since           BIGINT NOT NULL,
    assigned_by     TEXT NOT NULL,
    reason          TEXT
);
CREATE INDEX member_owners_staff ON member_owners (staff_id);
