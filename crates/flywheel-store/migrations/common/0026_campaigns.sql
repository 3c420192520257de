-- Campaigns (issue 18): content sent to a segment at a date and time, once or again and
-- again, split between variants with a holdout group. Each occurrence records every
-- member it reached — the variant, or 'holdout', and the message — once: a runner that
-- stops half-way goes on with the members not yet recorded.
CREATE TABLE campaigns (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    status          TEXT NOT NULL,
    version         BIGINT NOT NULL,
    definition      TEXT NOT NULL,
    occurrence      BIGINT NOT NULL,
    next_at         BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      TEXT NOT NULL
);
CREATE TABLE campaign_members (
    campaign_id     TEXT NOT NULL,
    occurrence      BIGINT NOT NULL,
    member_id       BIGINT NOT NULL,
    variant         TEXT NOT NULL,
    message_id      BIGINT,
    at              BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, occurrence, member_id)
);
CREATE INDEX campaign_members_member ON campaign_members (member_id);
