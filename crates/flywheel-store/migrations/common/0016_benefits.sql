-- Benefits (权益) and the tiers that give them.
CREATE TABLE benefits (
    id              TEXT PRIMARY KEY,
    definition      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- Which tier of which programme gives which benefit, since when.
CREATE TABLE tier_benefits (
    programme       TEXT NOT NULL,
    tier            TEXT NOT NULL,
    benefit         TEXT NOT NULL,
    added_at        BIGINT NOT NULL,
    PRIMARY KEY (programme, tier, benefit)
);
CREATE INDEX tier_benefits_benefit ON tier_benefits (benefit);

-- A benefit removed from a tier stays with each holder until their term ends: one row
-- per holder at the time of the removal, until that end.
CREATE TABLE benefit_keeps (
    member_id       BIGINT NOT NULL,
    programme       TEXT NOT NULL,
    tier            TEXT NOT NULL,
    benefit         TEXT NOT NULL,
    until           BIGINT NOT NULL,
    PRIMARY KEY (member_id, programme, tier, benefit)
);

-- Each use of a benefit, where it happened; idempotent by key.
CREATE TABLE benefit_uses (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    request         TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    benefit         TEXT NOT NULL,
    programme       TEXT NOT NULL,
    tier            TEXT NOT NULL,
    channel         TEXT,
    category        TEXT,
    at              BIGINT NOT NULL,
    actor           TEXT NOT NULL
);
CREATE INDEX benefit_uses_member ON benefit_uses (member_id, benefit, at);

-- Notices to members (a benefit leaving their tier, one joining it), each due at
-- `deliver_at`; the engagement channels deliver them. Keyed by what they are about, so
-- writing one again changes nothing.
CREATE TABLE notices (
    member_id       BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    reference       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    deliver_at      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (member_id, kind, reference)
);
CREATE INDEX notices_due ON notices (deliver_at);
