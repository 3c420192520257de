-- A fingerprint of each event's normalised content, so a resent event is told from an
-- event_id reused for something else (answered 409 event_id_reused). Events stored
-- before this migration have none and are taken as resends.
ALTER TABLE events ADD COLUMN digest TEXT;
