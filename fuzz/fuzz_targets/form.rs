//! The strict form and query decoder: no panic; what it accepts holds no control
//! character but tab and newlines; and any pairs, encoded as a browser does,
//! decode back to themselves.
#![no_main]

use arbitrary::Arbitrary;
use keyward::routes::middleware::decode_form;
use libfuzzer_sys::fuzz_target;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    raw: &'a [u8],
    pairs: Vec<(String, String)>,
}

/// What `application/x-www-form-urlencoded` leaves as is (WHATWG URL §5.2).
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

fn allowed(c: char) -> bool {
    !c.is_control() || matches!(c, '\t' | '\r' | '\n')
}

fuzz_target!(|input: Input<'_>| {
    if let Ok(pairs) = decode_form(input.raw) {
        for (name, value) in &pairs {
            assert!(
                name.chars().chain(value.chars()).all(allowed),
                "{name:?}={value:?}"
            );
        }
        assert!(pairs.len() <= input.raw.split(|b| *b == b'&').count());
    }

    let pairs: Vec<(String, String)> = input
        .pairs
        .into_iter()
        .filter(|(n, v)| !n.is_empty() && n.chars().chain(v.chars()).all(allowed))
        .collect();
    let encoded = pairs
        .iter()
        .map(|(n, v)| {
            let enc = |s: &str| utf8_percent_encode(s, FORM).to_string().replace("%20", "+");
            format!("{}={}", enc(n), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(
        decode_form(encoded.as_bytes()).as_ref(),
        Ok(&pairs),
        "{encoded}"
    );
});
