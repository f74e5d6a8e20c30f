//! The framework's own ceiling, for `scripts/bench`: actix-web with one route
//! answering a small JSON body, no middleware, no state, no logging. Every
//! figure of the benchmark is also given as a ratio to this server's rate,
//! measured in the same interleaved rounds with the same worker count.
//!
//! ```text
//! KEYWARD_BIND=127.0.0.1:8099 KEYWARD_WORKERS=1 \
//!     cargo run --release --example bare_server
//! ```

use actix_web::{App, HttpResponse, HttpServer, web};

async fn ok() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::var("KEYWARD_BIND").unwrap_or_else(|_| "127.0.0.1:8099".to_owned());
    let workers = std::env::var("KEYWARD_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
    HttpServer::new(|| App::new().route("/", web::get().to(ok)))
        .workers(workers)
        .bind(bind)?
        .run()
        .await
}
