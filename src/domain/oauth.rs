//! The parts of an OAuth 2.0 authorization request (RFC 6749 §4.1.1, RFC 7636,
//! OpenID Connect Core 1.0 §3.1.2.1), each valid by construction: the scope
//! (OpenID Connect's scopes and the app's permissions), the PKCE challenge and
//! verifier, and the exact match of a redirect URI.
//!
//! Nothing here knows an app or a user: the request is read from its
//! parameters, and [`AuthorizationRequest::parse`] says which refusals may go
//! back to the client's redirect URI and which must never redirect.

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::scopes::{Permission, PermissionSet};

/// The OpenID Connect scopes Keyward knows (OIDC Core §5.4, §11): `openid`
/// asks for an ID token, `profile` and `email` for those claims,
/// `offline_access` for a refresh token (which every sign-in gets anyway).
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A granted scope: OpenID Connect's scopes and the app's permissions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    oidc: BTreeSet<&'static str>,
    permissions: PermissionSet,
}

/// Why a scope is refused (RFC 6749 §4.1.2.1 `invalid_scope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeError(pub &'static str);

impl Scope {
    /// Permissions only, as the password grant gives.
    pub fn permissions_only(permissions: PermissionSet) -> Self {
        Self {
            oidc: BTreeSet::new(),
            permissions,
        }
    }

    /// Reads a requested scope (space-separated, RFC 6749 §3.3): each word an
    /// OpenID Connect scope or one of `allowed`; absent or empty, all of
    /// `allowed` and no OpenID Connect scope.
    pub fn parse(raw: Option<&str>, allowed: &PermissionSet) -> Result<Self, ScopeError> {
        let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
            return Ok(Self::permissions_only(*allowed));
        };
        let mut oidc = BTreeSet::new();
        let mut permissions = Vec::new();
        for word in raw.split(' ').filter(|w| !w.is_empty()) {
            if let Some(known) = OIDC_SCOPES.iter().find(|s| **s == word) {
                oidc.insert(*known);
            } else {
                permissions.push(Permission::parse(word).ok_or(ScopeError(
                    "The scope names a permission that does not exist.",
                ))?);
            }
        }
        let permissions = PermissionSet::from_stored(
            &permissions
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        );
        if !permissions.is_subset(allowed) {
            return Err(ScopeError(
                "The scope asks for a permission this app does not grant.",
            ));
        }
        // OIDC Core §3.1.2.1: the other OpenID Connect scopes mean nothing
        // without openid.
        if !oidc.is_empty() && !oidc.contains("openid") {
            return Err(ScopeError(
                "profile, email and offline_access are OpenID Connect scopes: add openid.",
            ));
        }
        // Asking for identity alone gives the app's permissions too: an app's
        // user signs in to use its API.
        let permissions = if permissions.is_empty() {
            *allowed
        } else {
            permissions
        };
        Ok(Self { oidc, permissions })
    }

    /// A stored scope: unknown words are ignored.
    pub fn from_stored(stored: &str) -> Self {
        Self {
            oidc: stored
                .split_whitespace()
                .filter_map(|w| OIDC_SCOPES.iter().find(|s| **s == w).copied())
                .collect(),
            permissions: PermissionSet::from_stored(stored),
        }
    }

    /// The stored and announced form: the OpenID Connect scopes, then the
    /// permissions, space-separated.
    pub fn to_stored(&self) -> String {
        let mut words: Vec<String> = OIDC_SCOPES
            .iter()
            .filter(|s| self.oidc.contains(*s))
            .map(|s| (*s).to_owned())
            .collect();
        let permissions = self.permissions.to_stored();
        if !permissions.is_empty() {
            words.push(permissions);
        }
        words.join(" ")
    }

    /// The permissions.
    pub fn permissions(&self) -> &PermissionSet {
        &self.permissions
    }

    /// The same OpenID Connect scopes with other permissions.
    pub fn with_permissions(&self, permissions: PermissionSet) -> Self {
        Self {
            oidc: self.oidc.clone(),
            permissions,
        }
    }

    /// Whether it has this OpenID Connect scope.
    pub fn has(&self, oidc_scope: &str) -> bool {
        self.oidc.contains(oidc_scope)
    }
}

/// Whether `s` is 43 to 128 of RFC 7636's unreserved characters (§4.1: a
/// verifier; §4.2: an S256 challenge is 43 of them).
fn is_pkce_text(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 code challenge (RFC 7636 §4.2): BASE64URL(SHA256(verifier)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Reads a challenge; `None` unless it has the form of an S256 one.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 43 && is_pkce_text(raw)).then(|| Self(raw.to_owned()))
    }

    /// The challenge.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` is the one this challenge was made from (§4.6),
    /// compared in constant time.
    pub fn is_met_by(challenge: &str, verifier: &str) -> bool {
        if !is_pkce_text(verifier) {
            return false;
        }
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        use subtle::ConstantTimeEq;
        computed.len() == challenge.len()
            && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
    }
}

/// Whether `presented` is one of `registered` byte for byte: no
/// normalisation, no prefix, no case folding (RFC 9700 §2.1, §4.1.3; OIDC
/// Core §3.1.2.1 "MUST exactly match").
pub fn is_registered(presented: &str, registered: &[String]) -> bool {
    registered.iter().any(|r| r == presented)
}

/// What `prompt` asks (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prompt {
    /// Whatever the session allows.
    #[default]
    Default,
    /// Ask for the password even with a session.
    Login,
    /// Never show a page: a session, or `login_required`.
    None,
}

/// A refusal of an authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or its redirect URI cannot be trusted: an error page, never
    /// a redirect (RFC 6749 §4.1.2.1, first paragraph).
    Fatal(String),
    /// Told to the client at its redirect URI (§4.1.2.1's codes).
    Redirect {
        /// The `error` code.
        error: &'static str,
        /// The `error_description`.
        description: String,
    },
}

impl AuthorizeError {
    fn redirect(error: &'static str, description: impl Into<String>) -> Self {
        Self::Redirect {
            error,
            description: description.into(),
        }
    }
}

/// The longest `state` and `nonce` accepted.
pub const MAX_STATE: usize = 1024;

/// An authorization request's parameters, each sent at most once (RFC 6749
/// §3.1), before the client and redirect URI are checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawAuthorization {
    /// `client_id`: the Application ID.
    pub client_id: String,
    /// `redirect_uri`.
    pub redirect_uri: String,
    /// Every other parameter, by name.
    pub rest: Vec<(String, String)>,
}

impl RawAuthorization {
    /// Reads the pairs of the query: `client_id` and `redirect_uri` present and
    /// once; no known parameter twice.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, AuthorizeError> {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for (name, _) in &pairs {
            if !seen.insert(name.as_str()) {
                return Err(AuthorizeError::Fatal(format!(
                    "The {} parameter is sent more than once.",
                    name.chars().take(40).collect::<String>()
                )));
            }
        }
        let mut raw = Self::default();
        for (name, value) in pairs {
            match name.as_str() {
                "client_id" => raw.client_id = value,
                "redirect_uri" => raw.redirect_uri = value,
                _ => raw.rest.push((name, value)),
            }
        }
        if raw.client_id.is_empty() {
            return Err(AuthorizeError::Fatal(
                "The request names no app (client_id).".to_owned(),
            ));
        }
        if raw.redirect_uri.is_empty() {
            return Err(AuthorizeError::Fatal(
                "The request has no redirect_uri.".to_owned(),
            ));
        }
        Ok(raw)
    }

    /// The value of a parameter other than the client and redirect URI.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.rest
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The `state`, as it may be sent back (bounded; an overlong one is
    /// refused by [`AuthorizationRequest::parse`] and not echoed).
    pub fn state(&self) -> Option<&str> {
        self.get("state").filter(|s| s.len() <= MAX_STATE)
    }
}

/// A valid authorization request, for a client whose redirect URI matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The Application ID.
    pub client_id: String,
    /// The registered redirect URI it named.
    pub redirect_uri: String,
    /// `state`, sent back as it came.
    pub state: Option<String>,
    /// The S256 challenge.
    pub code_challenge: CodeChallenge,
    /// The granted scope.
    pub scope: Scope,
    /// `nonce`, put in the ID token (OIDC Core §3.1.2.1).
    pub nonce: Option<String>,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age` in seconds: an older sign-in asks for the password again.
    pub max_age: Option<i64>,
    /// `login_hint`: the email to fill in.
    pub login_hint: Option<String>,
}

impl AuthorizationRequest {
    /// Reads the rest of a request whose client and redirect URI are trusted:
    /// every refusal goes back to the redirect URI.
    pub fn parse(raw: &RawAuthorization, allowed: &PermissionSet) -> Result<Self, AuthorizeError> {
        use AuthorizeError as E;
        if raw.get("state").is_some_and(|s| s.len() > MAX_STATE) {
            return Err(E::redirect(
                "invalid_request",
                "state is longer than 1024 characters.",
            ));
        }
        // OIDC Core §6.1, §6.2: request objects are not supported.
        if raw.get("request").is_some() {
            return Err(E::redirect(
                "request_not_supported",
                "Request objects are not supported.",
            ));
        }
        if raw.get("request_uri").is_some() {
            return Err(E::redirect(
                "request_uri_not_supported",
                "request_uri is not supported.",
            ));
        }
        match raw.get("response_type") {
            Some("code") => {}
            None => return Err(E::redirect("invalid_request", "response_type is missing.")),
            Some(_) => {
                return Err(E::redirect(
                    "unsupported_response_type",
                    "Only response_type=code is supported.",
                ));
            }
        }
        if raw.get("response_mode").is_some_and(|m| m != "query") {
            return Err(E::redirect(
                "invalid_request",
                "Only response_mode=query is supported.",
            ));
        }
        // RFC 7636 §4.4.1: a public client's request without a challenge is
        // refused; RFC 9700 §2.1.1: every client uses PKCE, with S256.
        let Some(challenge) = raw.get("code_challenge") else {
            return Err(E::redirect(
                "invalid_request",
                "code_challenge is required (PKCE, RFC 7636).",
            ));
        };
        match raw.get("code_challenge_method") {
            Some("S256") => {}
            None | Some("plain") => {
                return Err(E::redirect(
                    "invalid_request",
                    "code_challenge_method must be S256; plain is not accepted.",
                ));
            }
            Some(_) => {
                return Err(E::redirect(
                    "invalid_request",
                    "code_challenge_method must be S256.",
                ));
            }
        }
        let code_challenge = CodeChallenge::parse(challenge).ok_or_else(|| {
            E::redirect(
                "invalid_request",
                "code_challenge is not an S256 challenge (43 base64url characters).",
            )
        })?;
        let scope = Scope::parse(raw.get("scope"), allowed)
            .map_err(|ScopeError(why)| E::redirect("invalid_scope", why))?;
        let nonce = raw.get("nonce").map(str::to_owned);
        if nonce.as_ref().is_some_and(|n| n.len() > MAX_STATE) {
            return Err(E::redirect(
                "invalid_request",
                "nonce is longer than 1024 characters.",
            ));
        }
        let prompt = match raw.get("prompt") {
            None => Prompt::Default,
            Some(p) => {
                let words: BTreeSet<&str> = p.split(' ').filter(|w| !w.is_empty()).collect();
                if words.contains("none") && words.len() > 1 {
                    return Err(E::redirect(
                        "invalid_request",
                        "prompt=none cannot be combined with another value.",
                    ));
                }
                if let Some(other) = words
                    .iter()
                    .find(|w| !matches!(**w, "none" | "login" | "consent" | "select_account"))
                {
                    return Err(E::redirect(
                        "invalid_request",
                        format!(
                            "prompt={} is not supported.",
                            other.chars().take(40).collect::<String>()
                        ),
                    ));
                }
                if words.contains("none") {
                    Prompt::None
                } else if words.contains("login") {
                    Prompt::Login
                } else {
                    // consent and select_account: the admin registered the
                    // app, so there is no consent to ask, and one account.
                    Prompt::Default
                }
            }
        };
        let max_age = match raw.get("max_age") {
            None => None,
            Some(v) => Some(
                v.parse::<i64>()
                    .ok()
                    .filter(|n| (0..=10 * 365 * 86_400).contains(n))
                    .ok_or_else(|| {
                        E::redirect("invalid_request", "max_age must be a number of seconds.")
                    })?,
            ),
        };
        let login_hint = raw
            .get("login_hint")
            .filter(|h| h.len() <= 254)
            .map(str::to_owned);
        Ok(Self {
            client_id: raw.client_id.clone(),
            redirect_uri: raw.redirect_uri.clone(),
            state: raw.get("state").map(str::to_owned),
            code_challenge,
            scope,
            nonce,
            prompt,
            max_age,
            login_hint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> PermissionSet {
        PermissionSet::from_stored("services:read appointments:create")
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("client_id", "app"),
            ("redirect_uri", "https://app.example/cb"),
            ("response_type", "code"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("scope", "openid email services:read"),
            ("state", "s1"),
            ("nonce", "n1"),
        ]
    }

    fn parse(list: &[(&str, &str)]) -> Result<AuthorizationRequest, AuthorizeError> {
        let raw = RawAuthorization::from_pairs(pairs(list))?;
        AuthorizationRequest::parse(&raw, &allowed())
    }

    fn error_of(list: &[(&str, &str)]) -> &'static str {
        match parse(list) {
            Err(AuthorizeError::Redirect { error, .. }) => error,
            other => panic!("expected a redirect error, got {other:?}"),
        }
    }

    #[test]
    fn rfc_7636_appendix_b_verifier_meets_its_challenge() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(CodeChallenge::is_met_by(CHALLENGE, verifier));
        assert!(!CodeChallenge::is_met_by(
            CHALLENGE,
            &verifier.replace('d', "e")
        ));
        // The verifier itself is not its challenge (that would be plain).
        assert!(!CodeChallenge::is_met_by(verifier, verifier));
        assert!(!CodeChallenge::is_met_by(CHALLENGE, "short"));
    }

    #[test]
    fn a_good_request_reads_whole() {
        let request = parse(&good()).unwrap();
        assert_eq!(request.state.as_deref(), Some("s1"));
        assert_eq!(request.nonce.as_deref(), Some("n1"));
        assert_eq!(request.scope.to_stored(), "openid email services:read");
        assert!(request.scope.has("openid") && !request.scope.has("profile"));
        assert_eq!(request.prompt, Prompt::Default);
    }

    #[test]
    fn the_client_and_redirect_uri_are_required_and_never_twice() {
        let mut twice = good();
        twice.push(("redirect_uri", "https://evil.example/"));
        assert!(matches!(parse(&twice), Err(AuthorizeError::Fatal(_))));
        let without: Vec<_> = good()
            .into_iter()
            .filter(|(k, _)| *k != "redirect_uri")
            .collect();
        assert!(matches!(parse(&without), Err(AuthorizeError::Fatal(_))));
        let without: Vec<_> = good()
            .into_iter()
            .filter(|(k, _)| *k != "client_id")
            .collect();
        assert!(matches!(parse(&without), Err(AuthorizeError::Fatal(_))));
    }

    fn with(name: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
        let mut list: Vec<_> = good().into_iter().filter(|(k, _)| *k != name).collect();
        if !value.is_empty() {
            list.push((name, value));
        }
        list
    }

    #[test]
    fn pkce_is_s256_only_and_required() {
        assert_eq!(error_of(&with("code_challenge", "")), "invalid_request");
        assert_eq!(
            error_of(&with("code_challenge_method", "plain")),
            "invalid_request"
        );
        assert_eq!(
            error_of(&with("code_challenge_method", "")),
            "invalid_request"
        );
        assert_eq!(error_of(&with("code_challenge", "abc")), "invalid_request");
    }

    #[test]
    fn other_refusals_carry_their_codes() {
        assert_eq!(
            error_of(&with("response_type", "token")),
            "unsupported_response_type"
        );
        assert_eq!(error_of(&with("response_type", "")), "invalid_request");
        assert_eq!(
            error_of(&with("scope", "openid payments:read")),
            "invalid_scope"
        );
        assert_eq!(error_of(&with("scope", "openid nothing")), "invalid_scope");
        assert_eq!(error_of(&with("scope", "email")), "invalid_scope");
        assert_eq!(error_of(&with("prompt", "none login")), "invalid_request");
        assert_eq!(error_of(&with("max_age", "-1")), "invalid_request");
        assert_eq!(error_of(&with("request", "eyJ")), "request_not_supported");
        assert_eq!(
            error_of(&with("response_mode", "fragment")),
            "invalid_request"
        );
    }

    #[test]
    fn scopes_default_to_the_apps_permissions() {
        let all = parse(&with("scope", "")).unwrap();
        assert_eq!(all.scope.permissions(), &allowed());
        assert!(!all.scope.has("openid"));
        let identity = parse(&with("scope", "openid")).unwrap();
        assert_eq!(identity.scope.permissions(), &allowed());
        let stored = identity.scope.to_stored();
        assert_eq!(Scope::from_stored(&stored), identity.scope);
    }

    #[test]
    fn redirect_uris_match_byte_for_byte() {
        let registered = vec!["https://app.example/cb".to_owned()];
        assert!(is_registered("https://app.example/cb", &registered));
        for other in [
            "https://app.example/cb/",
            "https://APP.example/cb",
            "https://app.example/cb?x=1",
            "https://app.example/cb#f",
            "https://app.example/cbx",
            "https://app.example/c%62",
            "https://app.example:443/cb",
        ] {
            assert!(!is_registered(other, &registered), "{other}");
        }
    }
}
