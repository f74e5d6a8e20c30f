//! Documents at `/.well-known/` (RFC 8615) that other software reads to work
//! with Keyward unconfigured: the keys that verify its access and ID tokens,
//! and the OpenID Provider's metadata, for the server's own issuer and for
//! each organization's (`<public URL>/o/<slug>`).

use actix_web::{HttpResponse, web};

use crate::clock;
use crate::db::models::Organization;
use crate::db::models::token::SigningKey;
use crate::state::AppState;

/// How long a verifier may keep the key set (seconds). A new key signs at once
/// after a rotation, so a verifier that meets an unknown `kid` fetches again.
pub const JWKS_MAX_AGE: u32 = 300;

/// `GET /.well-known/jwks.json`: the public keys of every organization's
/// signing keys, current and recently retired (RFC 7517 §5). Each token names
/// its organization's issuer, which a verifier checks as well as the key.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    key_set(
        state
            .read(|conn| SigningKey::published(conn, clock::now()))
            .await,
    )
}

/// `GET /o/{slug}/.well-known/jwks.json`: the keys of that organization only,
/// its discovery document's `jwks_uri`.
pub async fn organization_jwks(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> HttpResponse {
    let slug = slug.into_inner();
    let keys = state
        .read(move |conn| match Organization::find_by_slug(conn, &slug)? {
            Some(org) if !org.root_issuer => {
                SigningKey::published_of(conn, &org.id, clock::now()).map(Some)
            }
            _ => Ok(None),
        })
        .await;
    match keys {
        Ok(None) => no_such_issuer(),
        other => key_set(other.map(Option::unwrap_or_default)),
    }
}

/// A JSON Web Key Set of `keys`, or 503 when they could not be read.
fn key_set(keys: Result<Vec<SigningKey>, crate::db::DbError>) -> HttpResponse {
    match keys {
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

/// 404 for a slug that names no organization with an issuer of its own.
fn no_such_issuer() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("application/json; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(
            r#"{"error":"not_found","error_description":"No organization issues under this URL."}"#,
        )
}

/// The provider's metadata (OpenID Connect Discovery 1.0 §3, RFC 8414 §2):
/// every endpoint and what each supports, so a client configures itself from
/// the issuer URL alone. The endpoints are the server's, under `public`,
/// for every organization (the app's Application ID says whose); `issuer` is
/// the organization's, which must equal the URL the document was fetched
/// under (Discovery §4.3) and every token's `iss`.
pub fn provider_metadata(public: &str, issuer: &str) -> serde_json::Value {
    let mut scopes: Vec<String> = crate::domain::oauth::OIDC_SCOPES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    scopes.extend(crate::domain::scopes::all_permissions().map(|p| p.to_string()));
    let auth_methods = ["client_secret_basic", "client_secret_post", "none"];
    serde_json::json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{public}/oauth/authorize"),
        "token_endpoint": format!("{public}/api/v1/tokens"),
        "userinfo_endpoint": format!("{public}/oauth/userinfo"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "end_session_endpoint": format!("{public}/oauth/logout"),
        "revocation_endpoint": format!("{public}/api/v1/tokens/revoke"),
        "introspection_endpoint": format!("{public}/api/v1/tokens/introspect"),
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
/// `/.well-known/oauth-authorization-server`: [`provider_metadata`] of the
/// server's own issuer.
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    metadata(&provider_metadata(&state.issuer, &state.issuer))
}

/// `GET /o/{slug}/.well-known/openid-configuration` (OpenID Connect
/// Discovery 1.0 §4.1: the issuer's path, then the well-known suffix) and
/// `/.well-known/oauth-authorization-server/o/{slug}` (RFC 8414 §3.1: the
/// suffix inserted before the issuer's path): [`provider_metadata`] of the
/// organization's issuer.
pub async fn organization_configuration(
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> HttpResponse {
    let slug = slug.into_inner();
    match state
        .read(move |conn| Organization::find_by_slug(conn, &slug))
        .await
    {
        // An organization that kept the server's own issuer is discovered
        // there: a document here would name an issuer other than its URL.
        Ok(Some(org)) if !org.root_issuer => metadata(&provider_metadata(
            &state.issuer,
            &org.issuer(&state.issuer),
        )),
        Ok(_) => no_such_issuer(),
        Err(e) => {
            crate::warn_limited!("discovery", error = %e, "an organization could not be read");
            HttpResponse::ServiceUnavailable()
                .insert_header(("Retry-After", "5"))
                .insert_header(("Cache-Control", "no-store"))
                .content_type("application/json; charset=utf-8")
                .body(r#"{"error":"temporarily_unavailable"}"#)
        }
    }
}

fn metadata(document: &serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .insert_header(("Cache-Control", format!("public, max-age={JWKS_MAX_AGE}")))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .body(document.to_string())
}
