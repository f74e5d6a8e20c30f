-- Sign-in throttling, one row per subject: an account ('account:<email>') or a
-- client address ('ip:<address>'). An attempt is reserved here, counted as a
-- failure, before its password is checked, so concurrent guesses cannot slip
-- past the count; a success resets the account's row. consecutive_failures
-- spans windows: at the hard limit the account is locked until unlocked.
CREATE TABLE sign_in_throttle (
    subject TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    window_started_at TIMESTAMP NOT NULL,
    last_failure_at TIMESTAMP,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    locked_at TIMESTAMP,
    refused INTEGER NOT NULL DEFAULT 0,
    refused_reported_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX sign_in_throttle_updated ON sign_in_throttle (updated_at);
