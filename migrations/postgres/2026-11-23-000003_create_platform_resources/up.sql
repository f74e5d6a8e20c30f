-- Bumped in the same transaction as any change that affects which credentials
-- pass (a key's state or permissions, an app's status or scopes, the features):
-- every instance polls it and drops its cache of verified keys when it moves.
ALTER TABLE organizations ADD COLUMN credentials_version BIGINT NOT NULL DEFAULT 0;

-- The business platform's resources, served as JSON:API under /api/v2.
CREATE TABLE services (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes > 0),
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    currency TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX services_org ON services (organization_id, id);

-- Employees of the business: they work appointments, receive alerts, and may
-- later sign in to employee-facing apps.
CREATE TABLE employees (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (organization_id, email)
);
CREATE INDEX employees_org ON employees (organization_id, id);

CREATE TABLE guests (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX guests_org ON guests (organization_id, id);

-- Weekly hours: weekday 1 (Monday) to 7 (Sunday), minutes since midnight.
CREATE TABLE working_hours (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    employee_id TEXT NOT NULL REFERENCES employees (id),
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    starts_minute INTEGER NOT NULL CHECK (starts_minute BETWEEN 0 AND 1439),
    ends_minute INTEGER NOT NULL CHECK (ends_minute BETWEEN 1 AND 1440),
    CHECK (starts_minute < ends_minute)
);
CREATE INDEX working_hours_org ON working_hours (organization_id, id);
CREATE INDEX working_hours_employee ON working_hours (employee_id, weekday);

-- source: how it was booked (mobile, web, bot, api, console), from the
-- Source App of the key that created it.
CREATE TABLE appointments (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    service_id TEXT NOT NULL REFERENCES services (id),
    employee_id TEXT NOT NULL REFERENCES employees (id),
    guest_id TEXT REFERENCES guests (id),
    starts_at TIMESTAMP NOT NULL,
    ends_at TIMESTAMP NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('booked', 'cancelled')),
    notes TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('mobile', 'web', 'bot', 'api', 'console')),
    created_by_app_id TEXT,
    created_by_key_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    cancelled_at TIMESTAMP
);
CREATE INDEX appointments_org ON appointments (organization_id, id);
CREATE INDEX appointments_employee_time ON appointments (employee_id, starts_at);
CREATE INDEX appointments_app ON appointments (created_by_app_id, created_at);

CREATE TABLE installments (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    guest_id TEXT NOT NULL REFERENCES guests (id),
    appointment_id TEXT REFERENCES appointments (id),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    currency TEXT NOT NULL,
    due_on TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('due', 'paid', 'overdue')),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX installments_org ON installments (organization_id, id);

CREATE TABLE payments (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    guest_id TEXT NOT NULL REFERENCES guests (id),
    appointment_id TEXT REFERENCES appointments (id),
    amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
    currency TEXT NOT NULL,
    method TEXT NOT NULL,
    paid_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX payments_org ON payments (organization_id, id);
