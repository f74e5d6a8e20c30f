DROP TABLE revoked_access_tokens;
DROP TABLE refresh_tokens;
DROP TABLE token_families;
DROP TABLE signing_keys;
ALTER TABLE organizations DROP COLUMN refresh_grace_seconds;
ALTER TABLE organizations DROP COLUMN refresh_idle_days;
ALTER TABLE organizations DROP COLUMN refresh_token_days;
ALTER TABLE organizations DROP COLUMN access_token_minutes;
