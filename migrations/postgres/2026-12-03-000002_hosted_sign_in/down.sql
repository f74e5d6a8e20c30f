ALTER TABLE token_families DROP COLUMN hosted_session_id;
DROP TABLE authorization_codes;
DROP TABLE hosted_sessions;
