//! The reader of an OAuth 2.0 authorization request (RFC 6749 §4.1.1, RFC 7636,
//! OpenID Connect Core §3.1.2.1). Any parameters: no panic; an accepted
//! request names its client and redirect URI once each, carries an S256
//! challenge of 43 base64url characters, a scope within the app's
//! permissions (and no OpenID Connect scope without openid), and a state and
//! nonce of bounded length; a refusal is one of the standard's error codes.
//! The redirect URI matches a registered one only when equal to it.
#![no_main]

use arbitrary::Arbitrary;
use keyward::domain::oauth::{
    AuthorizationRequest, AuthorizeError, MAX_STATE, RawAuthorization, is_registered,
};
use keyward::domain::scopes::PermissionSet;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    pairs: Vec<(String, String)>,
    /// Well-known names, so the parser's paths are reached often.
    known: Vec<(u8, String)>,
    registered: Vec<String>,
    other: String,
}

const NAMES: [&str; 12] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "code_challenge",
    "code_challenge_method",
    "scope",
    "state",
    "nonce",
    "prompt",
    "max_age",
    "login_hint",
    "request",
];

const CODES: [&str; 6] = [
    "invalid_request",
    "unsupported_response_type",
    "invalid_scope",
    "request_not_supported",
    "request_uri_not_supported",
    "unauthorized_client",
];

fuzz_target!(|input: Input| {
    let allowed = PermissionSet::from_stored("services:read appointments:create");
    let mut pairs = input.pairs;
    for (i, value) in input.known {
        pairs.push((NAMES[usize::from(i) % NAMES.len()].to_owned(), value));
    }
    if let Ok(raw) = RawAuthorization::from_pairs(pairs.clone()) {
        assert!(!raw.client_id.is_empty() && !raw.redirect_uri.is_empty());
        let mut names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a parameter accepted twice");
        match AuthorizationRequest::parse(&raw, &allowed) {
            Ok(request) => {
                let c = request.code_challenge.as_str();
                assert_eq!(c.len(), 43);
                assert!(c.bytes().all(|b| b.is_ascii_alphanumeric()
                    || b == b'-'
                    || b == b'_'
                    || b == b'.'
                    || b == b'~'));
                assert!(request.scope.permissions().is_subset(&allowed));
                assert!(!request.scope.permissions().is_empty());
                for oidc in ["profile", "email", "offline_access"] {
                    assert!(!request.scope.has(oidc) || request.scope.has("openid"));
                }
                assert!(request.state.as_ref().is_none_or(|s| s.len() <= MAX_STATE));
                assert!(request.nonce.as_ref().is_none_or(|s| s.len() <= MAX_STATE));
                assert_eq!(request.redirect_uri, raw.redirect_uri);
            }
            Err(AuthorizeError::Redirect { error, .. }) => {
                assert!(CODES.contains(&error), "{error}");
            }
            Err(AuthorizeError::Fatal(_)) => {}
        }
    }
    for candidate in input.registered.iter().chain(std::iter::once(&input.other)) {
        assert_eq!(
            is_registered(candidate, &input.registered),
            input.registered.contains(candidate)
        );
    }
});
