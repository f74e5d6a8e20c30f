-- An alert the mail server refused for good (a 5xx answer) is 'failed': shown
-- on the key's row and in the audit trail, never retried. SQLite cannot change
-- a CHECK constraint in place, so the table is rebuilt.
CREATE TABLE key_alerts_new (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    threshold_days INTEGER NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    employee_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'cancelled', 'failed')),
    attempts INTEGER NOT NULL,
    last_error TEXT,
    next_attempt_at TIMESTAMP NOT NULL,
    claimed_by TEXT,
    claimed_until TIMESTAMP,
    sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (key_id, threshold_days, employee_id, expires_at)
);
INSERT INTO key_alerts_new SELECT * FROM key_alerts;
DROP TABLE key_alerts;
ALTER TABLE key_alerts_new RENAME TO key_alerts;
CREATE INDEX key_alerts_due ON key_alerts (status, next_attempt_at);
CREATE INDEX key_alerts_key ON key_alerts (key_id, created_at);
