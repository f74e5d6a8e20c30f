//! Documents at `/.well-known/` (RFC 8615) that other software reads to work
//! with Keyward unconfigured: the keys that verify its access and ID tokens,
//! and the OpenID Provider's metadata.

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

/// The provider's metadata (OpenID Connect Discovery 1.0 §3, RFC 8414 §2):
/// every endpoint and what each supports, so a client configures itself from
/// the issuer URL alone.
pub fn provider_metadata(issuer: &str) -> serde_json::Value {
    let mut scopes: Vec<String> = crate::domain::oauth::OIDC_SCOPES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    scopes.extend(crate::domain::scopes::all_permissions().map(|p| p.to_string()));
    let auth_methods = ["client_secret_basic", "client_secret_post", "none"];
    serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/api/v1/tokens"),
        "userinfo_endpoint": format!("{issuer}/oauth/userinfo"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "end_session_endpoint": format!("{issuer}/oauth/logout"),
        "revocation_endpoint": format!("{issuer}/api/v1/tokens/revoke"),
        "introspection_endpoint": format!("{issuer}/api/v1/tokens/introspect"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "password"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [crate::jwt::ALGORITHM],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "name", "email"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": false,
    })
}

/// `GET /.well-known/openid-configuration` and
/// `/.well-known/oauth-authorization-server`: [`provider_metadata`].
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .insert_header(("Cache-Control", format!("public, max-age={JWKS_MAX_AGE}")))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .body(provider_metadata(&state.issuer).to_string())
}
