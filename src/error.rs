//! The web layer's error: [`AppError`] becomes an error page with the right status.
//!
//! Which error type each layer uses:
//! - `domain` parsers return [`crate::domain::Invalid`], a message for the person who
//!   typed the value; handlers re-render the form with it beside the field.
//! - `db` returns [`crate::db::DbError`] (or Diesel's `QueryResult` inside a transaction).
//! - handlers and extractors return [`AppError`]. Its causes are logged with the
//!   request's id and never shown: the page says what happened in general words.
//! - the `/api` routes answer with JSON:API error documents of their own.
//!
//! Diesel's `NotFound` is a 404, an unreachable database or a pool timeout a 503
//! with `Retry-After`, anything unexpected a 500. Every page names the request's
//! id; the security headers are added to every response by
//! `routes::middleware::every_response`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::db::DbError;
use crate::services::{Kind, OpError};

/// Everything a console handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the request itself is malformed (bad encoding, a NUL byte, a bad field).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 303 to the sign-in page, coming back to `next` afterwards.
    #[error("sign-in required")]
    SignInRequired {
        /// The path to return to.
        next: String,
    },
    /// 303 to the enrolment of a second factor: the organization requires
    /// one and this admin has none yet.
    #[error("second factor required")]
    EnrolmentRequired,
    /// 403: signed in, but not allowed.
    #[error("forbidden")]
    Forbidden,
    /// 403: the form's CSRF token is missing or wrong.
    #[error("CSRF token rejected")]
    Csrf,
    /// 403: a state-changing request sent from another site.
    #[error("cross-site request refused")]
    CrossSite,
    /// 404.
    #[error("not found")]
    NotFound,
    /// 409: the action does not fit the current state (e.g. a step out of order).
    #[error("conflict: {0}")]
    Conflict(String),
    /// 422: a submitted value breaks a rule; the message says which.
    #[error("invalid: {0}")]
    Invalid(String),
    /// 405, with the methods the path takes (`Allow`).
    #[error("method not allowed")]
    MethodNotAllowed(String),
    /// 413.
    #[error("payload too large")]
    PayloadTooLarge,
    /// 415.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 429 with `Retry-After`.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds to wait.
        retry_after: u64,
        /// What to tell the person.
        message: String,
    },
    /// 431.
    #[error("request headers too large")]
    HeadersTooLarge,
    /// 503 with `Retry-After`: the database is unreachable or the server is saturated.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure; the cause is logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// An unexpected failure with its cause (logged, never shown).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        if e.is_unavailable() {
            return Self::Unavailable(e.to_string());
        }
        match e {
            DbError::Query(diesel::result::Error::NotFound) => Self::NotFound,
            other => Self::Internal(other.to_string()),
        }
    }
}

/// A refused state change as a console page, by its kind: a broken rule is
/// 422, a state that does not allow it 409, nothing there 404, and the database
/// 503 (unreachable) or 500. Handlers that re-render a form catch the refusals
/// they can show beside a field first; what reaches this is shown on its own page.
impl From<OpError> for AppError {
    fn from(e: OpError) -> Self {
        match (e.kind(), e) {
            (_, OpError::Db(db)) => db.into(),
            (_, OpError::Internal(why)) => Self::Internal(why),
            (Kind::NotFound, _) => Self::NotFound,
            (Kind::Invalid, e) => Self::Invalid(e.to_string()),
            (Kind::Conflict | Kind::Database, e) => Self::Conflict(e.to_string()),
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        DbError::Query(e).into()
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        Self::Internal(format!("template: {e}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
    request_id: String,
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::SignInRequired { .. } | Self::EnrolmentRequired => StatusCode::SEE_OTHER,
            Self::Forbidden | Self::Csrf | Self::CrossSite => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if let Self::EnrolmentRequired = self {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/account/security"))
                .finish();
        }
        if let Self::SignInRequired { next } = self {
            let location = if next == "/" || next.is_empty() {
                "/login".to_owned()
            } else {
                format!("/login?next={}", urlencode(next))
            };
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish();
        }
        match self {
            Self::Internal(cause) => tracing::error!(%cause, "request failed"),
            Self::Unavailable(cause) => {
                crate::warn_limited!("console_unavailable", %cause, "service unavailable");
            }
            _ => {}
        }
        let (title, message): (&str, String) = match self {
            Self::BadRequest(why) => ("Bad request", format!("The request could not be understood: {why}.")),
            Self::Forbidden => (
                "Access denied",
                "Your account does not have access to this section. Ask an admin with full access.".into(),
            ),
            Self::Csrf => (
                "Form expired",
                "This form was out of date or did not come from this site, so nothing was changed. Go back, reload the page and try again.".into(),
            ),
            Self::CrossSite => (
                "Request refused",
                "This request came from another site, so nothing was changed. Use the console's own pages.".into(),
            ),
            Self::NotFound => ("Not found", "There is nothing at this address.".into()),
            Self::Conflict(why) => ("Not possible now", why.clone()),
            Self::Invalid(why) => ("Check what you entered", why.clone()),
            Self::MethodNotAllowed(_) => ("Method not allowed", "This address does not take that kind of request.".into()),
            Self::PayloadTooLarge => ("Too large", "The submitted form is too large.".into()),
            Self::UnsupportedMediaType => ("Unsupported form", "The form was sent in a format this page does not accept.".into()),
            Self::TooManyRequests { message, .. } => ("Too many attempts", message.clone()),
            Self::HeadersTooLarge => ("Headers too large", "The request's headers are too large.".into()),
            Self::Unavailable(_) => (
                "Temporarily unavailable",
                "The service cannot reach its database right now. Nothing was changed; try again in a moment.".into(),
            ),
            Self::Internal(_) | Self::SignInRequired { .. } | Self::EnrolmentRequired => {
                ("Something went wrong", "An unexpected error occurred. Nothing was shown of it here; it has been logged.".into())
            }
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title,
            message: &message,
            request_id: crate::telemetry::request_id().unwrap_or_default(),
        };
        let body = page
            .render()
            .unwrap_or_else(|_| format!("{} {title}", status.as_u16()));
        let mut response = HttpResponse::build(status);
        response.content_type("text/html; charset=utf-8");
        match self {
            Self::TooManyRequests { retry_after, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
            }
            Self::MethodNotAllowed(allow) => {
                response.insert_header((header::ALLOW, allow.as_str()));
            }
            _ => {}
        }
        response.body(body)
    }
}

/// Percent-encodes a query parameter value.
pub fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}
