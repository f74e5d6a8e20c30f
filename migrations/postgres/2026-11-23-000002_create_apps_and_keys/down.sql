DROP INDEX audit_events_org_app;
DROP INDEX audit_events_org_actor;
DROP INDEX audit_events_org_action;
DROP TABLE api_keys;
DROP TABLE apps;
