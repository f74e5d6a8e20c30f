//! Logging with `tracing`: text for people, JSON for collectors, on standard error
//! (standard output is kept for the commands' own results).
//!
//! What is logged is chosen where it is logged: request lines carry the route
//! pattern, never the raw path, query or headers, and secret types print as masks,
//! so credentials cannot reach the logs by accident.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a second call (in tests) is a no-op.
pub fn init(filter: &str, json: bool) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder
            .compact()
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}
