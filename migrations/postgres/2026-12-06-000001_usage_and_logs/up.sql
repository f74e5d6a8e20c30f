-- How every key and app is used: request counts by minute, hour and day and
-- by outcome, added up from every instance's batches; and the request log (the
-- refused requests and a sample of the allowed ones).

-- Requests of one key (key_id '' for an app's access tokens; app_id and
-- key_id '*' for the whole organization's) in one bucket (period_seconds 60,
-- 3600 or 86400, bucket its first second since the Unix epoch) with one
-- outcome: 'allowed', '401', '402', '403', '429' or '5xx'.
CREATE TABLE usage_counts (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    app_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    period_seconds INTEGER NOT NULL CHECK (period_seconds IN (60, 3600, 86400)),
    bucket BIGINT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('allowed', '401', '402', '403', '429', '5xx')),
    count BIGINT NOT NULL,
    -- In time order within an organization: the Usage page's totals read a
    -- range of it.
    PRIMARY KEY (organization_id, period_seconds, bucket, app_id, key_id, outcome)
);
-- A key's chart and an app's read their own ranges, counts included.
CREATE INDEX usage_counts_by_key ON usage_counts (key_id, period_seconds, bucket, outcome, count);
CREATE INDEX usage_counts_by_app ON usage_counts (app_id, period_seconds, bucket, outcome, count);

-- One API request of a known key or token: never its query string, a header
-- value or a secret.
CREATE TABLE request_logs (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    at TIMESTAMP NOT NULL,
    app_id TEXT NOT NULL,
    key_id TEXT,
    credential TEXT NOT NULL CHECK (credential IN ('api_key', 'access_token')),
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('allowed', '401', '402', '403', '429', '5xx')),
    error_code TEXT,
    client TEXT,
    latency_us BIGINT NOT NULL,
    request_id TEXT NOT NULL
);
CREATE INDEX request_logs_by_time ON request_logs (organization_id, at, id);
CREATE INDEX request_logs_by_key ON request_logs (key_id, at);
CREATE INDEX request_logs_by_app ON request_logs (app_id, at);

-- Retention of the usage buckets and of the log, and the log's sample of
-- allowed requests (in basis points: 100 is 1 %).
ALTER TABLE organizations ADD COLUMN usage_minutes_hours INTEGER NOT NULL DEFAULT 48;
ALTER TABLE organizations ADD COLUMN usage_hours_days INTEGER NOT NULL DEFAULT 90;
ALTER TABLE organizations ADD COLUMN usage_days_days INTEGER NOT NULL DEFAULT 730;
ALTER TABLE organizations ADD COLUMN log_sample_basis_points INTEGER NOT NULL DEFAULT 100;
ALTER TABLE organizations ADD COLUMN log_retention_days INTEGER NOT NULL DEFAULT 30;
ALTER TABLE organizations ADD COLUMN log_max_rows BIGINT NOT NULL DEFAULT 1000000;
