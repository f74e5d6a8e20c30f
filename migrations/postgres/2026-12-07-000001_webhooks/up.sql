-- Webhooks: the endpoints an organization's admins register, the events
-- written in the same transaction as the change they announce (the outbox),
-- and one delivery per endpoint and event, claimed before it is sent.

CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    url TEXT NOT NULL,
    description TEXT NOT NULL,
    -- The event types it wants, separated by spaces.
    events TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    -- The signing secret (whsec_…), sealed under the server's key.
    secret_sealed TEXT NOT NULL,
    -- After a roll, the previous secret keeps signing until then.
    previous_secret_sealed TEXT,
    previous_secret_until TIMESTAMP,
    -- The first failed attempt since the last success.
    failing_since TIMESTAMP,
    -- Why the server switched it off, when it did.
    disabled_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_endpoints_by_org ON webhook_endpoints (organization_id, created_at);

-- One event, its body exactly as every attempt sends it. `dedupe` names an
-- event the jobs find (a key reaching an alert threshold) so it is written once.
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    dedupe TEXT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (organization_id, dedupe)
);
CREATE INDEX webhook_events_by_time ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'succeeded', 'failed')),
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_by TEXT,
    claimed_until TIMESTAMP,
    last_attempt_at TIMESTAMP,
    last_status INTEGER,
    last_latency_ms INTEGER,
    last_error TEXT,
    delivered_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at);
