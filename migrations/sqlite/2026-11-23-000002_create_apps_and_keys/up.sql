-- Applications, from the wizard's first step (status 'draft') to active or inactive.
-- The id is the public Application ID.
CREATE TABLE apps (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    uri TEXT NOT NULL,
    description TEXT NOT NULL,
    login_user_type TEXT NOT NULL CHECK (login_user_type IN ('guest', 'employee')),
    source_app TEXT NOT NULL CHECK (source_app IN ('external_cma', 'external_webstore', 'client_app', 'bot')),
    post_login_redirect_urls TEXT NOT NULL,
    post_logout_redirect_urls TEXT NOT NULL,
    apikey_scopes TEXT NOT NULL,
    jwt_scopes TEXT NOT NULL,
    secret_hash TEXT,
    secret_generated_at TIMESTAMP,
    status TEXT NOT NULL CHECK (status IN ('draft', 'active', 'inactive')),
    wizard_step TEXT NOT NULL CHECK (wizard_step IN ('scopes', 'secrets', 'key', 'finish', 'done')),
    creation_nonce TEXT UNIQUE,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (organization_id, name_key)
);
CREATE INDEX apps_org_name ON apps (organization_id, name_key, id);

-- API keys. Only a keyed digest of the secret is stored; public_id finds the row.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    app_id TEXT NOT NULL REFERENCES apps (id),
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    public_id TEXT NOT NULL UNIQUE,
    secret_digest TEXT NOT NULL,
    last_four TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    permissions TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    expires_at TIMESTAMP,
    last_used_at TIMESTAMP,
    creation_nonce TEXT UNIQUE,
    created_by TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX api_keys_app ON api_keys (app_id, created_at);
CREATE INDEX api_keys_expires_at ON api_keys (expires_at);

-- The Audit page filters by action, actor and app, newest first.
CREATE INDEX audit_events_org_action ON audit_events (organization_id, action, occurred_at, id);
CREATE INDEX audit_events_org_actor ON audit_events (organization_id, actor_label, occurred_at, id);
CREATE INDEX audit_events_org_app ON audit_events (organization_id, app_id, occurred_at, id);
