-- Admin API tokens (kwa_…): the management API's credentials, each an
-- admin's, with its scopes and a required expiry; stored as a keyed digest.
CREATE TABLE admin_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    public_id TEXT NOT NULL UNIQUE,
    secret_digest TEXT NOT NULL,
    -- Scope names separated by spaces (manage:keys:write …).
    scopes TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    last_used_ip TEXT,
    revoked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX admin_tokens_by_admin ON admin_tokens (admin_id, created_at);

-- The first answer to a POST sent with an Idempotency-Key, sealed (a created
-- key's token is in it), so a retry gets it again instead of a second change.
CREATE TABLE idempotency_keys (
    token_id TEXT NOT NULL REFERENCES admin_tokens (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    -- 0 while the first request runs.
    status INTEGER NOT NULL,
    response_sealed TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (token_id, idempotency_key)
);
CREATE INDEX idempotency_keys_by_time ON idempotency_keys (created_at);

-- The admin API token a change was made through, when it was.
ALTER TABLE audit_events ADD COLUMN via TEXT;
