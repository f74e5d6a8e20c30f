-- Keys that can be rolled, restricted to addresses and rate limited.
-- A rolled key points to its successor (rolled_to_id); its grace ends at its
-- expires_at, which the roll moved (expiry_before_roll keeps the old one), or,
-- with grace_on_first_use, when the successor is first used plus grace_seconds.
ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN rate_per_second INTEGER;
ALTER TABLE api_keys ADD COLUMN rate_per_minute INTEGER;
ALTER TABLE api_keys ADD COLUMN rolled_from_id TEXT;
ALTER TABLE api_keys ADD COLUMN rolled_to_id TEXT;
ALTER TABLE api_keys ADD COLUMN rolled_at TIMESTAMP;
ALTER TABLE api_keys ADD COLUMN rolled_by TEXT;
ALTER TABLE api_keys ADD COLUMN expiry_before_roll TIMESTAMP;
ALTER TABLE api_keys ADD COLUMN grace_seconds BIGINT;
ALTER TABLE api_keys ADD COLUMN grace_on_first_use BOOLEAN NOT NULL DEFAULT FALSE;

-- The key policy's default rate limits, and how long retired keys stay listed.
ALTER TABLE organizations ADD COLUMN key_default_rate_per_second INTEGER;
ALTER TABLE organizations ADD COLUMN key_default_rate_per_minute INTEGER;
ALTER TABLE organizations ADD COLUMN retired_keys_days INTEGER NOT NULL DEFAULT 90;

-- The last distinct client addresses of each key (the five latest are kept),
-- written in batches with last_used_at.
CREATE TABLE key_addresses (
    key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    PRIMARY KEY (key_id, address)
);

-- What each instance admitted of a rate-limited key in a window, shared so the
-- instances see each other's counts at every poll.
CREATE TABLE rate_counts (
    key_id TEXT NOT NULL,
    window_seconds INTEGER NOT NULL,
    window_start BIGINT NOT NULL,
    instance TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (key_id, window_seconds, window_start, instance)
);
CREATE INDEX rate_counts_window ON rate_counts (window_start);

-- Deleted keys, without their secret's digest: the app page's inventory of
-- retired keys, kept for the organization's retired_keys_days.
CREATE TABLE retired_keys (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    app_id TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    masked TEXT NOT NULL,
    permissions TEXT NOT NULL,
    allowed_ips TEXT NOT NULL,
    rate_per_second INTEGER,
    rate_per_minute INTEGER,
    created_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('expired', 'rolled', 'deleted', 'replaced')),
    ended_by TEXT,
    rolled_to_id TEXT,
    deleted_at TIMESTAMP NOT NULL
);
CREATE INDEX retired_keys_app ON retired_keys (app_id, ended_at);
CREATE INDEX retired_keys_org_deleted ON retired_keys (organization_id, deleted_at);
