-- Tracked shares (issue 20): a member's shared link and what it caused. Clicks and
-- distinct readers are counted by the public redirect, buyers by the purchases that
-- name the link's token; `unsettled` marks a link whose counts moved since its
-- milestones were last judged, and each milestone paid is kept once.
CREATE TABLE share_links (
    token               TEXT PRIMARY KEY,
    member_id           BIGINT NOT NULL,
    idempotency_key     TEXT NOT NULL UNIQUE,
    url                 TEXT NOT NULL,
    title               TEXT,
    channel             TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    clicks              BIGINT NOT NULL DEFAULT 0,
    readers             BIGINT NOT NULL DEFAULT 0,
    buyers              BIGINT NOT NULL DEFAULT 0,
    new_buyers          BIGINT NOT NULL DEFAULT 0,
    last_click_at       BIGINT,
    unsettled           BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX share_links_member ON share_links (member_id, created_at);
CREATE INDEX share_links_unsettled ON share_links (token) WHERE unsettled = 1;

CREATE TABLE share_readers (
    token               TEXT NOT NULL,
    reader              TEXT NOT NULL,
    first_at            BIGINT NOT NULL,
    PRIMARY KEY (token, reader)
);

CREATE TABLE share_buyers (
    token               TEXT NOT NULL,
    member_id           BIGINT NOT NULL,
    order_id            TEXT NOT NULL,
    new_buyer           BIGINT NOT NULL,
    bought_at           BIGINT NOT NULL,
    PRIMARY KEY (token, member_id)
);

CREATE TABLE share_milestones (
    token               TEXT NOT NULL,
    measure             TEXT NOT NULL,
    reached             BIGINT NOT NULL,
    event_id            TEXT NOT NULL,
    paid_at             BIGINT NOT NULL,
    PRIMARY KEY (token, measure, reached)
);
