//! CSRF tokens: one random token per session, in a hidden field of every form.
//!
//! The request guard checks it on every state-changing console request before any
//! handler runs; pages put it in their forms through the layout.

use actix_session::Session;

use crate::error::AppError;
use crate::secrets::{constant_time_eq, random_token};

/// The session key of the token.
pub const SESSION_KEY: &str = "csrf";
/// The form field carrying it.
pub const FIELD: &str = "csrf_token";

/// The session's token, made on first use.
pub fn token(session: &Session) -> Result<String, AppError> {
    if let Ok(Some(token)) = session.get::<String>(SESSION_KEY) {
        return Ok(token);
    }
    rotate(session)
}

/// A new token for the session (at sign-in).
pub fn rotate(session: &Session) -> Result<String, AppError> {
    let token = random_token::<32>();
    session
        .insert(SESSION_KEY, &token)
        .map_err(AppError::internal)?;
    Ok(token)
}

/// Whether `submitted` is the session's token.
pub fn verify(session: &Session, submitted: Option<&str>) -> bool {
    match (session.get::<String>(SESSION_KEY).ok().flatten(), submitted) {
        (Some(expected), Some(got)) => constant_time_eq(expected.as_bytes(), got.as_bytes()),
        _ => false,
    }
}
