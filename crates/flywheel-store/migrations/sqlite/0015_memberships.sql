-- Who holds which tier of which programme, how each membership was bought, every tier
-- change with its rule and a sentence, and members' card numbers. (The two databases
-- differ only in how tier_changes numbers its rows.)

-- A member's current tier in each programme they have joined.
CREATE TABLE memberships (
    member_id       BIGINT NOT NULL,
    programme       TEXT NOT NULL,
    tier            TEXT NOT NULL,
    since           BIGINT NOT NULL,
    term_start      BIGINT NOT NULL,
    expires_at      BIGINT,
    source          TEXT NOT NULL,
    PRIMARY KEY (member_id, programme)
);
CREATE INDEX memberships_expiry ON memberships (expires_at) WHERE expires_at IS NOT NULL;

-- Each purchase (or renewal) of a paid tier: the cash and points paid, the term bought,
-- and the ledger transaction that took the points. `request` is the normalised request,
-- so a retry with the same key is told from a different request; `previous` the
-- membership the purchase replaced (JSON; NULL if none), which a cancellation restores.
CREATE TABLE membership_purchases (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    request         TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    programme       TEXT NOT NULL,
    tier            TEXT NOT NULL,
    cash            BIGINT NOT NULL,
    points          BIGINT NOT NULL,
    term_start      BIGINT NOT NULL,
    expires_at      BIGINT,
    txn_key         TEXT,
    status          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    cancelled_at    BIGINT,
    actor           TEXT NOT NULL,
    previous        TEXT
);
CREATE INDEX membership_purchases_member ON membership_purchases (member_id, created_at);

-- Every tier change: joined (from_tier NULL), raised, lowered, renewed, lapsed (to_tier
-- NULL), with the rule that made it and a sentence.
CREATE TABLE tier_changes (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    member_id       BIGINT NOT NULL,
    programme       TEXT NOT NULL,
    from_tier       TEXT,
    to_tier         TEXT,
    at              BIGINT NOT NULL,
    rule            TEXT NOT NULL,
    reason          TEXT NOT NULL,
    actor           TEXT NOT NULL,
    reference       TEXT
);
CREATE INDEX tier_changes_member ON tier_changes (member_id, at);

-- A member's card number, given on first joining a programme.
CREATE TABLE member_cards (
    member_id       BIGINT PRIMARY KEY,
    card_no         TEXT NOT NULL UNIQUE,
    issued_at       BIGINT NOT NULL
);
