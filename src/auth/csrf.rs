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

/// Why a form's token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The form carries the field more than once.
    Twice,
    /// The field is missing, or not the session's token (or the session has none).
    Wrong,
}

/// The session's token, if it has one.
pub fn expected(session: &Session) -> Option<String> {
    session.get::<String>(SESSION_KEY).ok().flatten()
}

/// Checks a decoded form against the session's token (`expected`): exactly one
/// `csrf_token` field, equal to a non-empty token, compared in constant time.
pub fn check_form(expected: Option<&str>, form: &[(String, String)]) -> Result<(), Refusal> {
    let mut tokens = form.iter().filter(|(k, _)| k == FIELD);
    let submitted = tokens.next().map(|(_, v)| v.as_str());
    if tokens.next().is_some() {
        return Err(Refusal::Twice);
    }
    match (expected, submitted) {
        (Some(e), Some(got)) if !e.is_empty() && constant_time_eq(e.as_bytes(), got.as_bytes()) => {
            Ok(())
        }
        _ => Err(Refusal::Wrong),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn one_field_equal_to_the_sessions_token_passes() {
        let ok = form(&[("name", "x"), (FIELD, "tok")]);
        assert_eq!(check_form(Some("tok"), &ok), Ok(()));
        assert_eq!(check_form(None, &ok), Err(Refusal::Wrong));
        assert_eq!(check_form(Some("tok2"), &ok), Err(Refusal::Wrong));
        assert_eq!(
            check_form(Some("tok"), &form(&[("name", "x")])),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            check_form(Some(""), &form(&[(FIELD, "")])),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            check_form(Some("tok"), &form(&[(FIELD, "tok"), (FIELD, "tok")])),
            Err(Refusal::Twice)
        );
    }
}
