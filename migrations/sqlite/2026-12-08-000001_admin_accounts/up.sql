-- Admin accounts: a disabled admin can no longer sign in; the TOTP secret is
-- sealed under the server key (`totp:<admin id>`); the last accepted TOTP
-- time step, so a code is accepted once only (RFC 6238 §5.2).
ALTER TABLE admins ADD COLUMN disabled_at TIMESTAMP;
ALTER TABLE admins ADD COLUMN totp_secret TEXT;
ALTER TABLE admins ADD COLUMN totp_enabled_at TIMESTAMP;
ALTER TABLE admins ADD COLUMN totp_last_step BIGINT;

-- The organization's rule: every admin signs in with a second factor.
ALTER TABLE organizations ADD COLUMN require_two_factor BOOLEAN NOT NULL DEFAULT FALSE;

-- A signed-in session's client and last activity, for the admin's list of
-- their own sessions.
ALTER TABLE sessions ADD COLUMN client_ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN last_seen_at TIMESTAMP;

-- One-time links for admins, stored as SHA-256 digests: an invitation (the
-- account is made when its link is used) or a password reset.
CREATE TABLE admin_links (
    id TEXT PRIMARY KEY NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    -- `invitation` or `reset`.
    purpose TEXT NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    email TEXT NOT NULL,
    -- The role an invitation gives.
    role TEXT NOT NULL,
    -- The admin a reset is for.
    admin_id TEXT REFERENCES admins (id) ON DELETE CASCADE,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX admin_links_by_email ON admin_links (organization_id, email);

-- Passkeys and security keys (WebAuthn): the credential's public key and
-- counter as the webauthn-rs `Passkey` JSON; nothing secret.
CREATE TABLE admin_passkeys (
    id TEXT PRIMARY KEY NOT NULL,
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    passkey TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX admin_passkeys_by_admin ON admin_passkeys (admin_id);

-- Single-use recovery codes, as keyed digests.
CREATE TABLE admin_recovery_codes (
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    code_digest TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    PRIMARY KEY (admin_id, code_digest)
);

-- WebAuthn ceremonies waiting for the browser's answer, kept on the server
-- and used once; the session holds only a handle (its SHA-256 is the id).
CREATE TABLE admin_challenges (
    id TEXT PRIMARY KEY NOT NULL,
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL
);

-- The addresses each admin has signed in from: a new one is announced by email.
CREATE TABLE admin_addresses (
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    ip TEXT NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    PRIMARY KEY (admin_id, ip)
);
