-- Badges (issue 20, 比): a segment may award a badge to whoever enters it — in real
-- time at ingest, and to members already in it by its fill pass. Unlike a rule tag, a
-- badge stays when the member leaves the segment.
ALTER TABLE segments ADD COLUMN badge TEXT;

CREATE TABLE member_badges (
    member_id           BIGINT NOT NULL,
    segment_id          TEXT NOT NULL,
    badge               TEXT NOT NULL,
    awarded_at          BIGINT NOT NULL,
    PRIMARY KEY (member_id, segment_id)
);

-- Leaderboards (their definitions; standings are computed when read) and the awards
-- proposed from them for staff to confirm or decline.
CREATE TABLE leaderboards (
    id                  TEXT PRIMARY KEY,
    definition          TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    updated_by          TEXT NOT NULL
);

CREATE TABLE awards (
    id                  TEXT PRIMARY KEY,
    leaderboard_id      TEXT NOT NULL,
    title               TEXT NOT NULL,
    member_id           BIGINT NOT NULL,
    rank                BIGINT NOT NULL,
    score               DOUBLE PRECISION NOT NULL,
    status              TEXT NOT NULL,
    proposed_at         BIGINT NOT NULL,
    decided_at          BIGINT,
    decided_by          TEXT,
    note                TEXT
);
CREATE UNIQUE INDEX awards_once ON awards (leaderboard_id, title, member_id);
CREATE INDEX awards_member ON awards (member_id, status);
