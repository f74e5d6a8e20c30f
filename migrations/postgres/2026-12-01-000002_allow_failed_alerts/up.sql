-- An alert the mail server refused for good (a 5xx answer) is 'failed': shown
-- on the key's row and in the audit trail, never retried.
ALTER TABLE key_alerts DROP CONSTRAINT key_alerts_status_check;
ALTER TABLE key_alerts ADD CONSTRAINT key_alerts_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'cancelled', 'failed'));
