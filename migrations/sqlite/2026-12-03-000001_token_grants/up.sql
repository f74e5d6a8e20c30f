-- Moves whenever which access tokens pass may have changed (a sign-in revoked,
-- a password changed, a user blocked): every instance drops its cache of
-- verified tokens, but keeps its verified API keys.
ALTER TABLE organizations ADD COLUMN tokens_version BIGINT NOT NULL DEFAULT 0;

-- The user who booked an appointment with an access token ('employee:<id>' or
-- 'guest:<id>'), beside the app that booked it.
ALTER TABLE appointments ADD COLUMN created_by_user TEXT;

-- Housekeeping finds what has lapsed without scanning.
CREATE INDEX revoked_access_tokens_expiry ON revoked_access_tokens (expires_at);
CREATE INDEX token_families_expiry ON token_families (expires_at);
