//! The token endpoint's request reader (RFC 6749 §3.2, §2.3.1): the parameters
//! of a form or a JSON object, and the client's credentials from HTTP Basic or
//! the body. Any input: no panic; accepted parameters are each named once, with
//! a value and no control character; accepted credentials come from exactly one
//! place, and Basic credentials made of any id and secret read back as those.
#![no_main]

use arbitrary::Arbitrary;
use keyward::routes::api::oauth::{client_credentials, parse_params};
use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    json: bool,
    body: &'a [u8],
    authorization: Option<&'a [u8]>,
    id: String,
    secret: String,
}

/// `application/x-www-form-urlencoded` encoding of one value (RFC 6749 §2.3.1
/// asks Basic's parts to be encoded so).
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fuzz_target!(|input: Input<'_>| {
    let content_type = if input.json {
        "application/json"
    } else {
        "application/x-www-form-urlencoded; charset=UTF-8"
    };
    let Ok(params) = parse_params(Some(content_type), input.body) else {
        return;
    };
    let names: Vec<&str> = params.iter().map(|(k, _)| k).collect();
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "a parameter accepted twice");
    for (_, value) in params.iter() {
        assert!(!value.is_empty(), "an empty value is as if omitted");
        assert!(!value.chars().any(char::is_control));
    }
    let body_id = params
        .iter()
        .find(|(k, _)| *k == "client_id")
        .map(|(_, v)| v);
    let body_secret = params
        .iter()
        .find(|(k, _)| *k == "client_secret")
        .map(|(_, v)| v);

    // Whatever the header says.
    if let Ok((id, secret)) = client_credentials(input.authorization, &params) {
        if input.authorization.is_none() {
            assert_eq!(Some(id.as_str()), body_id);
            assert_eq!(secret.as_ref().map(|s| s.expose_secret()), body_secret);
        } else {
            assert!(body_secret.is_none(), "two ways of authenticating accepted");
        }
    }

    // Basic credentials made of any id and secret.
    let pair = format!("{}:{}", form_encode(&input.id), form_encode(&input.secret));
    let header = format!("Basic {}", base64_encode(pair.as_bytes()));
    match client_credentials(Some(header.as_bytes()), &params) {
        Ok((id, secret)) => {
            assert_eq!(id, input.id);
            assert_eq!(
                secret.as_ref().map(|s| s.expose_secret()),
                Some(input.secret.as_str())
            );
            assert!(body_secret.is_none());
        }
        Err(_) => assert!(
            body_secret.is_some()
                || body_id.is_some_and(|b| b != input.id)
                || input
                    .id
                    .chars()
                    .chain(input.secret.chars())
                    .any(char::is_control),
            "Basic credentials refused for no reason"
        ),
    }
});

fn base64_encode(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
