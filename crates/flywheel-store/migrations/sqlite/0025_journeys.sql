-- Journeys and the outbox (issue 18).
--
-- A journey keeps every version it was saved as; a member's run keeps the version it
-- entered with, so a change never moves somebody mid-way onto other steps.
CREATE TABLE journeys (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    status          TEXT NOT NULL,
    version         BIGINT NOT NULL,
    definition      TEXT NOT NULL,
    active_since    BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      TEXT NOT NULL
);
CREATE TABLE journey_versions (
    journey_id      TEXT NOT NULL,
    version         BIGINT NOT NULL,
    definition      TEXT NOT NULL,
    saved_at        BIGINT NOT NULL,
    saved_by        TEXT NOT NULL,
    PRIMARY KEY (journey_id, version)
);
-- One row per trigger that reached a member: written with what caused it (in ingest's
-- plans, so it commits with the event), unique per cause, so a retried event or a
-- replayed log never starts a journey twice. The runner admits it (re-entry policy),
-- walks its steps and parks it at the next wait.
CREATE TABLE journey_runs (
    id              INTEGER PRIMARY KEY,
    journey_id      TEXT NOT NULL,
    version         BIGINT NOT NULL,
    member_id       BIGINT NOT NULL,
    cause           TEXT NOT NULL,
    triggered_at    BIGINT NOT NULL,
    status          TEXT NOT NULL,
    pc              BIGINT NOT NULL,
    entered_at      BIGINT,
    next_at         BIGINT NOT NULL,
    lease_until     BIGINT,
    reason          TEXT,
    updated_at      BIGINT NOT NULL,
    UNIQUE (journey_id, member_id, cause)
);
CREATE INDEX journey_runs_due ON journey_runs (status, next_at);
CREATE INDEX journey_runs_member ON journey_runs (member_id, journey_id);
-- Every message, written in the transaction that decided it: queued (at send_at),
-- sending (claimed by a sender until lease_until), delivered, failed, or suppressed
-- with the reason. A journey step makes at most one (unique run and step).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    run_id          BIGINT,
    step            BIGINT,
    journey_id      TEXT,
    campaign_id     TEXT,
    member_id       BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    channel         TEXT NOT NULL,
    content_id      TEXT,
    content_version BIGINT,
    subject         TEXT,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL,
    reason          TEXT,
    created_at      BIGINT NOT NULL,
    send_at         BIGINT NOT NULL,
    attempts        BIGINT NOT NULL,
    lease_until     BIGINT,
    done_at         BIGINT,
    answer          TEXT,
    -- The message's tracked links (`/l/<token>`, `/o/<token>`) and what they lead to;
    -- the first open and click they saw.
    token           TEXT NOT NULL,
    link            TEXT,
    opened_at       BIGINT,
    clicked_at      BIGINT,
    UNIQUE (run_id, step)
);
CREATE UNIQUE INDEX outbox_token ON outbox (token);
CREATE INDEX outbox_due ON outbox (status, send_at);
CREATE INDEX outbox_member ON outbox (member_id, send_at);
CREATE TABLE outbox_attempts (
    message_id      BIGINT NOT NULL,
    attempt         BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    ok              BIGINT NOT NULL,
    answer          TEXT NOT NULL,
    PRIMARY KEY (message_id, attempt)
);
-- The global suppression list: nothing goes to a member on a channel ('*': any).
CREATE TABLE suppressions (
    member_id       BIGINT NOT NULL,
    channel         TEXT NOT NULL,
    reason          TEXT NOT NULL,
    at              BIGINT NOT NULL,
    set_by          TEXT NOT NULL,
    PRIMARY KEY (member_id, channel)
);
