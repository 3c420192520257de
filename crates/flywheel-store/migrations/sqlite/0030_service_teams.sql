-- Service teams (issue 19): templates of roles around a member (sales 1, service 2…),
-- started by an event (a deposit); each team formed from the staff roster by city and
-- load, with its members, notes, and when it closes (a delivery + 30 days).
CREATE TABLE service_team_templates (
    id              TEXT PRIMARY KEY,
    definition      TEXT NOT NULL,
    trigger_event   TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      TEXT NOT NULL
);

CREATE TABLE service_teams (
    id              INTEGER PRIMARY KEY,
    template_id     TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    cause           TEXT NOT NULL,
    status          TEXT NOT NULL,
    triggered_at    BIGINT NOT NULL,
    opened_at       BIGINT,
    closes_at       BIGINT,
    closed_at       BIGINT,
    missing         TEXT,
    UNIQUE (template_id, member_id, cause)
);
CREATE INDEX service_teams_member ON service_teams (member_id, status);
CREATE INDEX service_teams_due ON service_teams (status, closes_at);

CREATE TABLE service_team_staff (
    team_id         BIGINT NOT NULL,
    staff_id        TEXT NOT NULL,
    role            TEXT NOT NULL,
    PRIMARY KEY (team_id, staff_id, role)
);
CREATE INDEX service_team_staff_staff ON service_team_staff (staff_id);

CREATE TABLE service_team_notes (
    id              INTEGER PRIMARY KEY,
    team_id         BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    author          TEXT NOT NULL,
    note            TEXT NOT NULL,
    request_key     TEXT,
    UNIQUE (team_id, request_key)
);
