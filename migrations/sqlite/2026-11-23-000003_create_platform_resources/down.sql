DROP TABLE payments;
DROP TABLE installments;
DROP TABLE appointments;
DROP TABLE working_hours;
DROP TABLE guests;
DROP TABLE employees;
DROP TABLE services;
ALTER TABLE organizations DROP COLUMN credentials_version;
