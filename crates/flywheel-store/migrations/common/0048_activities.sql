-- Activities (issue 22): classes, salons, meetups, volunteer shifts and online
-- challenges, with their RSVPs (a seat confirmed, or waiting in line), check-ins and
-- the days a challenge was checked in on.
CREATE TABLE activities (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    starts_at       BIGINT NOT NULL,
    ends_at         BIGINT NOT NULL,
    status          TEXT NOT NULL,
    definition      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      TEXT NOT NULL
);
CREATE INDEX activities_starts ON activities (starts_at);
-- One row per activity and member. status: confirmed | waitlisted | cancelled; who came
-- has attended_at, with their stage then (for the 30-day stage movement); a challenge's
-- completer has completed_at. fee_key is the ledger key of points paid for the seat.
CREATE TABLE activity_rsvps (
    activity_id     TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    status          TEXT NOT NULL,
    via             TEXT NOT NULL,
    rsvp_at         BIGINT NOT NULL,
    fee_key         TEXT,
    attended_at     BIGINT,
    stage_then      TEXT,
    completed_at    BIGINT,
    PRIMARY KEY (activity_id, member_id)
);
CREATE INDEX activity_rsvps_member ON activity_rsvps (member_id);
CREATE TABLE activity_days (
    activity_id     TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    day             BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    PRIMARY KEY (activity_id, member_id, day)
);
