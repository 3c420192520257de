-- The audit log names who changed what by key id and name, says what kind of thing
-- changed, and keeps the value before and after (JSON; null when there was none).
ALTER TABLE audit_log ADD COLUMN actor_key_id BIGINT;
ALTER TABLE audit_log ADD COLUMN actor_name TEXT;
ALTER TABLE audit_log ADD COLUMN kind TEXT;
ALTER TABLE audit_log ADD COLUMN reason TEXT;
ALTER TABLE audit_log ADD COLUMN before_value TEXT;
ALTER TABLE audit_log ADD COLUMN after_value TEXT;

-- Records written before this migration, in the new terms.
UPDATE audit_log SET kind = CASE action
        WHEN 'merge_members' THEN 'member_merge'
        WHEN 'dismiss_conflict' THEN 'identity_conflict'
        WHEN 'adjust_points' THEN 'points_adjustment'
        WHEN 'put_points_rules' THEN 'points_rules'
        ELSE action END,
    action = CASE action
        WHEN 'merge_members' THEN 'merge'
        WHEN 'dismiss_conflict' THEN 'dismiss'
        WHEN 'adjust_points' THEN 'create'
        WHEN 'put_points_rules' THEN 'create'
        ELSE action END,
    actor_name = actor,
    after_value = details
WHERE kind IS NULL;

CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_kind ON audit_log (kind, at);
