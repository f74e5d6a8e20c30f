//! Keyward: a self-hosted manager of API applications, API keys and access tokens.
//!
//! The whole server lives in this library so the binary and the tests boot the same
//! [`startup::Application`].

pub mod assets;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod email;
pub mod error;
pub mod headers;
pub mod jobs;
pub mod jwt;
pub mod metrics;
pub mod outbound;
pub mod routes;
pub mod secrets;
pub mod services;
pub mod startup;
pub mod state;
pub mod telemetry;
