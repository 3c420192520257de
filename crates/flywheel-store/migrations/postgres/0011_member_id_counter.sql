-- Member ids from a counter row, as on SQLite, instead of a sequence. A sequence hands
-- out ids outside transactions: a batch rolled back, or cut short by a crash, leaves
-- its ids unused for ever, so the same events got other ids after a crash than without
-- one, and other ids again when cut into other batches. The counter row is part of the
-- batch's transaction: a batch that does not commit gives its ids back, and one that
-- commits gives back the ones it reserved and did not use. The price: batches that
-- create members take turns from the moment they reserve ids to their commit.
CREATE TABLE id_counters (
    name            TEXT PRIMARY KEY,
    next_value      BIGINT NOT NULL
);
INSERT INTO id_counters (name, next_value)
SELECT 'members', GREATEST(
    (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM member_ids),
    (SELECT COALESCE(MAX(id), 0) + 1 FROM members));
DROP SEQUENCE member_ids;
