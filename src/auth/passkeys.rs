//! Passkeys and security keys for admins (WebAuthn Level 2, through
//! `webauthn-rs`): the relying party made from the public URL, and the
//! registration and authentication ceremonies as JSON in and out. The
//! ceremonies' states are kept by the caller on the server, sealed and used
//! once (the library's rule).
//!
//! WebAuthn §5.1.4.1 and §13.4.9: the RP ID is a domain, never an address,
//! so a server whose public URL names an IP address offers no passkeys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use url::Url;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse, Uuid,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// The relying party for `public_url`, or none when its host is not a
/// domain name (WebAuthn needs one; `localhost` counts).
pub fn relying_party(public_url: &Url) -> Option<Webauthn> {
    let host = match public_url.host()? {
        url::Host::Domain(d) => d.to_owned(),
        _ => return None,
    };
    let mut origin = public_url.clone();
    origin.set_path("");
    origin.set_query(None);
    WebauthnBuilder::new(&host, &origin)
        .ok()?
        .rp_name("Keyward")
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .ok()
}

/// Why a ceremony failed, without detail for the person (the log has it).
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The browser's answer is not WebAuthn JSON.
    #[error("the browser's answer could not be read")]
    Malformed,
    /// The ceremony's checks failed (wrong challenge, origin, signature…).
    #[error("the passkey was not accepted")]
    Refused,
}

/// A credential id as stored: base64url without padding.
pub fn credential_id_text(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

/// Starts registering a passkey for the admin with `user_id` (a stable
/// UUID derived from their id), excluding the credentials they have: the
/// options for `navigator.credentials.create()` and the state to keep.
pub fn start_registration(
    rp: &Webauthn,
    user_id: Uuid,
    email: &str,
    existing: &[Passkey],
) -> Result<(String, String), PasskeyError> {
    let exclude: Vec<_> = existing.iter().map(|p| p.cred_id().clone()).collect();
    let (options, state): (CreationChallengeResponse, PasskeyRegistration) = rp
        .start_passkey_registration(
            user_id,
            email,
            email,
            (!exclude.is_empty()).then_some(exclude),
        )
        .map_err(|e| {
            tracing::warn!(error = %e, "passkey registration could not start");
            PasskeyError::Refused
        })?;
    Ok((
        serde_json::to_string(&options).map_err(|_| PasskeyError::Malformed)?,
        serde_json::to_string(&state).map_err(|_| PasskeyError::Malformed)?,
    ))
}

/// Finishes a registration: the new passkey as JSON, and its credential id.
pub fn finish_registration(
    rp: &Webauthn,
    response: &str,
    state: &str,
) -> Result<(String, String), PasskeyError> {
    let response: RegisterPublicKeyCredential =
        serde_json::from_str(response).map_err(|_| PasskeyError::Malformed)?;
    let state: PasskeyRegistration =
        serde_json::from_str(state).map_err(|_| PasskeyError::Malformed)?;
    let passkey = rp
        .finish_passkey_registration(&response, &state)
        .map_err(|e| {
            tracing::info!(error = %e, "a passkey registration was refused");
            PasskeyError::Refused
        })?;
    let id = credential_id_text(passkey.cred_id().as_ref());
    Ok((
        serde_json::to_string(&passkey).map_err(|_| PasskeyError::Malformed)?,
        id,
    ))
}

/// Reads stored passkeys back (rows that no longer parse are skipped).
pub fn parse_stored<'a>(stored: impl IntoIterator<Item = &'a str>) -> Vec<Passkey> {
    stored
        .into_iter()
        .filter_map(|json| serde_json::from_str(json).ok())
        .collect()
}

/// Starts an authentication with the admin's passkeys: the options for
/// `navigator.credentials.get()` and the state to keep.
pub fn start_authentication(
    rp: &Webauthn,
    passkeys: &[Passkey],
) -> Result<(String, String), PasskeyError> {
    let (options, state): (RequestChallengeResponse, PasskeyAuthentication) =
        rp.start_passkey_authentication(passkeys).map_err(|e| {
            tracing::warn!(error = %e, "passkey authentication could not start");
            PasskeyError::Refused
        })?;
    Ok((
        serde_json::to_string(&options).map_err(|_| PasskeyError::Malformed)?,
        serde_json::to_string(&state).map_err(|_| PasskeyError::Malformed)?,
    ))
}

/// Finishes an authentication: the credential id that signed, and the
/// passkey's new JSON when its counter or backup state moved (WebAuthn
/// §6.1.1: a counter that does not grow may mean a cloned authenticator).
pub fn finish_authentication(
    rp: &Webauthn,
    response: &str,
    state: &str,
    passkeys: &[Passkey],
) -> Result<(String, Option<String>), PasskeyError> {
    let response: PublicKeyCredential =
        serde_json::from_str(response).map_err(|_| PasskeyError::Malformed)?;
    let state: PasskeyAuthentication =
        serde_json::from_str(state).map_err(|_| PasskeyError::Malformed)?;
    let result = rp
        .finish_passkey_authentication(&response, &state)
        .map_err(|e| {
            tracing::info!(error = %e, "a passkey authentication was refused");
            PasskeyError::Refused
        })?;
    let id = credential_id_text(result.cred_id().as_ref());
    let updated = passkeys
        .iter()
        .find(|p| p.cred_id() == result.cred_id())
        .cloned()
        .and_then(|mut p| {
            p.update_credential(&result)
                .filter(|changed| *changed)
                .and_then(|_| serde_json::to_string(&p).ok())
        });
    Ok((id, updated))
}

/// The WebAuthn user handle of an admin: a UUID made from their id, so it
/// stays the same for every passkey they register.
pub fn user_handle(admin_id: &str) -> Uuid {
    let digest = crate::secrets::sha256_hex(format!("webauthn-user:{admin_id}").as_bytes());
    let mut bytes = [0u8; 16];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&digest[i * 2..i * 2 + 2], 16).unwrap_or(0);
    }
    Uuid::from_bytes(bytes)
}
