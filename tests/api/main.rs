//! Integration tests: the real server over HTTP, on SQLite, or on PostgreSQL when
//! KEYWARD_TEST_DATABASE_URL is set.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on the unexpected"
)]

mod access_tokens;
mod admin_accounts;
mod alerts;
mod api_auth;
mod apps;
mod audit;
mod browser;
mod command_line;
mod hardening;
mod health;
mod helpers;
mod isolation;
mod key_restrictions;
mod keys;
mod manage;
mod metrics;
mod migrations;
mod nginx;
mod oidc;
mod operator_api;
mod platform;
mod races;
mod readme;
mod sessions;
mod setup;
mod sign_in;
mod smtp;
mod staff;
mod tenants;
mod throttle;
mod tokens;
mod usage;
mod users;
mod webhooks;
mod wizard;
