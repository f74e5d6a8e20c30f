-- Expiry of API keys alert: whether it is on, the thresholds in days before
-- expiry (comma-separated), and the staff who receive it.
ALTER TABLE organizations ADD COLUMN alerts_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE organizations ADD COLUMN alert_thresholds TEXT NOT NULL DEFAULT '30,7,1';

CREATE TABLE alert_recipients (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    employee_id TEXT NOT NULL REFERENCES employees (id) ON DELETE CASCADE,
    PRIMARY KEY (organization_id, employee_id)
);

-- The alert ledger: one row per key, threshold, recipient and expiry (a new
-- expiry re-arms the alerts). A row is claimed before its email is sent and
-- marked sent after, so no alert is lost and none is sent twice. threshold_days
-- 0 is the notice that the key has expired.
CREATE TABLE key_alerts (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    threshold_days INTEGER NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    employee_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'cancelled')),
    attempts INTEGER NOT NULL,
    last_error TEXT,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_by TEXT,
    claimed_until TIMESTAMP,
    sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (key_id, threshold_days, employee_id, expires_at)
);
CREATE INDEX key_alerts_due ON key_alerts (status, next_attempt_at);
CREATE INDEX key_alerts_key ON key_alerts (key_id, created_at);
