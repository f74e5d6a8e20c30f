//! The `keyward` binary: parse the command line and the environment, then hand over
//! to the library.

use std::process::ExitCode;

use clap::Parser;
use keyward::cli::{self, Cli};
use keyward::config::Settings;

fn main() -> ExitCode {
    // One TLS crypto provider for every client of the process (the OTLP
    // exporter's and the webhooks'): ring, as the mailer's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("keyward: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let _log_writer = keyward::telemetry::init(
        &settings.log_filter,
        settings.log_json,
        settings.log_buffer_lines,
        settings.otlp_endpoint.as_ref().map(url::Url::as_str),
    );
    cli::run(cli, settings, keyward::startup::serve)
}
