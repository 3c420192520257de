-- Members, identities, events, orders, referrals and the records that explain them.
-- Instants are BIGINT microseconds since the epoch (UTC); money is BIGINT minor units.
-- Every member-scoped table carries member_id so the schema can be distributed by member.

CREATE TABLE members (
    id              INTEGER PRIMARY KEY,
    created_at      BIGINT NOT NULL,
    merged_into     BIGINT,
    stage           TEXT NOT NULL,
    lens            TEXT NOT NULL,
    stage_since     BIGINT NOT NULL,
    next_review_at  BIGINT,
    profile         TEXT NOT NULL,
    facts           TEXT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX members_review ON members (next_review_at) WHERE merged_into IS NULL;
CREATE INDEX members_merged_into ON members (merged_into) WHERE merged_into IS NOT NULL;
-- Counts per stage and lens read these small indexes, not the member rows.
CREATE INDEX members_stage ON members (stage, merged_into) WHERE merged_into IS NULL;
CREATE INDEX members_lens ON members (lens, merged_into) WHERE merged_into IS NULL;

CREATE TABLE identities (
    key             TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    value           TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    source_event_id TEXT
);
CREATE INDEX identities_member ON identities (member_id);

CREATE TABLE events (
    event_id        TEXT PRIMARY KEY,
    member_id       BIGINT NOT NULL,
    type            TEXT NOT NULL,
    channel         TEXT NOT NULL,
    occurred_at     BIGINT NOT NULL,
    received_at     BIGINT NOT NULL,
    identities      TEXT NOT NULL,
    properties      TEXT NOT NULL
);
CREATE INDEX events_member_time ON events (member_id, occurred_at, event_id);

CREATE TABLE orders (
    order_id          TEXT PRIMARY KEY,
    member_id         BIGINT NOT NULL,
    purchase_event_id TEXT,
    amount            BIGINT,
    refunded          BIGINT NOT NULL,
    occurred_at       BIGINT
);
CREATE INDEX orders_member ON orders (member_id);

CREATE TABLE referrals (
    event_id        TEXT PRIMARY KEY,
    inviter_id      BIGINT NOT NULL,
    invitee_id      BIGINT NOT NULL,
    referred_at     BIGINT NOT NULL,
    converted_at    BIGINT,
    status          TEXT NOT NULL
);
CREATE INDEX referrals_invitee ON referrals (invitee_id);
CREATE INDEX referrals_inviter ON referrals (inviter_id);

CREATE TABLE stage_transitions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id       BIGINT NOT NULL,
    origin_member_id BIGINT NOT NULL,
    from_stage      TEXT NOT NULL,
    to_stage        TEXT NOT NULL,
    from_lens       TEXT NOT NULL,
    to_lens         TEXT NOT NULL,
    at              BIGINT NOT NULL,
    rule            TEXT NOT NULL,
    reason          TEXT NOT NULL,
    event_id        TEXT
);
CREATE INDEX stage_transitions_member ON stage_transitions (member_id, at);

CREATE TABLE merges (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    survivor_id     BIGINT NOT NULL,
    merged_id       BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    event_id        TEXT,
    actor           TEXT NOT NULL,
    explanation     TEXT NOT NULL
);
CREATE INDEX merges_survivor ON merges (survivor_id);

CREATE TABLE identity_conflicts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at      BIGINT NOT NULL,
    event_id        TEXT,
    kind            TEXT NOT NULL,
    member_ids      TEXT NOT NULL,
    identity_values TEXT NOT NULL,
    explanation     TEXT NOT NULL,
    status          TEXT NOT NULL,
    resolved_at     BIGINT,
    resolved_by     TEXT
);
CREATE INDEX identity_conflicts_status ON identity_conflicts (status, id);
CREATE INDEX identity_conflicts_pair ON identity_conflicts (member_ids, kind);

CREATE TABLE api_keys (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    key_hash        TEXT NOT NULL UNIQUE,
    prefix          TEXT NOT NULL,
    role            TEXT NOT NULL,
    label           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT
);

CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              BIGINT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    target          TEXT NOT NULL,
    details         TEXT NOT NULL
);

-- SQLite has no sequences; the single writer hands out member ids from this row.
CREATE TABLE id_counters (
    name            TEXT PRIMARY KEY,
    next_value      BIGINT NOT NULL
);
INSERT INTO id_counters (name, next_value) VALUES ('members', 1);
