DROP TABLE key_alerts;
DROP TABLE alert_recipients;
ALTER TABLE organizations DROP COLUMN alert_thresholds;
ALTER TABLE organizations DROP COLUMN alerts_enabled;
