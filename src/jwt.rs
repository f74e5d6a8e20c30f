//! Access tokens as JWTs in the RFC 9068 profile, signed with Ed25519 (EdDSA,
//! RFC 8037), and the JSON Web Key Set that publishes their public keys
//! (RFC 7517), so other services verify them offline.
//!
//! The rules of verification, each from its standard:
//! - the header's `typ` must be `at+jwt` (RFC 9068 §4), its `alg` `EdDSA` and
//!   nothing else (RFC 8725 §3.1: never `none`, never an HMAC over a public key),
//!   and its `kid` one of the published keys;
//! - `iss` must be the issuer of the organization whose key signed it, `aud`
//!   this server's API, and `exp` in the future (RFC 9068 §4, RFC 7519
//!   §4.1.4), with no leeway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::secrets::{SealingKey, random_bytes, random_token};

/// The media type of an access token's header (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// The only algorithm issued and accepted.
pub const ALGORITHM: &str = "EdDSA";

/// The audience of the access tokens this server issues, whichever
/// organization's: its API under the `public` URL (RFC 9068 §3, the resource
/// the token is for).
pub fn audience(public: &str) -> String {
    format!("{public}/api")
}

/// An access token's claims (RFC 9068 §2.2, plus Keyward's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The issuing organization's issuer.
    pub iss: String,
    /// The user: `employee:<id>` or `guest:<id>`.
    pub sub: String,
    /// The resource: this server's API.
    pub aud: String,
    /// The app (its Application ID).
    pub client_id: String,
    /// The permissions, space-separated (RFC 8693 §4.2).
    pub scope: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// This token's unique id.
    pub jti: String,
    /// The sign-in (token family) it belongs to.
    pub sid: String,
    /// `employee` or `guest`.
    pub user_type: String,
    /// The organization.
    pub org_id: String,
}

/// An ID token's claims (OpenID Connect Core 1.0 §2, §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdClaims {
    /// The issuing organization's issuer.
    pub iss: String,
    /// The user: `employee:<id>` or `guest:<id>`, as in access tokens.
    pub sub: String,
    /// The app (its Application ID).
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the user typed their password.
    pub auth_time: i64,
    /// The authorization request's `nonce`, if it had one (§3.1.2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The hosted session (OpenID Connect RP-Initiated Logout uses it).
    pub sid: String,
    /// With the `email` scope (§5.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// With the `profile` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The `typ` of an ID token's header: a plain JWT, never `at+jwt`, so an ID
/// token is never taken for an access token (RFC 9068 §4, RFC 8725 §3.11).
pub const ID_TOKEN_TYP: &str = "JWT";

/// Why a presented token is not a valid access token. Never echoes the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, a wrong `typ`, `alg` or `kid`, a bad signature, the wrong
    /// issuer or audience.
    #[error("the access token is not valid")]
    Invalid,
    /// Past its `exp`.
    #[error("the access token has expired")]
    Expired,
    /// Well formed, but signed by a key this set does not hold (yet): the
    /// caller may read the published keys again.
    #[error("the access token's signing key is unknown")]
    UnknownKey,
}

/// The sealing context of a signing key's private half: bound to its kid.
fn context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// A new Ed25519 key: its kid, public key (base64url) and sealed private key.
pub fn generate_key(sealing: &SealingKey) -> (String, String, String) {
    let seed = random_bytes::<32>();
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let kid = random_token::<12>();
    let public = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
    let sealed = sealing.seal(&seed, &context(&kid));
    (kid, public, sealed)
}

/// A key that signs, opened from its sealed form.
pub struct Signer {
    kid: String,
    key: EncodingKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Opens a sealed private key; `None` if it does not open under this
    /// server's secret key (another key, or altered).
    pub fn open(kid: &str, sealed: &str, sealing: &SealingKey) -> Option<Self> {
        let seed: [u8; 32] = sealing.open(sealed, &context(kid))?.try_into().ok()?;
        let der = ed25519_dalek::SigningKey::from_bytes(&seed)
            .to_pkcs8_der()
            .ok()?;
        Some(Self {
            kid: kid.to_owned(),
            key: EncodingKey::from_ed_der(der.as_bytes()),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The signed token of `claims`.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYP.to_owned());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
    }

    /// The signed ID token of `claims`.
    pub fn sign_id_token(&self, claims: &IdClaims) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ID_TOKEN_TYP.to_owned());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
    }
}

/// The signing keys opened so far, by kid: a key is unsealed once per process,
/// not once per token.
#[derive(Debug, Default)]
pub struct Signers {
    opened: Mutex<HashMap<String, Arc<Signer>>>,
}

impl Signers {
    /// The signer of the key `kid` sealed as `sealed`; `None` when it does not
    /// open under this server's secret key.
    pub fn get(&self, kid: &str, sealed: &str, sealing: &SealingKey) -> Option<Arc<Signer>> {
        if let Some(signer) = self.opened.lock().ok()?.get(kid) {
            return Some(Arc::clone(signer));
        }
        let signer = Arc::new(Signer::open(kid, sealed, sealing)?);
        if let Ok(mut opened) = self.opened.lock() {
            // A handful of keys in a server's life: rotations are rare.
            if opened.len() > 64 {
                opened.clear();
            }
            opened.insert(kid.to_owned(), Arc::clone(&signer));
        }
        Some(signer)
    }
}

/// One published key: its organization, that organization's issuer, and the
/// key.
struct Published {
    org: String,
    issuer: String,
    key: DecodingKey,
}

/// The published public keys, by kid, with their organization and its issuer.
#[derive(Default)]
pub struct PublicKeys {
    keys: HashMap<String, Published>,
}

impl std::fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.keys.keys()).finish()
    }
}

impl PublicKeys {
    /// The set of `(kid, organization id, its issuer, base64url public key)`.
    pub fn new<'a>(keys: impl IntoIterator<Item = (&'a str, &'a str, String, &'a str)>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .filter_map(|(kid, org, issuer, x)| {
                    let key = DecodingKey::from_ed_components(x).ok()?;
                    let org = org.to_owned();
                    Some((kid.to_owned(), Published { org, issuer, key }))
                })
                .collect(),
        }
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The claims of `token` if it is an access token signed by one of these
    /// keys, issued by that key's organization for this `audience`, unexpired
    /// at `now` (seconds).
    pub fn verify(
        &self,
        token: &str,
        audience: &str,
        now: i64,
    ) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        // RFC 9068 §4: the typ must say at+jwt; RFC 8725 §3.1: only our algorithm.
        if header.alg != Algorithm::EdDSA
            || !header.typ.as_deref().is_some_and(|t| {
                t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP)
                    || t.eq_ignore_ascii_case("application/at+jwt")
            })
        {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let Published { org, issuer, key } = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        // RFC 9068 §4: the issuer must be the one whose key signed it: another
        // organization's issuer with this key is refused.
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Expiry is checked below against our own clock, with no leeway.
        validation.validate_exp = false;
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        // A key signs for its own organization only.
        if &claims.org_id != org {
            return Err(TokenError::Invalid);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

impl PublicKeys {
    /// The claims of an ID token one of these keys signed, with its
    /// organization, expired or not: an `id_token_hint` (RP-Initiated Logout
    /// §2) may be an old one. Only the signature, the `typ`, the `alg` and
    /// `iss` (the key's organization's issuer) are checked.
    pub fn verify_id_token_hint(&self, token: &str) -> Result<(IdClaims, String), TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA
            || !header
                .typ
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(ID_TOKEN_TYP))
        {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let Published { org, issuer, key } = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "sub", "aud"]);
        let data = jsonwebtoken::decode::<IdClaims>(token, key, &validation)
            .map_err(|_| TokenError::Invalid)?;
        Ok((data.claims, org.clone()))
    }
}

/// The JSON Web Key Set of these `(kid, base64url public key)` (RFC 7517 §5,
/// RFC 8037 §2 for the OKP key type).
pub fn jwks<'a>(keys: impl IntoIterator<Item = (&'a str, &'a str)>) -> serde_json::Value {
    let keys: Vec<serde_json::Value> = keys
        .into_iter()
        .map(|(kid, x)| {
            serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": x,
                "kid": kid,
                "alg": ALGORITHM,
                "use": "sig",
            })
        })
        .collect();
    serde_json::json!({ "keys": keys })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::MasterKey;

    fn claims(now: i64) -> AccessClaims {
        AccessClaims {
            iss: "https://keyward.example".into(),
            sub: "employee:e1".into(),
            aud: "https://keyward.example/api".into(),
            client_id: "app1".into(),
            scope: "services:read".into(),
            exp: now + 900,
            iat: now,
            jti: "j1".into(),
            sid: "f1".into(),
            user_type: "employee".into(),
            org_id: "o1".into(),
        }
    }

    #[test]
    fn a_signed_token_verifies_and_nothing_else_does() {
        let sealing = MasterKey::from_bytes(b"0123456789abcdef0123456789abcdef").sealing_key();
        let (kid, public, sealed) = generate_key(&sealing);
        let signer = Signer::open(&kid, &sealed, &sealing).unwrap();
        let iss = "https://keyward.example";
        let keys = PublicKeys::new([(kid.as_str(), "o1", iss.to_owned(), public.as_str())]);
        let now = 1_800_000_000;
        let token = signer.sign(&claims(now)).unwrap();
        let aud = "https://keyward.example/api";
        assert_eq!(keys.verify(&token, aud, now), Ok(claims(now)));
        assert_eq!(
            keys.verify(&token, aud, now + 900),
            Err(TokenError::Expired)
        );
        assert_eq!(
            keys.verify(&token, "https://other.example/api", now),
            Err(TokenError::Invalid)
        );
        // The key's organization issues under another issuer: this token,
        // naming the server's own, is not its.
        let elsewhere = "https://keyward.example/o/acme".to_owned();
        let moved = PublicKeys::new([(kid.as_str(), "o1", elsewhere, public.as_str())]);
        assert_eq!(moved.verify(&token, aud, now), Err(TokenError::Invalid));
        // Another organization's key does not vouch for this one's tokens.
        let foreign = PublicKeys::new([(kid.as_str(), "o2", iss.to_owned(), public.as_str())]);
        assert_eq!(foreign.verify(&token, aud, now), Err(TokenError::Invalid));
        // A changed payload breaks the signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        payload["scope"] = "services:read appointments:create".into();
        parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
        assert_eq!(
            keys.verify(&parts.join("."), aud, now),
            Err(TokenError::Invalid)
        );
        // The sealed key opens only with its own kid.
        assert!(Signer::open("other", &sealed, &sealing).is_none());
        let jwks = jwks([(kid.as_str(), public.as_str())]);
        assert_eq!(jwks["keys"][0]["kty"], "OKP");
        assert!(jwks.to_string().len() < 300 && !jwks.to_string().contains(&sealed));
    }
}
