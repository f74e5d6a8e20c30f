DROP TABLE audit_events;
DROP TABLE setup_tokens;
DROP TABLE sessions;
DROP TABLE admins;
DROP TABLE organizations;
