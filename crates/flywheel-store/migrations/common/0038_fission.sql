-- Fission campaigns (issue 20): group-buys, help requests and bargains. A round is one
-- leader's group or request; its counters move in the transaction that adds a join,
-- after the round's row is locked, so a group never takes more members than its size.
-- A member joins a campaign's rounds once (fission_joins_once), whichever round.
CREATE TABLE fission_campaigns (
    id                  TEXT PRIMARY KEY,
    definition          TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    updated_by          TEXT NOT NULL
);

CREATE TABLE fission_rounds (
    id                  TEXT PRIMARY KEY,
    campaign_id         TEXT NOT NULL,
    kind                TEXT NOT NULL,
    leader_id           BIGINT NOT NULL,
    open_key            TEXT NOT NULL UNIQUE,
    status              TEXT NOT NULL,
    opened_at           BIGINT NOT NULL,
    deadline            BIGINT NOT NULL,
    closed_at           BIGINT,
    joined              BIGINT NOT NULL,
    progress            BIGINT NOT NULL,
    price_minor         BIGINT NOT NULL,
    rewarded_at         BIGINT
);
CREATE INDEX fission_rounds_campaign ON fission_rounds (campaign_id, leader_id, status);
CREATE INDEX fission_rounds_due ON fission_rounds (status, deadline);

CREATE TABLE fission_joins (
    round_id            TEXT NOT NULL,
    campaign_id         TEXT NOT NULL,
    member_id           BIGINT NOT NULL,
    at                  BIGINT NOT NULL,
    new_member          BIGINT NOT NULL,
    weight              BIGINT NOT NULL,
    cut_minor           BIGINT NOT NULL,
    number              BIGINT NOT NULL,
    PRIMARY KEY (round_id, member_id)
);
CREATE UNIQUE INDEX fission_joins_once ON fission_joins (campaign_id, member_id);
