-- Consent per member per channel (issue 18): the latest word, with where it came from
-- (`call_center`, `app`, an event's channel…) and who recorded it. Every change is
-- also in the audit log. A merge keeps a withdrawal over a grant.
CREATE TABLE member_consents (
    member_id       BIGINT NOT NULL,
    channel         TEXT NOT NULL,
    granted         BIGINT NOT NULL,
    source          TEXT NOT NULL,
    at              BIGINT NOT NULL,
    set_by          TEXT NOT NULL,
    PRIMARY KEY (member_id, channel)
);
