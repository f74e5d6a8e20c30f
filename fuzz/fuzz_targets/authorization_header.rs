//! The `Authorization` header parser: never panics, and what it accepts is what
//! the documentation says (`apikey <key>` or `Bearer <token>`, one token of
//! visible ASCII, a key only with its checksum right).
#![no_main]

use actix_web::http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use keyward::auth::credentials::{self, Credential, CredentialError};
use keyward::domain::key_token::{KEY_PREFIX, KeyRef};
use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = credentials::parse(text);
    let trimmed = text.trim_matches([' ', '\t']);
    match &parsed {
        Ok(credential) => {
            let (scheme, token) = trimmed
                .split_once([' ', '\t'])
                .expect("an accepted value has a scheme and a token");
            let token = token.trim_matches([' ', '\t']);
            assert!(
                scheme.eq_ignore_ascii_case("apikey") || scheme.eq_ignore_ascii_case("bearer"),
                "accepted scheme {scheme:?}"
            );
            assert!(!token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()));
            match credential {
                Credential::ApiKey(key) => {
                    let again = KeyRef::parse(token).expect("the key parses on its own");
                    assert_eq!(again.public_id(), key.public_id());
                    assert_eq!(again.secret(), key.secret());
                }
                Credential::AccessToken(t) => {
                    assert!(
                        scheme.eq_ignore_ascii_case("bearer"),
                        "a token only as Bearer"
                    );
                    assert_eq!(t.expose_secret(), token);
                    assert!(!token.starts_with(KEY_PREFIX) || KeyRef::parse(token).is_err());
                }
            }
        }
        Err(CredentialError::Missing | CredentialError::Duplicate) => {
            panic!("the parser of one value cannot find it missing or doubled")
        }
        Err(_) => {}
    }
    // Through the header map, as a request brings it: the same answer, and a
    // second header is always refused as doubled.
    if let Ok(value) = HeaderValue::from_str(text) {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value.clone());
        let from_map = credentials::from_headers(&headers);
        if text.len() > 4096 || !text.is_ascii() {
            // Too long, or bytes beyond ASCII (obs-text): refused before parsing.
            assert_eq!(from_map.err(), Some(CredentialError::Malformed));
        } else {
            assert_eq!(from_map.is_ok(), parsed.is_ok());
            if let (Err(a), Err(b)) = (&from_map, &parsed) {
                assert_eq!(a, b);
            }
        }
        headers.append(AUTHORIZATION, value);
        assert_eq!(
            credentials::from_headers(&headers).err(),
            Some(CredentialError::Duplicate)
        );
    }
});
