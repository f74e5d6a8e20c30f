-- Timestamps are UTC, stored as TIMESTAMP without time zone; ids are made in Rust.
CREATE TABLE organizations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL DEFAULT 'UTC',
    external_connectivity BOOLEAN NOT NULL DEFAULT TRUE,
    key_default_lifetime_days INTEGER,
    key_max_lifetime_days INTEGER,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE admins (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('full', 'limited')),
    password_changed_at TIMESTAMP NOT NULL,
    last_sign_in_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

-- Server-side sessions: the id is a SHA-256 of the cookie's key, so a copy of
-- this table cannot be replayed as cookies.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY NOT NULL,
    admin_id TEXT REFERENCES admins (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_admin_id ON sessions (admin_id);

-- One-time links that create the first admin; only their SHA-256 is kept.
CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- Append-only. actor_id and app_id are not foreign keys: records outlive what they name.
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    actor_id TEXT,
    actor_label TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT,
    target_id TEXT,
    target_label TEXT,
    app_id TEXT,
    ip TEXT,
    user_agent TEXT,
    changes TEXT NOT NULL
);
CREATE INDEX audit_events_org_time ON audit_events (organization_id, occurred_at, id);
CREATE INDEX audit_events_action_target ON audit_events (action, target_label, occurred_at);
CREATE INDEX audit_events_action_ip ON audit_events (action, ip, occurred_at);

-- The organization this installation serves. Created here, under the migration
-- lock, so instances starting together cannot create two.
INSERT INTO organizations (id, name, time_zone, external_connectivity, created_at, updated_at)
VALUES ('00000000-0000-7000-8000-000000000001', 'My organization', 'UTC', TRUE,
        now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC');
