//! Liveness and readiness for orchestrators and load balancers.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;

/// JSON, UTF-8 said.
const JSON: &str = "application/json; charset=utf-8";

/// `GET /healthz`: the process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(JSON)
        .body(json!({ "status": "ok" }).to_string())
}

/// `GET /readyz`: the database answers (503 otherwise, within about 2 seconds).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let backend = state.db.backend();
    match state.read(crate::db::ping).await {
        Ok(()) => HttpResponse::Ok()
            .content_type(JSON)
            .body(json!({ "status": "ok", "database": backend }).to_string()),
        Err(e) => {
            crate::warn_limited!("readiness", error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .content_type(JSON)
                .body(json!({ "status": "unavailable", "database": backend }).to_string())
        }
    }
}

/// `GET /__debug/panic` and `GET /api/__debug/panic`, registered only for the
/// test suite (`Settings::debug_routes`): a handler that panics.
pub async fn debug_panic() -> HttpResponse {
    panic!("a panic the test suite asked for")
}
