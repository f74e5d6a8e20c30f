//! `GET /api/v1/auth/check`: a reverse proxy (nginx `auth_request`, Traefik
//! ForwardAuth) asks whether the request's credential holds a permission.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use super::error::{ApiError, JSON_UTF8};
use super::query_pairs;
use crate::auth::Grant;
use crate::domain::KeyId;
use crate::domain::scopes::Permission;
use crate::state::AppState;

/// The header naming the permission to check.
pub const REQUIRED_PERMISSION: HeaderName = HeaderName::from_static("x-required-permission");

const APP_ID: HeaderName = HeaderName::from_static("x-keyward-app-id");
const KEY_ID: HeaderName = HeaderName::from_static("x-keyward-key-id");
const PERMISSIONS: HeaderName = HeaderName::from_static("x-keyward-permissions");
const SOURCE_APP: HeaderName = HeaderName::from_static("x-keyward-source-app");

/// The answer headers of a passing check, made once per cached grant: the app,
/// the key, the permissions (space-separated) and the Source App.
struct AnswerHeaders([(HeaderName, HeaderValue); 4]);

impl AnswerHeaders {
    fn of(grant: &Grant) -> Self {
        // Ids and permission names are visible ASCII, so this never falls back.
        let value =
            |s: &str| HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""));
        Self([
            (APP_ID, value(grant.app_id.as_str())),
            (KEY_ID, value(grant.key_id().map_or("", KeyId::as_str))),
            (PERMISSIONS, value(&grant.permissions.to_stored())),
            (
                SOURCE_APP,
                HeaderValue::from_static(grant.source_app.as_str()),
            ),
        ])
    }
}

/// 200 with `X-Keyward-App-Id`, `X-Keyward-Key-Id` and `X-Keyward-Permissions` when
/// the credential holds the permission in `X-Required-Permission` (or
/// `?permission=`); otherwise the same 401/402/403 as any API route. Without a
/// permission the answer is 400: a proxy misconfigured that way fails closed.
pub async fn auth_check(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = query_pairs(&req)?;
    let mut headers = req.headers().get_all(REQUIRED_PERMISSION);
    let from_header = match (headers.next(), headers.next()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_permission",
                "Invalid permission",
                "Send one X-Required-Permission header.",
            )
            .at_header("X-Required-Permission"));
        }
        (Some(v), None) => Some(v.to_str().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_permission",
                "Invalid permission",
                "X-Required-Permission is not readable text.",
            )
            .at_header("X-Required-Permission")
        })?),
        _ => None,
    };
    let from_query = super::param(&pairs, "permission")?;
    let raw = from_header.or(from_query).map(str::trim).filter(|s| !s.is_empty()).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_permission",
            "Missing permission",
            "Name the permission to check in X-Required-Permission or ?permission=, e.g. appointments:read.",
        )
        .at_header("X-Required-Permission")
    })?;
    let permission = Permission::parse(raw).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_permission",
            "Invalid permission",
            "Unknown permission; see the permissions listed in /api/openapi.json.",
        )
        .at_header("X-Required-Permission")
    })?;
    let client = crate::auth::client_ip(&req, &state.settings.trusted_proxies);
    let grant = state
        .verifier
        .verify(req.headers(), Some(permission), client)
        .await?;
    let mut answer = HttpResponse::Ok();
    match grant.derived(AnswerHeaders::of) {
        Some(headers) => {
            for pair in &headers.0 {
                answer.insert_header(pair.clone());
            }
        }
        None => {
            for pair in AnswerHeaders::of(&grant).0 {
                answer.insert_header(pair);
            }
        }
    }
    // Not a JSON:API document: plain JSON, UTF-8 said (its refusals are
    // JSON:API error documents, as everywhere under /api).
    Ok(answer.content_type(JSON_UTF8).body(
        [
            r#"{"allowed":true,"permission":""#,
            &permission.to_string(),
            r#"","app_id":""#,
            grant.app_id.as_str(),
            r#"","key_id":""#,
            grant.key_id().map_or("", KeyId::as_str),
            r#""}"#,
        ]
        .concat(),
    ))
}
