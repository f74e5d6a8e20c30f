DROP INDEX appointments_org_created;
