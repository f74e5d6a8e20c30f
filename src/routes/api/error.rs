//! JSON:API error documents: every `/api` failure, with a stable `code`.
//!
//! Nothing here repeats a credential: details are fixed sentences or name fields.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Denial;
use crate::db::DbError;
use crate::services::{Kind, OpError};

/// The media type of every `/api` document (JSON:API defines no charset
/// parameter: the media type is UTF-8 by definition).
pub const JSON_API: &str = "application/vnd.api+json";

/// The media type of the JSON under `/api` that is not JSON:API (the auth
/// check's answer, the OpenAPI document).
pub const JSON_UTF8: &str = "application/json; charset=utf-8";

/// One error object.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorObject {
    /// The HTTP status, as a string.
    pub status: String,
    /// Stable, machine-readable reason, e.g. `key_inactive`.
    pub code: &'static str,
    /// Short summary of the kind of problem.
    pub title: &'static str,
    /// What happened, for a person.
    pub detail: String,
    /// Where in the request the problem is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<ErrorSource>,
}

/// The part of the request an error is about.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorSource {
    /// A JSON Pointer into the request document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// A query parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// A header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

/// A JSON:API error document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDocument {
    /// The errors; several when several fields are wrong.
    pub errors: Vec<ErrorObject>,
    /// The request's id, to match a report with the server's log.
    pub meta: ErrorMeta,
}

/// What an error document says about the request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorMeta {
    /// The id the server logged the request under (also in `X-Request-Id`).
    pub request_id: Option<String>,
}

/// An `/api` failure.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    errors: Vec<ErrorObject>,
    retry_after: Option<u64>,
    allow: Option<String>,
    /// The challenge of a refused access token (RFC 6750 §3), instead of
    /// the default one.
    challenge: Option<String>,
    /// A rate-limited key's windows, for the RateLimit fields.
    rate: Option<crate::auth::RateState>,
}

/// The fields of the IETF draft on rate limits
/// (draft-ietf-httpapi-ratelimit-headers-09 §3 `RateLimit-Policy`, §4
/// `RateLimit`), each given to `insert`.
pub fn rate_limit_headers(
    rate: &crate::auth::RateState,
    mut insert: impl FnMut((header::HeaderName, HeaderValue)),
) {
    const POLICY: header::HeaderName = header::HeaderName::from_static("ratelimit-policy");
    const CURRENT: header::HeaderName = header::HeaderName::from_static("ratelimit");
    if let Ok(v) = HeaderValue::from_str(&rate.policy()) {
        insert((POLICY, v));
    }
    if let Ok(v) = HeaderValue::from_str(&rate.current()) {
        insert((CURRENT, v));
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let codes: Vec<&str> = self.errors.iter().map(|e| e.code).collect();
        write!(f, "{} {}", self.status.as_u16(), codes.join(","))
    }
}

impl ApiError {
    /// One error.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            errors: vec![ErrorObject {
                status: status.as_u16().to_string(),
                code,
                title,
                detail: detail.into(),
                source: None,
            }],
            retry_after: None,
            allow: None,
            challenge: None,
            rate: None,
        }
    }

    /// The `WWW-Authenticate` challenge of a refused bearer token: RFC 6750
    /// §3's `error` (and, for `insufficient_scope`, the `scope` needed).
    pub fn with_bearer_error(mut self, error: &str, scope: Option<&str>) -> Self {
        let mut challenge = format!(r#"Bearer realm="keyward", error="{error}""#);
        if let Some(scope) = scope {
            challenge.push_str(&format!(r#", scope="{scope}""#));
        }
        self.challenge = Some(challenge);
        self
    }

    /// Asks the client to wait this long before trying again.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Names the methods the path takes (a 405's `Allow`).
    pub fn with_allow(mut self, allow: String) -> Self {
        self.allow = Some(allow);
        self
    }

    /// Points the (first) error at a query parameter.
    pub fn at_parameter(mut self, parameter: &str) -> Self {
        if let Some(e) = self.errors.first_mut() {
            e.source = Some(ErrorSource {
                pointer: None,
                parameter: Some(parameter.to_owned()),
                header: None,
            });
        }
        self
    }

    /// Points the (first) error at a member of the request document.
    pub fn at_pointer(mut self, pointer: &str) -> Self {
        if let Some(e) = self.errors.first_mut() {
            e.source = Some(ErrorSource {
                pointer: Some(pointer.to_owned()),
                parameter: None,
                header: None,
            });
        }
        self
    }

    /// Points the (first) error at a header.
    pub fn at_header(mut self, name: &str) -> Self {
        if let Some(e) = self.errors.first_mut() {
            e.source = Some(ErrorSource {
                pointer: None,
                parameter: None,
                header: Some(name.to_owned()),
            });
        }
        self
    }

    /// 422 with one error per invalid member of the request document.
    pub fn validation(problems: Vec<(String, String)>) -> Self {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        Self {
            status,
            errors: problems
                .into_iter()
                .map(|(pointer, detail)| ErrorObject {
                    status: status.as_u16().to_string(),
                    code: "invalid_attribute",
                    title: "Invalid attribute",
                    detail,
                    source: Some(ErrorSource {
                        pointer: Some(pointer),
                        parameter: None,
                        header: None,
                    }),
                })
                .collect(),
            retry_after: None,
            allow: None,
            challenge: None,
            rate: None,
        }
    }

    /// 404.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            "There is no such resource.",
        )
    }

    /// 500: a fault of the server, logged.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal error",
            "An unexpected error occurred; it has been logged.",
        )
    }

    /// 400 for a bad query parameter.
    pub fn bad_parameter(parameter: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "Invalid parameter",
            detail,
        )
        .at_parameter(parameter)
    }

    /// 503 with `Retry-After`.
    pub fn unavailable() -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "Service unavailable",
            "The credential could not be checked right now. Retry shortly; the key was not rejected.",
        );
        e.retry_after = Some(2);
        e
    }

    /// The codes, for tests and logs.
    pub fn codes(&self) -> Vec<&'static str> {
        self.errors.iter().map(|e| e.code).collect()
    }
}

impl From<Denial> for ApiError {
    fn from(d: Denial) -> Self {
        let unauthorized =
            |code, title, detail: &str| Self::new(StatusCode::UNAUTHORIZED, code, title, detail);
        match d {
            Denial::MissingCredentials => unauthorized(
                "missing_credentials",
                "Missing credentials",
                "Send an API key in the Authorization header: `apikey <key>` or `Bearer <key>`.",
            )
            .at_header("Authorization"),
            Denial::InvalidRequest(why) => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid request",
                why,
            )
            .at_header("Authorization"),
            Denial::InvalidCredentials(why) => {
                unauthorized("invalid_credentials", "Invalid credentials", why)
                    .at_header("Authorization")
            }
            Denial::KeyInactive => unauthorized(
                "key_inactive",
                "Key inactive",
                "This API key is inactive. An admin can activate it again.",
            ),
            Denial::KeyRolled => unauthorized(
                "key_rolled",
                "Key rolled",
                "This API key was replaced by a new key and its grace period is over. Use the new key.",
            ),
            Denial::IpNotAllowed => Self::new(
                StatusCode::FORBIDDEN,
                "ip_not_allowed",
                "Address not allowed",
                "This API key is not accepted from this client's address.",
            ),
            Denial::RateLimited(state) => {
                let mut e = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "Rate limit reached",
                    "This API key's rate limit is used up for now. Retry after the time in Retry-After.",
                );
                e.retry_after = Some(u64::from(state.retry_after()));
                e.rate = Some(state);
                e
            }
            Denial::KeyExpired => unauthorized(
                "key_expired",
                "Key expired",
                "This API key has expired. Ask an admin for a new key.",
            ),
            Denial::AppInactive => unauthorized(
                "app_inactive",
                "App inactive",
                "The application of this API key is inactive.",
            ),
            Denial::AppDraft => unauthorized(
                "app_draft",
                "App setup not finished",
                "This app's setup is not finished: its keys start working once an admin selects Finish in the Manage Applications wizard.",
            ),
            Denial::PaymentRequired => Self::new(
                StatusCode::PAYMENT_REQUIRED,
                "payment_required",
                "Payment required",
                "The organization's external connectivity feature is off.",
            ),
            Denial::Suspended => Self::new(
                StatusCode::PAYMENT_REQUIRED,
                "organization_suspended",
                "Organization suspended",
                "The organization's subscription is suspended: its keys and tokens are refused until it is resumed.",
            ),
            Denial::InsufficientPermission(p) => Self::new(
                StatusCode::FORBIDDEN,
                "insufficient_permission",
                "Insufficient permission",
                format!("This API key does not hold the {p} permission."),
            ),
            Denial::InvalidToken => unauthorized(
                "invalid_credentials",
                "Invalid credentials",
                "The access token is not valid.",
            )
            .at_header("Authorization")
            .with_bearer_error("invalid_token", None),
            Denial::TokenExpired => unauthorized(
                "token_expired",
                "Token expired",
                "This access token has expired. Get a new one with the refresh token.",
            )
            .with_bearer_error("invalid_token", None),
            Denial::TokenRevoked => unauthorized(
                "token_revoked",
                "Token revoked",
                "This access token was revoked: its user signed out, changed password or may no longer sign in. Sign in again.",
            )
            .with_bearer_error("invalid_token", None),
            Denial::InsufficientScope(p) => Self::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "Insufficient scope",
                format!("This access token's scope does not include the {p} permission."),
            )
            .with_bearer_error("insufficient_scope", Some(&p.to_string())),
            Denial::TooManyFailures => {
                let mut e = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_failures",
                    "Too many failed attempts",
                    "Too many requests with invalid credentials came from this client. Wait a minute.",
                );
                e.retry_after = Some(60);
                e
            }
            Denial::Unavailable => Self::unavailable(),
        }
    }
}

/// A refused state change as a JSON:API error, with the refusal's own code: a
/// broken rule is 422 pointing at its field (a relationship for the related
/// resources, an attribute otherwise), a state that does not allow it 409,
/// nothing there 404, the database 503 or 500.
impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        match (e.kind(), e) {
            (_, OpError::Db(db)) => db.into(),
            (_, OpError::Internal(why)) => {
                tracing::error!(error = %why, "API request failed");
                Self::internal()
            }
            (Kind::NotFound, _) => Self::not_found(),
            (Kind::Invalid, e) => {
                let mut error = Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    e.code(),
                    "Invalid attribute",
                    e.to_string(),
                );
                if let (Some(field), Some(object)) = (e.field(), error.errors.first_mut()) {
                    let pointer = match field {
                        "service" | "employee" | "guest" => {
                            format!("/data/relationships/{field}")
                        }
                        other => format!("/data/attributes/{other}"),
                    };
                    object.source = Some(ErrorSource {
                        pointer: Some(pointer),
                        parameter: None,
                        header: None,
                    });
                }
                error
            }
            (Kind::Conflict | Kind::Database, e) => {
                let title = match &e {
                    OpError::SlotTaken => "Slot taken",
                    OpError::AppointmentCancelled => "Appointment cancelled",
                    _ => "Conflict",
                };
                Self::new(StatusCode::CONFLICT, e.code(), title, e.to_string())
            }
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            crate::warn_limited!("api_unavailable", error = %e, "database unavailable");
            return Self::unavailable();
        }
        match e {
            DbError::Query(diesel::result::Error::NotFound) => Self::not_found(),
            other => {
                tracing::error!(error = %other, "API request failed");
                Self::internal()
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.content_type(JSON_API);
        if let Some(challenge) = self
            .challenge
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        } else if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"ApiKey realm="keyward", Bearer realm="keyward""#),
            ));
        }
        if let Some(allow) = &self.allow {
            response.insert_header((header::ALLOW, allow.as_str()));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if let Some(rate) = &self.rate {
            rate_limit_headers(rate, |pair| {
                response.insert_header(pair);
            });
        }
        let mut response = response.json(ErrorDocument {
            errors: self.errors.clone(),
            meta: ErrorMeta {
                request_id: crate::telemetry::request_id(),
            },
        });
        // For the request log: the first error's code.
        if let Some(first) = self.errors.first() {
            response.extensions_mut().insert(ErrorCode(first.code));
        }
        response
    }
}

impl ApiError {
    /// The first error's code.
    pub fn code(&self) -> &'static str {
        self.errors.first().map_or("error", |e| e.code)
    }

    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error document the answer carries.
    pub fn document(&self) -> serde_json::Value {
        serde_json::to_value(ErrorDocument {
            errors: self.errors.clone(),
            meta: ErrorMeta {
                request_id: crate::telemetry::request_id(),
            },
        })
        .unwrap_or(serde_json::Value::Null)
    }
}

/// The code of a refused request's first error, carried by its response to
/// the request log.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

impl From<crate::auth::verifier::Refused> for ApiError {
    fn from(refused: crate::auth::verifier::Refused) -> Self {
        refused.denial.into()
    }
}
