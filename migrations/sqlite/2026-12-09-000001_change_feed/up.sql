-- The change feed: one row per change that can alter what passes `/api`,
-- naming what changed (an organization, an app, a key, a user, or an
-- organization's signing keys). Every instance reads the rows after the last
-- one it applied and forgets only the cached credentials they name.
--
-- `change_head` hands out the sequence numbers: a change takes the next one
-- by updating its single row, which holds that row's lock until the change
-- commits, so rows commit in the order of their numbers and a reader that
-- sees row n has seen every row before it. The feed has no gaps; a reader
-- that finds one knows rows were pruned while it was away.
CREATE TABLE change_head (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO change_head (id, seq) VALUES (1, 0);

CREATE TABLE changes (
    seq BIGINT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL,
    -- `organization`, `app`, `key`, `user` or `signing_keys`.
    kind TEXT NOT NULL,
    -- The id of what changed; a user's subject (`employee:<id>`).
    subject TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL
);
CREATE INDEX changes_changed_at ON changes (changed_at);

-- The per-organization versions the feed replaces.
ALTER TABLE organizations DROP COLUMN credentials_version;
ALTER TABLE organizations DROP COLUMN tokens_version;
