DROP INDEX token_families_expiry;
DROP INDEX revoked_access_tokens_expiry;
ALTER TABLE appointments DROP COLUMN created_by_user;
ALTER TABLE organizations DROP COLUMN tokens_version;
