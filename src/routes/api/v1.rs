//! `GET /api/v1/auth/check`: a reverse proxy (nginx `auth_request`, Traefik
//! ForwardAuth) asks whether the request's credential holds a permission.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::error::{ApiError, JSON_API};
use super::query_pairs;
use crate::domain::scopes::Permission;
use crate::startup::AppState;

/// The header naming the permission to check.
pub const REQUIRED_PERMISSION: &str = "x-required-permission";

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
    let from_query = pairs
        .iter()
        .find(|(k, _)| k == "permission")
        .map(|(_, v)| v.as_str());
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
    let permissions = grant.permissions.to_stored();
    Ok(HttpResponse::Ok()
        .insert_header(("X-Keyward-App-Id", grant.app_id.as_str()))
        .insert_header(("X-Keyward-Key-Id", grant.key_id.as_str()))
        .insert_header(("X-Keyward-Permissions", permissions.as_str()))
        .insert_header(("X-Keyward-Source-App", grant.source_app.as_str()))
        .content_type(JSON_API)
        .body(format!(
            r#"{{"jsonapi":{{"version":"1.1"}},"meta":{{"allowed":true,"permission":"{permission}","app_id":"{}","key_id":"{}"}}}}"#,
            grant.app_id, grant.key_id
        )))
}
