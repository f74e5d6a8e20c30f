//! Documents at `/.well-known/` (RFC 8615) that other software reads to work
//! with Keyward unconfigured: the keys that verify its access tokens.

use actix_web::{HttpResponse, web};

use crate::clock;
use crate::db::models::token::SigningKey;
use crate::state::AppState;

/// How long a verifier may keep the key set (seconds). A new key signs at once
/// after a rotation, so a verifier that meets an unknown `kid` fetches again.
pub const JWKS_MAX_AGE: u32 = 300;

/// `GET /.well-known/jwks.json`: the public keys of every organization's
/// signing keys, current and recently retired (RFC 7517 §5).
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    match state
        .read(|conn| SigningKey::published(conn, clock::now()))
        .await
    {
        Ok(keys) => HttpResponse::Ok()
            .content_type("application/jwk-set+json; charset=utf-8")
            .insert_header(("Cache-Control", format!("public, max-age={JWKS_MAX_AGE}")))
            .body(
                crate::jwt::jwks(keys.iter().map(|k| (k.kid.as_str(), k.public_key.as_str())))
                    .to_string(),
            ),
        Err(e) => {
            crate::warn_limited!("jwks", error = %e, "the key set could not be read");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .insert_header(("Cache-Control", "no-store"))
                .content_type("application/json; charset=utf-8")
                .body(r#"{"error":"temporarily_unavailable"}"#)
        }
    }
}
