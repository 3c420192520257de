-- A pending lot with nothing left (its order was refunded before the return window
-- passed, or its member's points were forfeited) has nothing to mature. The points sweep
-- used to count it as due, load its member's wallet (which leaves empty lots out) and
-- find it due again the next time, for ever. Only lots with points left are due now,
-- and the index that finds them holds only those.
DROP INDEX points_lots_due;
CREATE INDEX points_lots_due ON points_lots (available_at) WHERE pending = 1 AND remaining > 0;
