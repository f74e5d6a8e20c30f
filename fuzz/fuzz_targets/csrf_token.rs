//! The CSRF token check of every state-changing console form: the session's
//! token (from any anonymous session cookie key) against any form body. A form
//! passes only with exactly one `csrf_token` field equal to the session's
//! non-empty token; a token made and sent as a browser sends it always passes,
//! and any change to it is refused.
#![no_main]

use arbitrary::Arbitrary;
use keyward::auth::csrf::{self, Refusal};
use keyward::auth::session_store::{decode_anonymous, encode_anonymous};
use keyward::routes::middleware::decode_form;
use libfuzzer_sys::fuzz_target;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    key: &'a str,
    body: &'a [u8],
    token: String,
    position: u8,
    replacement: char,
}

/// The session's token as the guard reads it: a JSON-encoded string.
fn expected_of(state: &std::collections::HashMap<String, String>) -> Option<String> {
    state
        .get(csrf::SESSION_KEY)
        .and_then(|v| serde_json::from_str::<String>(v).ok())
}

fuzz_target!(|input: Input<'_>| {
    let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("in range");
    let now = PrimitiveDateTime::new(now.date(), now.time());

    // Any cookie key, any body.
    let expected = decode_anonymous(input.key, now).and_then(|s| expected_of(&s));
    if let Ok(pairs) = decode_form(input.body) {
        let fields: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| k == csrf::FIELD)
            .map(|(_, v)| v.as_str())
            .collect();
        let verdict = csrf::check_form(expected.as_deref(), &pairs);
        match verdict {
            Ok(()) => {
                let token = expected.as_deref().expect("passed with a session token");
                assert!(!token.is_empty());
                assert_eq!(fields, [token]);
            }
            Err(Refusal::Twice) => assert!(fields.len() > 1),
            Err(Refusal::Wrong) => assert!(
                fields.len() == 1
                    && expected
                        .as_deref()
                        .is_none_or(|e| e.is_empty() || e != fields[0])
                    || fields.is_empty()
            ),
        }
    }

    // A session holding this token, and a form sending it as a browser does.
    let mut state = std::collections::HashMap::new();
    state.insert(
        csrf::SESSION_KEY.to_owned(),
        serde_json::to_string(&input.token).expect("a string"),
    );
    let Some(key) = encode_anonymous(&state, now + Duration::minutes(30)) else {
        return;
    };
    let expected = decode_anonymous(&key, now).and_then(|s| expected_of(&s));
    assert_eq!(expected.as_deref(), Some(input.token.as_str()));
    let body = |token: &str| {
        format!(
            "name=x&{}={}",
            csrf::FIELD,
            utf8_percent_encode(token, NON_ALPHANUMERIC)
        )
    };
    let Ok(pairs) = decode_form(body(&input.token).as_bytes()) else {
        // A token with control characters cannot be sent in a form at all.
        assert!(input.token.chars().any(char::is_control));
        return;
    };
    let verdict = csrf::check_form(expected.as_deref(), &pairs);
    assert_eq!(verdict.is_ok(), !input.token.is_empty(), "{verdict:?}");

    // One character changed: refused.
    let mut chars: Vec<char> = input.token.chars().collect();
    if !chars.is_empty() {
        let at = usize::from(input.position) % chars.len();
        if chars[at] != input.replacement {
            chars[at] = input.replacement;
            let changed: String = chars.into_iter().collect();
            if let Ok(pairs) = decode_form(body(&changed).as_bytes()) {
                assert_eq!(
                    csrf::check_form(expected.as_deref(), &pairs),
                    Err(Refusal::Wrong)
                );
            }
        }
    }
    // Sent twice: refused, whatever the values.
    let twice = format!("{}&{}=", body(&input.token), csrf::FIELD);
    if let Ok(pairs) = decode_form(twice.as_bytes()) {
        assert_eq!(
            csrf::check_form(expected.as_deref(), &pairs),
            Err(Refusal::Twice)
        );
    }
});
