//! Reading the credential of an external request from its `Authorization` header.
//!
//! Accepted: `apikey <key>` and `Bearer <key or access token>`, the scheme in any
//! case. Anything else, two headers, a header that is not visible ASCII, or a key
//! whose checksum fails is refused here, before the database is asked. Query
//! strings, paths and cookies are never read: a key there is ignored.

use actix_web::http::header::{AUTHORIZATION, HeaderMap};
use secrecy::SecretString;

use crate::domain::key_token::{KEY_PREFIX, KeyRef};

/// The longest `Authorization` header looked at.
const MAX_HEADER_LEN: usize = 4096;

/// A credential whose format is right; whether it is valid is the verifier's call.
#[derive(Debug)]
pub enum Credential<'a> {
    /// An API key, checksum verified, borrowed from the header.
    ApiKey(KeyRef<'a>),
    /// A bearer token that is not an API key: an access token.
    AccessToken(SecretString),
}

/// Why no credential could be read. Messages never include the header's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// No `Authorization` header.
    #[error("send the key in the Authorization header: `apikey <key>` or `Bearer <key>`")]
    Missing,
    /// More than one `Authorization` header.
    #[error("send exactly one Authorization header")]
    Duplicate,
    /// Not `apikey` or `Bearer`.
    #[error("the Authorization scheme must be apikey or Bearer")]
    UnsupportedScheme,
    /// The value is unreadable, empty, too long, or not a well-formed key.
    #[error("the credential is not well formed")]
    Malformed,
    /// A key whose checksum does not match: mistyped, truncated or altered.
    #[error("the API key is not valid (its checksum does not match)")]
    BadChecksum,
}

/// Reads the request's credential.
pub fn from_headers(headers: &HeaderMap) -> Result<Credential<'_>, CredentialError> {
    let mut values = headers.get_all(AUTHORIZATION);
    let value = values.next().ok_or(CredentialError::Missing)?;
    if values.next().is_some() {
        return Err(CredentialError::Duplicate);
    }
    if value.len() > MAX_HEADER_LEN {
        return Err(CredentialError::Malformed);
    }
    let text = value.to_str().map_err(|_| CredentialError::Malformed)?;
    parse(text)
}

/// Parses an `Authorization` header's value.
pub fn parse(text: &str) -> Result<Credential<'_>, CredentialError> {
    let text = text.trim_matches(|c| c == ' ' || c == '\t');
    let (scheme, rest) = text.split_once([' ', '\t']).ok_or_else(|| {
        if text.eq_ignore_ascii_case("apikey") || text.eq_ignore_ascii_case("bearer") {
            CredentialError::Malformed
        } else {
            CredentialError::UnsupportedScheme
        }
    })?;
    let token = rest.trim_matches(|c| c == ' ' || c == '\t');
    if token.is_empty()
        || token.contains([' ', '\t'])
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(CredentialError::Malformed);
    }
    let key = |t| {
        KeyRef::parse(t).map_err(|e| match e {
            crate::domain::key_token::KeyFormatError::Checksum => CredentialError::BadChecksum,
            crate::domain::key_token::KeyFormatError::Malformed => CredentialError::Malformed,
        })
    };
    if scheme.eq_ignore_ascii_case("apikey") {
        key(token).map(Credential::ApiKey)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if token.starts_with(KEY_PREFIX) {
            key(token).map(Credential::ApiKey)
        } else {
            Ok(Credential::AccessToken(SecretString::from(
                token.to_owned(),
            )))
        }
    } else {
        Err(CredentialError::UnsupportedScheme)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::key_token::ParsedKey;
    use actix_web::http::header::HeaderValue;
    use proptest::prelude::*;
    use secrecy::ExposeSecret;

    fn key() -> String {
        ParsedKey::generate().token.expose_secret().to_owned()
    }

    #[test]
    fn both_schemes_in_any_case_read_a_key() {
        let k = key();
        for header in [
            format!("apikey {k}"),
            format!("ApiKey {k}"),
            format!("APIKEY  {k} "),
            format!("Bearer {k}"),
            format!("bearer {k}"),
        ] {
            match parse(&header) {
                Ok(Credential::ApiKey(parsed)) => assert!(k.contains(parsed.public_id())),
                other => panic!("{header}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_bearer_token_that_is_not_a_key_is_an_access_token() {
        assert!(matches!(
            parse("Bearer eyJhbGciOi.x.y"),
            Ok(Credential::AccessToken(_))
        ));
    }

    #[test]
    fn everything_else_is_refused_without_echo() {
        let k = key();
        let mut typo = k.clone().into_bytes();
        typo[10] = if typo[10] == b'A' { b'B' } else { b'A' };
        let typo = String::from_utf8(typo).unwrap();
        for (header, expected) in [
            (format!("Basic {k}"), CredentialError::UnsupportedScheme),
            (k.clone(), CredentialError::UnsupportedScheme),
            ("apikey".to_owned(), CredentialError::Malformed),
            ("apikey ".to_owned(), CredentialError::Malformed),
            (format!("apikey {k} extra"), CredentialError::Malformed),
            (format!("apikey {typo}"), CredentialError::BadChecksum),
            (
                format!("apikey {}", &k[..k.len() - 1]),
                CredentialError::Malformed,
            ),
            ("apikey not-a-key".to_owned(), CredentialError::Malformed),
            ("Bearer kw_short".to_owned(), CredentialError::Malformed),
        ] {
            let err = parse(&header).unwrap_err();
            assert_eq!(err, expected, "{header}");
            assert!(!err.to_string().contains(&k));
        }
    }

    #[test]
    fn headers_are_checked_for_count_size_and_encoding() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            from_headers(&headers).unwrap_err(),
            CredentialError::Missing
        );
        headers.append(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("apikey {}", key())).unwrap(),
        );
        assert!(from_headers(&headers).is_ok());
        headers.append(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("apikey {}", key())).unwrap(),
        );
        assert_eq!(
            from_headers(&headers).unwrap_err(),
            CredentialError::Duplicate
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"apikey \xff\xfe").unwrap(),
        );
        assert_eq!(
            from_headers(&headers).unwrap_err(),
            CredentialError::Malformed
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", "a".repeat(5000))).unwrap(),
        );
        assert_eq!(
            from_headers(&headers).unwrap_err(),
            CredentialError::Malformed
        );
    }

    proptest! {
        #[test]
        fn no_header_value_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn no_arbitrary_bytes_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let mut headers = HeaderMap::new();
                headers.insert(AUTHORIZATION, value);
                let _ = from_headers(&headers);
            }
        }

        #[test]
        fn an_altered_key_is_never_accepted(pos in 3usize..47, c in "[0-9A-Za-z]") {
            let k = key();
            let mut bytes = k.clone().into_bytes();
            let replacement = c.as_bytes()[0];
            prop_assume!(bytes[pos] != replacement);
            bytes[pos] = replacement;
            let altered = String::from_utf8(bytes).unwrap();
            let header = format!("apikey {altered}");
            prop_assert!(parse(&header).is_err());
        }
    }
}
