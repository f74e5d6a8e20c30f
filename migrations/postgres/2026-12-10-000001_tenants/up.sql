-- Organizations as tenants of one server, and the operator who runs it.
--
-- Each organization has a slug (its issuer is `<public URL>/o/<slug>`), may be
-- suspended, and has the subscription's limits, set by the operator. The
-- organizations that exist already keep the root issuer, so the apps and
-- tokens made before this change keep working unchanged.
ALTER TABLE organizations ADD COLUMN slug TEXT NOT NULL DEFAULT '';
UPDATE organizations SET slug = 'org-' || lower(replace(id, '-', ''));
UPDATE organizations SET slug = 'main'
    WHERE id = (SELECT id FROM organizations ORDER BY created_at, id LIMIT 1);
CREATE UNIQUE INDEX organizations_slug ON organizations (slug);
ALTER TABLE organizations ADD COLUMN root_issuer BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE organizations SET root_issuer = TRUE;
ALTER TABLE organizations ADD COLUMN suspended_at TIMESTAMP;
-- NULL: no limit.
ALTER TABLE organizations ADD COLUMN max_apps INTEGER;
ALTER TABLE organizations ADD COLUMN max_keys_per_app INTEGER NOT NULL DEFAULT 20;
-- The most requests per second any key of the organization may be allowed;
-- NULL: no ceiling.
ALTER TABLE organizations ADD COLUMN max_rate_per_second INTEGER;

-- The people who run the server: they create organizations and set what
-- each subscription includes. They are not admins of any organization.
CREATE TABLE operators (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    password_changed_at TIMESTAMP NOT NULL,
    last_sign_in_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);

-- A signed-in session is an admin's or an operator's.
ALTER TABLE sessions ADD COLUMN operator_id TEXT REFERENCES operators (id) ON DELETE CASCADE;
CREATE INDEX sessions_operator_id ON sessions (operator_id);

-- The operators' own trail: every operator action, with the organization it
-- concerned (the organization's trail gets the same record).
CREATE TABLE operator_events (
    id TEXT PRIMARY KEY NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    operator_id TEXT,
    actor_label TEXT NOT NULL,
    action TEXT NOT NULL,
    organization_id TEXT,
    organization_label TEXT,
    ip TEXT,
    user_agent TEXT,
    changes TEXT NOT NULL,
    via TEXT
);
CREATE INDEX operator_events_occurred_at ON operator_events (occurred_at);
