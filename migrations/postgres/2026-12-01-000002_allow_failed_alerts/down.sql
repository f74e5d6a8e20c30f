UPDATE key_alerts SET status = 'cancelled' WHERE status = 'failed';
ALTER TABLE key_alerts DROP CONSTRAINT key_alerts_status_check;
ALTER TABLE key_alerts ADD CONSTRAINT key_alerts_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'cancelled'));
