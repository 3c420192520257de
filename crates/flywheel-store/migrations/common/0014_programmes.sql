-- Membership programmes (paid ladders, earned tiers, cards), versioned: each change a
-- person makes stores a new version of the whole definition, so what a member held and
-- why can always be read against the definition in force at the time.
CREATE TABLE programmes (
    id              TEXT NOT NULL,
    version         BIGINT NOT NULL,
    definition      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    PRIMARY KEY (id, version)
);
