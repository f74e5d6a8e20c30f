//! `GET /api/v1/auth/check`: a reverse proxy (nginx `auth_request`, Traefik
//! ForwardAuth) asks whether the request's credential holds a permission.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};

use super::error::{ApiError, JSON_UTF8};
use super::query_pairs;
use crate::auth::Grant;
use crate::domain::scopes::Permission;
use crate::domain::{KeyId, UserRef};
use crate::state::AppState;

/// The header naming the permission to check.
pub const REQUIRED_PERMISSION: HeaderName = HeaderName::from_static("x-required-permission");

const APP_ID: HeaderName = HeaderName::from_static("x-keyward-app-id");
const KEY_ID: HeaderName = HeaderName::from_static("x-keyward-key-id");
const PERMISSIONS: HeaderName = HeaderName::from_static("x-keyward-permissions");
const SOURCE_APP: HeaderName = HeaderName::from_static("x-keyward-source-app");
const USER_ID: HeaderName = HeaderName::from_static("x-keyward-user-id");
const USER_TYPE: HeaderName = HeaderName::from_static("x-keyward-user-type");

/// The answer of a passing check, made once per cached grant: the headers
/// (the app, the key or the user and their type, the permissions
/// space-separated, the Source App) and the JSON body's members after the
/// permission.
struct Answer {
    /// The header values and then the body's tail, back to back: one
    /// allocation per cached grant, which each answer slices.
    text: Bytes,
    /// The headers' names, in the order of their values.
    names: &'static [HeaderName],
    /// Where each header's value ends in `text`.
    ends: [u16; 4],
}

/// The answer's header names for an API key, an access token, and neither:
/// shared by every cached answer, which names one of them.
static KEY_HEADERS: [HeaderName; 3] = [APP_ID, KEY_ID, PERMISSIONS];
static USER_HEADERS: [HeaderName; 4] = [APP_ID, USER_ID, USER_TYPE, PERMISSIONS];
static APP_HEADERS: [HeaderName; 2] = [APP_ID, PERMISSIONS];

impl Answer {
    fn of(grant: &Grant) -> Self {
        let permissions = grant.permissions.to_stored();
        let (names, values): (&'static [HeaderName], Vec<&str>) =
            match (grant.key_id(), grant.user()) {
                (Some(key), _) => (
                    &KEY_HEADERS,
                    vec![grant.app_id.as_str(), key.as_str(), &permissions],
                ),
                (None, Some(user)) => (
                    &USER_HEADERS,
                    vec![
                        grant.app_id.as_str(),
                        user.user_id(),
                        user.user_type().as_str(),
                        &permissions,
                    ],
                ),
                (None, None) => (&APP_HEADERS, vec![grant.app_id.as_str(), &permissions]),
            };
        let body_tail = serde_json::json!({
            "app_id": grant.app_id,
            "key_id": grant.key_id().map(KeyId::as_str),
            "user_id": grant.user().map(UserRef::user_id),
            "user_type": grant.user().map(|u| u.user_type().as_str()),
        })
        .to_string();
        let mut text =
            Vec::with_capacity(values.iter().map(|v| v.len()).sum::<usize>() + body_tail.len());
        let mut ends = [0u16; 4];
        for (end, value) in ends.iter_mut().zip(values.iter()) {
            text.extend_from_slice(value.as_bytes());
            *end = u16::try_from(text.len()).unwrap_or(u16::MAX);
        }
        text.extend_from_slice(body_tail.as_bytes());
        Self {
            text: Bytes::from(text),
            names,
            ends,
        }
    }

    /// Each header with its value.
    fn headers(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
        let mut start = 0;
        self.names.iter().zip(self.ends).map(move |(name, end)| {
            let range = start..usize::from(end);
            start = usize::from(end);
            // Ids and permission names are visible ASCII, so this never falls back.
            let value = HeaderValue::from_maybe_shared(self.text.slice(range))
                .unwrap_or_else(|_| HeaderValue::from_static(""));
            (name.clone(), value)
        })
    }

    /// The body's members after the permission, with their opening comma
    /// (the tail of a JSON object whose `{` was dropped).
    fn body_tail(&self) -> &str {
        let start = self.ends[..self.names.len()]
            .last()
            .map_or(0, |end| usize::from(*end));
        // Written from a `String` above, and cut after a whole header value.
        std::str::from_utf8(&self.text[start + 1..]).unwrap_or("}")
    }
}

/// 200 with `X-Keyward-App-Id`, `X-Keyward-Key-Id` (an API key) or
/// `X-Keyward-User-Id` and `X-Keyward-User-Type` (an access token), and
/// `X-Keyward-Permissions`, when the credential holds the permission in
/// `X-Required-Permission` (or `?permission=`); otherwise the same
/// 401/402/403 as any API route. Without a permission the answer is 400: a
/// proxy misconfigured that way fails closed.
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
    // A limited key's RateLimit fields are added as the answer leaves.
    let grant = super::authorize(&req, &state, Some(permission))
        .await?
        .grant;
    let mut response = HttpResponse::Ok();
    let made;
    let answer = match grant.derived(Answer::of) {
        Some(answer) => answer,
        None => {
            made = Answer::of(&grant);
            &made
        }
    };
    for pair in answer.headers() {
        response.insert_header(pair);
    }
    response.insert_header((
        SOURCE_APP,
        HeaderValue::from_static(grant.source_app.as_str()),
    ));
    // Not a JSON:API document: plain JSON, UTF-8 said (its refusals are
    // JSON:API error documents, as everywhere under /api).
    Ok(response.content_type(JSON_UTF8).body(
        [
            r#"{"allowed":true,"permission":""#,
            &permission.to_string(),
            r#"","#,
            answer.body_tail(),
        ]
        .concat(),
    ))
}
