ALTER TABLE signing_keys DROP COLUMN max_token_minutes;
