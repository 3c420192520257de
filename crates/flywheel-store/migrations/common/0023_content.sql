-- The content library (issue 18): message templates per channel. `version` counts
-- saves, so a message records which text it was made from.
CREATE TABLE content (
    id              TEXT PRIMARY KEY,
    channel         TEXT NOT NULL,
    name            TEXT NOT NULL,
    subject         TEXT,
    body            TEXT NOT NULL,
    link            TEXT,
    version         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      TEXT NOT NULL
);
