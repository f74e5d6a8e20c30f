-- The hosted sign-in of an app's users (OpenID Connect): a user's session on
-- Keyward's own pages, shared by the organization's apps. Its cookie carries
-- "<id>.<secret>"; the row keeps the secret's SHA-256 only. The id is the ID
-- token's sid. A session ends at sign-out, after its lifetime, or when the
-- user may no longer sign in.
CREATE TABLE hosted_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    subject TEXT NOT NULL REFERENCES user_credentials (subject),
    secret_digest TEXT NOT NULL,
    auth_time TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    client_ip TEXT,
    user_agent TEXT
);
CREATE INDEX hosted_sessions_subject ON hosted_sessions (subject);

-- Authorization codes (RFC 6749 §4.1.2): the SHA-256 of the code, bound to
-- the app, the redirect URI, the PKCE challenge (RFC 7636) and the nonce;
-- single use (used_at), and the sign-in it produced (family_id), revoked if
-- the code is presented again.
CREATE TABLE authorization_codes (
    digest TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    app_id TEXT NOT NULL REFERENCES apps (id),
    subject TEXT NOT NULL REFERENCES user_credentials (subject),
    session_id TEXT NOT NULL REFERENCES hosted_sessions (id),
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    auth_time TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    family_id TEXT
);
CREATE INDEX authorization_codes_expires ON authorization_codes (expires_at);

-- The hosted session a sign-in came through, so signing out can end it.
ALTER TABLE token_families ADD COLUMN hosted_session_id TEXT;
