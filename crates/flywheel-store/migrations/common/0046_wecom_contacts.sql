-- WeCom (企业微信) links between a shop assistant and a customer (issue 22): when the
-- assistant added them, the State of the contact way used, and when and by whom the
-- link ended. One row per assistant and customer; a customer added again after an end
-- has the link open again.
CREATE TABLE wecom_contacts (
    staff_id        TEXT NOT NULL,
    external_id     TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    added_at        BIGINT NOT NULL,
    state           TEXT,
    ended_at        BIGINT,
    ended_by        TEXT,
    PRIMARY KEY (staff_id, external_id)
);
CREATE INDEX wecom_contacts_member ON wecom_contacts (member_id);
