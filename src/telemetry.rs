//! Logging with `tracing`: text for people, JSON for collectors, on standard error
//! (standard output is kept for the commands' own results), written by a
//! background thread so a request never waits on the terminal or a log pipe.
//!
//! What is logged is chosen where it is logged: request lines carry the route
//! pattern, never the raw path, query or headers, and secret types print as masks,
//! so credentials cannot reach the logs by accident.

use std::io::IsTerminal;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Keep the guard until exit: dropping it flushes
/// the lines still queued. A second call (in tests) installs nothing.
pub fn init(filter: &str, json: bool) -> WorkerGuard {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
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
    guard
}
