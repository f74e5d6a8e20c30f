//! Request-wide behaviour: the request id, panics answered, security headers
//! and request logging on every response; size and encoding limits; and the
//! guard that checks every console form (encoding, NUL bytes, origin, CSRF)
//! before any handler sees it.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_session::SessionExt;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use futures_util::{FutureExt, StreamExt};
use tracing::Instrument;

use crate::auth::csrf;
use crate::config::AccessLog;
use crate::db::models::Actor;
use crate::domain::has_control_chars;
use crate::error::AppError;
use crate::state::AppState;
use crate::telemetry;

/// Largest console form body accepted.
pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// Largest total size of a request's headers.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The outermost layer, around every request, and the only one outside the
/// console's: it gets an id (in its log lines, its error pages and JSON errors,
/// and `X-Request-Id`); oversized headers and compressed bodies are refused
/// before any work (`refuse_request_head`); a panic in a handler
/// is answered with a 500 that names the id, and logged with it, instead of
/// dropping the connection; one log line records the method, route pattern
/// (never the raw path or query, which may carry tokens), status and latency;
/// and every response, the errors of inner middleware included, carries the
/// security headers (and HSTS under https).
pub async fn every_response(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let id = telemetry::RequestId::new();
    let (settings, metrics) = req
        .app_data::<web::Data<AppState>>()
        .map(|s| (std::sync::Arc::clone(&s.settings), s.metrics.clone()))
        .unzip();
    let metrics = metrics.flatten();
    let https = settings.as_ref().is_some_and(|s| s.is_https());
    let api = req.path().starts_with("/api");
    let method = req.method().clone();
    // Exported spans carry the OpenTelemetry HTTP server attributes
    // (semantic conventions, "HTTP server span"). Without an exporter there is
    // no span: the log's lines take the request id from the task-local.
    let span = telemetry::exporting_spans().then(|| {
        // The name is fixed when the span starts: the route pattern is
        // matched here, ahead of the routing.
        let route = req
            .match_pattern()
            .unwrap_or_else(|| "(unmatched)".to_owned());
        tracing::info_span!(
            "request",
            request_id = %id,
            otel.name = format!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            http.request.method = %method,
            http.route = %route,
            http.response.status_code = tracing::field::Empty,
        )
    });
    let served = telemetry::with_request_id(id, async {
        if let Some(refusal) = refuse_request_head(&req, api) {
            return Ok(req.into_response(refusal));
        }
        match AssertUnwindSafe(next.call(req)).catch_unwind().await {
            Ok(result) => result.map(ServiceResponse::map_into_boxed_body),
            Err(panic) => {
                let why = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                tracing::error!(panic = %why, "a handler panicked; answered 500");
                Err(Panicked { api }.into())
            }
        }
    });
    let outcome = match &span {
        Some(span) => served.instrument(span.clone()).await,
        None => served.await,
    };
    let (status, route, outcome) = match outcome {
        Ok(mut res) => {
            harden(res.headers_mut(), id, https);
            if api {
                let rate = res
                    .request()
                    .extensions()
                    .get::<crate::auth::RateState>()
                    .cloned();
                if let Some(rate) = rate {
                    let headers = res.headers_mut();
                    crate::routes::api::error::rate_limit_headers(&rate, |(k, v)| {
                        headers.insert(k, v);
                    });
                }
            }
            let route = res.request().match_pattern();
            if api {
                let code = res
                    .response()
                    .extensions()
                    .get::<crate::routes::api::error::ErrorCode>()
                    .map(|code| code.0);
                let status = res.status().as_u16();
                count_usage(
                    res.request(),
                    status,
                    code,
                    route.as_deref(),
                    &method,
                    id.as_str(),
                    started,
                );
            }
            (res.status(), route, Ok(res.map_into_boxed_body()))
        }
        // An error of an inner layer has no request left to answer with here:
        // it is answered as it leaves, with the same headers and id.
        Err(inner) => {
            let status = inner.as_response_error().status_code();
            let hardened = Hardened { inner, id, https };
            (status, None, Err(hardened.into()))
        }
    };
    if let Some(span) = &span {
        span.record("http.response.status_code", i64::from(status.as_u16()));
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
    }
    let elapsed = started.elapsed();
    let log = match settings.as_ref().map(|s| s.api_access_log) {
        _ if !api => true,
        Some(AccessLog::Refused) => status.as_u16() >= 400,
        Some(AccessLog::None) => false,
        Some(AccessLog::All) | None => true,
    };
    if log && tracing::enabled!(tracing::Level::INFO) {
        let route = route.as_deref().unwrap_or("(unmatched)");
        let line = || telemetry::log_request(method.as_str(), route, status.as_u16(), elapsed, id);
        match &span {
            Some(span) => span.in_scope(line),
            None => line(),
        }
    }
    if let Some(metrics) = &metrics {
        metrics.http_request(
            route.unwrap_or_else(|| "(unmatched)".to_owned()),
            method.as_str(),
            status.as_u16(),
            elapsed.as_secs_f64(),
        );
    }
    outcome
}

/// Counts an answered API request of a known key or token toward its usage,
/// and queues it for the request log if it was refused or sampled.
fn count_usage(
    request: &actix_web::HttpRequest,
    status: u16,
    error_code: Option<&'static str>,
    route: Option<&str>,
    method: &Method,
    id: &str,
    started: Instant,
) {
    let extensions = request.extensions();
    let Some(tag) = extensions.get::<crate::auth::verifier::usage::UsageTag>() else {
        return;
    };
    let Some(state) = request.app_data::<web::Data<AppState>>() else {
        return;
    };
    let Some(usage) = state.verifier.usage() else {
        return;
    };
    let answered = crate::auth::verifier::usage::Answered {
        method: method.as_str(),
        route: route.unwrap_or("(unmatched)"),
        status,
        error_code,
        latency_us: i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX),
        request_id: id,
    };
    usage.record(tag, state.verifier.clock().now(), &answered);
}

/// [`crate::headers::SECURITY_HEADERS`] as header names and values, checked
/// once rather than on every response.
static SECURITY_HEADERS: std::sync::LazyLock<Vec<(header::HeaderName, header::HeaderValue)>> =
    std::sync::LazyLock::new(|| {
        crate::headers::SECURITY_HEADERS
            .iter()
            .map(|(name, value)| {
                (
                    header::HeaderName::from_static(name),
                    header::HeaderValue::from_static(value),
                )
            })
            .collect()
    });

/// The security headers (but those a handler chose, such as an asset's
/// `Cache-Control`), HSTS under https, and the request id.
fn harden(headers: &mut header::HeaderMap, id: telemetry::RequestId, https: bool) {
    for (name, value) in SECURITY_HEADERS.iter() {
        if !headers.contains_key(name) {
            // Both made from static text: cloning copies no bytes.
            headers.insert(name.clone(), value.clone());
        }
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            header::HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    if let Ok(value) = header::HeaderValue::from_str(id.as_str()) {
        headers.insert(REQUEST_ID, value);
    }
}

/// An inner layer's error on its way out: answered as that error would be, in
/// the request's scope (so its page names the id), with the headers added.
#[derive(Debug)]
struct Hardened {
    inner: actix_web::Error,
    id: telemetry::RequestId,
    https: bool,
}

impl std::fmt::Display for Hardened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl ResponseError for Hardened {
    fn status_code(&self) -> StatusCode {
        self.inner.as_response_error().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = telemetry::sync_with_request_id(self.id, || {
            self.inner.as_response_error().error_response()
        });
        harden(response.headers_mut(), self.id, self.https);
        response
    }
}

/// A handler panicked: a 500 that shows only the request id.
#[derive(Debug, thiserror::Error)]
#[error("a handler panicked")]
struct Panicked {
    api: bool,
}

impl ResponseError for Panicked {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        if self.api {
            internal_error_document()
        } else {
            AppError::internal("a handler panicked").error_response()
        }
    }
}

/// The JSON:API answer to a panic under `/api`, with the request id.
fn internal_error_document() -> HttpResponse {
    api_refusal(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "Internal error",
        "An unexpected error occurred; it has been logged.",
    )
}

/// The response header naming the request id.
pub const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// Checks the request path: decoded, it must be UTF-8 without control characters.
/// Every id the routes take comes from the path, so a NUL byte never reaches a
/// query (PostgreSQL refuses one with an error). Returns why it was refused.
pub fn check_path(path: &str) -> Result<(), &'static str> {
    // Raw control bytes never pass the HTTP parser; only escapes can carry them.
    if !path.contains('%') {
        return Ok(());
    }
    match percent_encoding::percent_decode_str(path).decode_utf8() {
        Err(_) => Err("the path is not valid UTF-8"),
        Ok(decoded) if decoded.chars().any(char::is_control) => {
            Err("the path contains a control character")
        }
        Ok(_) => Ok(()),
    }
}

/// Refuses, before any work: oversized headers (431, and the connection is
/// closed, RFC 6585 §5), and a compressed request body (415): no route takes
/// one, and a small compressed body can inflate to a huge one. Runs inside
/// [`every_response`], in the request's scope, so a refusal names its id.
fn refuse_request_head(req: &ServiceRequest, api: bool) -> Option<HttpResponse> {
    let total: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if total > MAX_HEADER_BYTES {
        let mut response = if api {
            api_refusal(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                "Headers too large",
                "The request's headers are larger than 16 KiB.",
            )
        } else {
            AppError::HeadersTooLarge.error_response()
        };
        response
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
        return Some(response);
    }
    let compressed = req
        .headers()
        .get_all(header::CONTENT_ENCODING)
        .any(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    compressed.then(|| {
        if api {
            api_refusal(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_content_encoding",
                "Unsupported content encoding",
                "Send the body uncompressed (no Content-Encoding).",
            )
        } else {
            AppError::UnsupportedMediaType.error_response()
        }
    })
}

/// A JSON:API error answered by middleware under `/api`, with the request id.
fn api_refusal(status: StatusCode, code: &str, title: &str, detail: &str) -> HttpResponse {
    let body = serde_json::json!({
        "errors": [{
            "status": status.as_u16().to_string(),
            "code": code,
            "title": title,
            "detail": detail,
        }],
        "meta": { "request_id": telemetry::request_id() },
    });
    HttpResponse::build(status)
        .content_type("application/vnd.api+json")
        .body(body.to_string())
}

/// Turns a failure of the session store (the database, in practice) into a 503
/// page rather than actix-session's opaque 500.
pub async fn session_store_outage(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use actix_session::storage::{LoadError, SaveError, UpdateError};
    match next.call(req).await {
        Err(e)
            if e.as_error::<InternalError<LoadError>>().is_some()
                || e.as_error::<InternalError<SaveError>>().is_some()
                || e.as_error::<InternalError<UpdateError>>().is_some()
                || e.as_error::<InternalError<anyhow::Error>>().is_some() =>
        {
            Err(AppError::Unavailable(format!("session store: {e}")).into())
        }
        other => other,
    }
}

/// Decodes `application/x-www-form-urlencoded` (or a query string) strictly: every
/// name and value must be UTF-8 without control characters (tab and newlines aside).
/// Returns the pairs, or why they were refused.
pub fn decode_form(raw: &[u8]) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    for part in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match part.iter().position(|b| *b == b'=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &[][..]),
        };
        let decode = |bytes: &[u8]| -> Result<String, String> {
            let plus_as_space: Vec<u8> = bytes
                .iter()
                .map(|b| if *b == b'+' { b' ' } else { *b })
                .collect();
            let decoded = percent_encoding::percent_decode(&plus_as_space)
                .decode_utf8()
                .map_err(|_| "a field is not valid UTF-8".to_owned())?;
            if has_control_chars(&decoded) {
                return Err("a field contains a NUL byte or another control character".to_owned());
            }
            Ok(decoded.into_owned())
        };
        pairs.push((decode(name)?, decode(value)?));
    }
    Ok(pairs)
}

async fn read_body(payload: &mut Payload) -> Result<Bytes, AppError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| AppError::BadRequest(format!("unreadable body ({e})")))?;
        if body.len() + chunk.len() > MAX_FORM_BYTES {
            return Err(AppError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The console's request guard: the query string of every request, and the body and
/// CSRF token of every state-changing request, are checked before routing to a handler.
pub async fn guard_console_requests(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    check_path(req.path()).map_err(|why| AppError::BadRequest(why.to_owned()))?;
    decode_form(req.query_string().as_bytes()).map_err(AppError::BadRequest)?;
    // The console changes state only on POST; other methods find no handler
    // and get 405 from the routes, before any body is read.
    if *req.method() == Method::POST {
        if let Some(why) = foreign_origin(&req) {
            refused(&req, why).await;
            return Err(AppError::CrossSite.into());
        }
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
            .unwrap_or(false);
        if !is_form {
            return Err(AppError::UnsupportedMediaType.into());
        }
        let body = read_body(&mut req.take_payload()).await?;
        let pairs = decode_form(&body).map_err(AppError::BadRequest)?;
        match csrf::check_form(csrf::expected(&req.get_session()).as_deref(), &pairs) {
            Ok(()) => {}
            Err(csrf::Refusal::Twice) => {
                return Err(AppError::BadRequest("csrf_token is sent twice".to_owned()).into());
            }
            Err(csrf::Refusal::Wrong) => {
                crate::warn_limited!("csrf", "CSRF token missing or wrong; request refused");
                return Err(AppError::Csrf.into());
            }
        }
        req.set_payload(Payload::from(body));
    }
    next.call(req).await
}

/// Why a state-changing request comes from another site, if it does (OWASP's
/// CSRF prevention: Fetch Metadata, then the standard origin headers): the
/// browser says `Sec-Fetch-Site: cross-site`, or an `Origin` is sent that is not
/// the public URL's. A request without either (an old browser, a script) is left
/// to the CSRF token.
fn foreign_origin(req: &ServiceRequest) -> Option<&'static str> {
    let fetch_site = req
        .headers()
        .get(SEC_FETCH_SITE)
        .map(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if fetch_site == Some(true) {
        return Some("sent from another site (Sec-Fetch-Site: cross-site)");
    }
    let origin = req.headers().get(header::ORIGIN)?;
    let ours = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.public_url.origin().ascii_serialization())?;
    (origin.as_bytes() != ours.as_bytes()).then_some("sent from another origin (Origin)")
}

const SEC_FETCH_SITE: header::HeaderName = header::HeaderName::from_static("sec-fetch-site");

/// Audits a refused request with its path and actor, at most ten a minute per
/// client address (the next one counts those held back).
async fn refused(req: &ServiceRequest, why: &'static str) {
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return;
    };
    let actor = Actor {
        id: req
            .get_session()
            .get::<crate::domain::AdminId>(crate::auth::ADMIN_ID_KEY)
            .ok()
            .flatten(),
        ..crate::routes::extract::actor(req.request(), None, "")
    };
    let Some(suppressed) = state
        .refusals
        .allow(actor.ip.as_deref().unwrap_or("unknown"))
    else {
        return;
    };
    let path: String = req.path().chars().take(200).collect();
    let recorded = state
        .op(move |conn| {
            crate::services::security::request_refused(conn, &actor, &path, why, suppressed)
        })
        .await;
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "could not audit a refused request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn forms_decode_plus_and_percent() {
        assert_eq!(
            decode_form(b"a=1+2&b=%C3%A9&c&=x").unwrap(),
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "é".into()),
                ("c".into(), String::new()),
                (String::new(), "x".into())
            ]
        );
    }

    #[test]
    fn nul_bytes_and_bad_utf8_are_refused() {
        assert!(decode_form(b"name=a%00b").is_err());
        assert!(decode_form(b"name=%FF").is_err());
        assert!(decode_form(b"na%00me=x").is_err());
        assert!(decode_form(b"name=\xff").is_err());
        assert!(decode_form(b"desc=line1%0D%0Aline2%09tab").is_ok());
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_form(&bytes);
        }
    }
}
