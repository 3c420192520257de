-- Every entry and exit of a segment, with what caused it (`event:<id>`, `clock`,
-- `tag:<tag>`, `fill`…): the feed journeys trigger on. `seq` orders changes made at
-- the same instant.
CREATE TABLE segment_changes (
    seq             INTEGER PRIMARY KEY,
    segment_id      TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    entered         BIGINT NOT NULL,
    cause           TEXT NOT NULL,
    version         BIGINT NOT NULL
);
CREATE INDEX segment_changes_segment ON segment_changes (segment_id, at, seq);
CREATE INDEX segment_changes_member ON segment_changes (member_id, at, seq);
