-- The cockpit's sign-in sessions: the SHA-256 of the cookie's token (the token itself is
-- never stored), the SHA-256 of the API key it was opened with (so a revoked key ends
-- its sessions), the CSRF token its forms carry, and when it ends.
CREATE TABLE cockpit_sessions (
    token_hash TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX cockpit_sessions_expiry ON cockpit_sessions (expires_at);

-- Secrets the server makes for itself on first start and keeps across restarts and
-- between instances sharing a database: the key that signs members' card links.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Stage flows by month read the transitions of the last months, not all of them.
CREATE INDEX stage_transitions_at ON stage_transitions (at);
