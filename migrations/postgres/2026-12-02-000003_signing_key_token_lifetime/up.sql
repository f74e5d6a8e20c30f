-- The longest access token lifetime in force while the key signed: a retired
-- key stays published at least this long, even after the lifetime was lowered.
ALTER TABLE signing_keys ADD COLUMN max_token_minutes INTEGER NOT NULL DEFAULT 15;
