-- The co-creation board (issue 22): each suggestion a member made (a feedback event of
-- kind suggestion, from any channel or the member card), its status on the board, the
-- member of staff who owns it, the note the member reads, a decline's reason, and what
-- adopting it gave.
CREATE TABLE ideas (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    text            TEXT NOT NULL,
    category        TEXT,
    via             TEXT NOT NULL,
    status          TEXT NOT NULL,
    owner_staff_id  TEXT,
    public_note     TEXT,
    reason          TEXT,
    reward_points   BIGINT NOT NULL,
    badge           TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      TEXT NOT NULL
);
CREATE INDEX ideas_status ON ideas (status, created_at);
CREATE INDEX ideas_member ON ideas (member_id);
