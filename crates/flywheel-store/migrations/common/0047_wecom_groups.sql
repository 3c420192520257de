-- WeCom (企业微信) customer groups (issue 22): each group chat the callback has seen,
-- the name staff gave it in Flywheel (the push carries none), when it was created and
-- dismissed; and each customer's membership, with the latest join and leave so that
-- pushes arriving out of order still agree (as the member's facts do, `link.rs`).
CREATE TABLE wecom_groups (
    chat_id         TEXT PRIMARY KEY,
    name            TEXT,
    created_at      BIGINT NOT NULL,
    dismissed_at    BIGINT
);
CREATE TABLE wecom_group_members (
    chat_id         TEXT NOT NULL,
    external_id     TEXT NOT NULL,
    member_id       BIGINT NOT NULL,
    joined_at       BIGINT NOT NULL,
    left_at         BIGINT,
    PRIMARY KEY (chat_id, external_id)
);
CREATE INDEX wecom_group_members_member ON wecom_group_members (member_id);
