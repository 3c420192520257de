-- The tracking protocol's dead letters (issue 21): each call that could not become an
-- event, with why and the call as it came, so none is dropped silently. Ids only grow,
-- so they page as a cursor. A call sent again (a library's retry) is kept once, by its
-- messageId.
CREATE TABLE tracking_rejected (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at         BIGINT NOT NULL,
    call_type           TEXT,
    message_id          TEXT,
    code                TEXT NOT NULL,
    field               TEXT,
    reason              TEXT NOT NULL,
    call                TEXT NOT NULL,
    key_id              BIGINT
);
CREATE INDEX tracking_rejected_message ON tracking_rejected (message_id);
