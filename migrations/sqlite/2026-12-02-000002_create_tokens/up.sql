-- Token lifetimes, per organization (Settings): access tokens in minutes;
-- refresh tokens end refresh_days after sign-in, or refresh_idle_days after
-- their last use; a retired refresh token presented again within
-- refresh_grace_seconds of its rotation gets the same new pair (a client's own
-- retry), after that it revokes its whole family (RFC 9700 §4.14.2).
ALTER TABLE organizations ADD COLUMN access_token_minutes INTEGER NOT NULL DEFAULT 15;
ALTER TABLE organizations ADD COLUMN refresh_token_days INTEGER NOT NULL DEFAULT 30;
ALTER TABLE organizations ADD COLUMN refresh_idle_days INTEGER NOT NULL DEFAULT 7;
ALTER TABLE organizations ADD COLUMN refresh_grace_seconds INTEGER NOT NULL DEFAULT 10;

-- Keys that sign access tokens (Ed25519). The private key is sealed under the
-- server's secret key; the public one is published in the JWKS. One key per
-- organization signs (retired_at NULL); a retired one stays published until
-- the last token it signed has expired (published_until).
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    algorithm TEXT NOT NULL,
    public_key TEXT NOT NULL,
    private_key_sealed TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP,
    published_until TIMESTAMP
);
CREATE INDEX signing_keys_org ON signing_keys (organization_id);

-- One sign-in of a user through an app: the refresh tokens it rotated through
-- and the access tokens they gave (each access token names its family as sid).
-- Revoking the family ends them all.
CREATE TABLE token_families (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    app_id TEXT NOT NULL REFERENCES apps (id),
    subject TEXT NOT NULL REFERENCES user_credentials (subject),
    scope TEXT NOT NULL,
    client_ip TEXT,
    user_agent TEXT,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_reason TEXT
);
CREATE INDEX token_families_subject ON token_families (subject);
CREATE INDEX token_families_app ON token_families (app_id);

-- Refresh tokens: the keyed digest of the secret, never the token. A rotated
-- one keeps the pair it was exchanged for, sealed, during the grace only.
CREATE TABLE refresh_tokens (
    public_id TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL REFERENCES token_families (id),
    digest TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    idle_expires_at TIMESTAMP NOT NULL,
    rotated_at TIMESTAMP,
    successor_sealed TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

-- Access tokens revoked one by one (RFC 7009), kept until they expire.
CREATE TABLE revoked_access_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    expires_at TIMESTAMP NOT NULL
);
