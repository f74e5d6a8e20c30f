//! Integration tests: the real server over HTTP, on SQLite, or on PostgreSQL when

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on the unexpected"
)]
//! KEYWARD_TEST_DATABASE_URL is set.

mod command_line;
mod hardening;
mod health;
mod helpers;
mod migrations;
mod sessions;
mod setup;
mod sign_in;
