-- Sign-in credentials of an app's users: employees (the staff) and guests. One
-- row per user who was ever invited; the subject is 'employee:<id>' or
-- 'guest:<id>'. The password is an argon2id hash, set by the user through a
-- one-time link and never by an admin. A blocked guest cannot sign in; an
-- employee who left cannot either (employees.active).
CREATE TABLE user_credentials (
    subject TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    user_type TEXT NOT NULL,
    user_id TEXT NOT NULL,
    password_hash TEXT,
    password_set_at TIMESTAMP,
    blocked_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX user_credentials_org ON user_credentials (organization_id, user_type);

-- One-time links that let a user set a password: an invitation or a reset,
-- valid 24 hours, used once. Only the SHA-256 of the link's token is kept. A new
-- link for a user replaces the unused ones.
CREATE TABLE user_links (
    token_digest TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    subject TEXT NOT NULL REFERENCES user_credentials (subject),
    purpose TEXT NOT NULL,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX user_links_subject ON user_links (subject);
