-- Care moments (issue 19): each UTC day's reasons to reach out to a member (birthday,
-- anniversary, service due, repurchase cycle), with the member's home store for the
-- staff to-do lists; `care_days` records the days counted.
CREATE TABLE care_moments (
    day             BIGINT NOT NULL,
    member_id       BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    subject         TEXT NOT NULL,
    store           TEXT,
    reason          TEXT NOT NULL,
    PRIMARY KEY (day, member_id, kind, subject)
);
CREATE INDEX care_moments_store ON care_moments (day, store);

CREATE TABLE care_days (
    day             BIGINT PRIMARY KEY,
    computed_at     BIGINT NOT NULL,
    moments         BIGINT NOT NULL
);
