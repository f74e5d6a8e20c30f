-- The Bookings page lists an organization's bookings newest first, by keyset.
CREATE INDEX appointments_org_created ON appointments (organization_id, created_at, id);
