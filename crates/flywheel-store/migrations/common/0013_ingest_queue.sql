-- The event log's unapplied tail. An event is acknowledged once its row in `events`
-- (the normalised event, its member, the clock it was applied at) and its row here
-- commit together; the rows it derives (members, identities, orders, the ledger…) are
-- written later, in a flush that deletes its queue rows in the same transaction. On
-- start the queue is replayed in `seq` order (`engine.rs`). `members_before` is the
-- member id counter before the event's group reserved ids, so a replay hands out the
-- same ids again.
CREATE TABLE ingest_queue (
    seq             BIGINT PRIMARY KEY,
    event_id        TEXT NOT NULL,
    members_before  BIGINT NOT NULL
);
-- Until this instant the process writing behind writes through (flushes every group):
-- another process asked, so that it can write without reading rows still in memory.
ALTER TABLE write_generation ADD COLUMN write_through_until BIGINT NOT NULL DEFAULT 0;
