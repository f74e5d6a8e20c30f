//! Request-wide behaviour: security headers, size limits, request logging, and the
//! guard that checks every console form (encoding, NUL bytes, CSRF) before any
//! handler sees it.

use std::time::Instant;

use actix_session::SessionExt;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::{Method, header};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::web::{Bytes, BytesMut};
use futures_util::StreamExt;
use tracing::Instrument;

use crate::auth::csrf;
use crate::domain::has_control_chars;
use crate::error::AppError;

/// Largest console form body accepted.
pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// Largest total size of a request's headers.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Headers on every response. `Cache-Control: no-store` is the default; static
/// assets set their own. Errors raised by middleware skip this layer, so
/// [`AppError`] adds the same headers itself.
pub fn security_headers(https: bool) -> DefaultHeaders {
    let headers = crate::headers::SECURITY_HEADERS
        .iter()
        .fold(DefaultHeaders::new(), |h, pair| h.add(*pair));
    if https {
        headers.add((
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ))
    } else {
        headers
    }
}

/// One log line per request: method, route pattern (never the raw path or query,
/// which may carry tokens), status and latency, inside a span with a request id.
pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    if !tracing::enabled!(tracing::Level::INFO) {
        return next.call(req).await;
    }
    let started = Instant::now();
    let request_id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let method = req.method().clone();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "(unmatched)".to_owned());
    let span = tracing::info_span!("request", id = request_id);
    let result = next.call(req).instrument(span.clone()).await;
    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        tracing::info!(%method, %route, status, latency_ms = format_args!("{latency_ms:.2}"), "handled");
    });
    result
}

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

/// Refuses oversized headers (431) before any work.
pub async fn limit_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let total: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if total > MAX_HEADER_BYTES {
        return Err(AppError::HeadersTooLarge.into());
    }
    next.call(req).await
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
    if !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
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
        let submitted = pairs
            .iter()
            .find(|(k, _)| k == csrf::FIELD)
            .map(|(_, v)| v.as_str());
        if !csrf::verify(&req.get_session(), submitted) {
            tracing::warn!("CSRF token missing or wrong; request refused");
            return Err(AppError::Csrf.into());
        }
        req.set_payload(Payload::from(body));
    }
    next.call(req).await
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
