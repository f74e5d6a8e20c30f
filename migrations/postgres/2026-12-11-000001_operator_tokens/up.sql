-- Operators' API tokens, for the operator API (/api/v1/operator/…): shown
-- once, kept as a keyed digest of the secret, read-only or read-write.
CREATE TABLE operator_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    operator_id TEXT NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    public_id TEXT NOT NULL UNIQUE,
    secret_digest TEXT NOT NULL,
    can_write BOOLEAN NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    last_used_ip TEXT,
    revoked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX operator_tokens_operator_id ON operator_tokens (operator_id);
