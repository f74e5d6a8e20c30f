ALTER TABLE audit_events DROP COLUMN via;
DROP TABLE idempotency_keys;
DROP TABLE admin_tokens;
