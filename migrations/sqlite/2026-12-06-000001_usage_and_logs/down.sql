ALTER TABLE organizations DROP COLUMN log_max_rows;
ALTER TABLE organizations DROP COLUMN log_retention_days;
ALTER TABLE organizations DROP COLUMN log_sample_basis_points;
ALTER TABLE organizations DROP COLUMN usage_days_days;
ALTER TABLE organizations DROP COLUMN usage_hours_days;
ALTER TABLE organizations DROP COLUMN usage_minutes_hours;
DROP TABLE request_logs;
DROP TABLE usage_counts;
