-- Tags and segments (issue 16).

-- Dimensions of tags designed in advance: `diet` allows one value or many, and may list
-- the values it allows (JSON array; empty allows any).
CREATE TABLE tag_dimensions (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    multiple        BIGINT NOT NULL,
    allowed         TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

-- A member's tags, each with who or what set it: `source` is staff (an API key), import
-- (a file) or segment (a saved segment's rule tag); `set_by` names which.
CREATE TABLE member_tags (
    member_id       BIGINT NOT NULL,
    tag             TEXT NOT NULL,
    source          TEXT NOT NULL,
    set_by          TEXT NOT NULL,
    note            TEXT,
    set_at          BIGINT NOT NULL,
    PRIMARY KEY (member_id, tag)
);
CREATE INDEX member_tags_tag ON member_tags (tag, member_id);

-- Saved segments. `fill_after` is the member id a background pass has evaluated up to
-- (NULL when no pass runs); a new or edited segment is `filling` until its first pass
-- ends. `changed_at` is when its membership last changed.
CREATE TABLE segments (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    expression      TEXT NOT NULL,
    tag             TEXT,
    builtin         BIGINT NOT NULL,
    version         BIGINT NOT NULL,
    status          TEXT NOT NULL,
    fill_after      BIGINT,
    fill_reason     TEXT,
    defined_at      BIGINT NOT NULL,
    defined_by      TEXT NOT NULL,
    changed_at      BIGINT NOT NULL
);

-- Who is in each segment now, and since when.
CREATE TABLE segment_members (
    segment_id      TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    entered_at      BIGINT NOT NULL,
    PRIMARY KEY (segment_id, member_id)
);
CREATE INDEX segment_members_member ON segment_members (member_id);
CREATE INDEX segment_members_entered ON segment_members (segment_id, entered_at, member_id);

-- Every entry and exit is in `segment_changes`, whose key differs by database
-- (migration 19).

-- When each member's segments could next change with the clock alone (a purchase
-- leaving a window, a birthday coming up): the segment sweep reads only those due.
CREATE TABLE segment_reviews (
    member_id       BIGINT PRIMARY KEY,
    due_at          BIGINT NOT NULL
);
CREATE INDEX segment_reviews_due ON segment_reviews (due_at, member_id);
