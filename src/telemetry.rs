//! Logging with `tracing`: text for people, JSON for collectors.
//!
//! What is logged is chosen where it is logged: request lines carry the route
//! pattern, never the raw path, query or headers, and secret types print as masks,
//! so credentials cannot reach the logs by accident.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a second call (in tests) is a no-op.
pub fn init(filter: &str, json: bool) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init()
    } else {
        builder.compact().try_init()
    };
}
