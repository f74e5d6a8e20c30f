ALTER TABLE organizations ADD COLUMN tokens_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE organizations ADD COLUMN credentials_version BIGINT NOT NULL DEFAULT 0;
DROP TABLE changes;
DROP TABLE change_head;
