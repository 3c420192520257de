-- Service (issue 19): queues that own categories of feedback with their targets and
-- working hours; tickets opened from feedback events (one per event, whatever the
-- retries: `source` is unique), by staff, or by a journey; each ticket's timeline of
-- notes; and the staff roster tickets are assigned to.
CREATE TABLE service_queues (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    categories      TEXT NOT NULL,
    team            TEXT,
    respond_minutes BIGINT NOT NULL,
    resolve_minutes BIGINT NOT NULL,
    working_days    TEXT NOT NULL,
    work_from       TEXT NOT NULL,
    work_to         TEXT NOT NULL,
    time_zone       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      TEXT NOT NULL
);

CREATE TABLE tickets (
    id                      INTEGER PRIMARY KEY,
    source                  TEXT NOT NULL UNIQUE,
    member_id               BIGINT NOT NULL,
    kind                    TEXT NOT NULL,
    category                TEXT,
    queue_id                TEXT,
    text                    TEXT,
    channel                 TEXT,
    complaint_event_id      TEXT,
    status                  TEXT NOT NULL,
    opened_at               BIGINT NOT NULL,
    respond_by              BIGINT,
    resolve_by              BIGINT,
    responded_at            BIGINT,
    resolved_at             BIGINT,
    response_minutes        BIGINT,
    resolution_minutes      BIGINT,
    response_breached_at    BIGINT,
    resolution_breached_at  BIGINT,
    assignee                TEXT,
    reopened                BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);
CREATE INDEX tickets_member ON tickets (member_id);
CREATE INDEX tickets_queue ON tickets (queue_id, status);
CREATE INDEX tickets_respond_due ON tickets (status, respond_by);

CREATE TABLE ticket_notes (
    id              INTEGER PRIMARY KEY,
    ticket_id       BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    author          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    note            TEXT,
    request_key     TEXT,
    UNIQUE (ticket_id, request_key)
);
CREATE INDEX ticket_notes_ticket ON ticket_notes (ticket_id, at);

CREATE TABLE staff (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    roles           TEXT NOT NULL,
    city            TEXT,
    store           TEXT,
    active          BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
