//! The anonymous session (and its CSRF token) carried in the signed cookie's key:
//! any key decodes without panic; any state round-trips until it lapses, and not
//! a second after.
#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use keyward::auth::session_store::{decode_anonymous, encode_anonymous};
use libfuzzer_sys::fuzz_target;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    key: &'a str,
    state: HashMap<String, String>,
    now: i32,
    ttl: u16,
}

fuzz_target!(|input: Input<'_>| {
    let now = OffsetDateTime::from_unix_timestamp(1_700_000_000 + i64::from(input.now))
        .expect("in range");
    let now = PrimitiveDateTime::new(now.date(), now.time());
    let _ = decode_anonymous(input.key, now);

    let expires = now + Duration::seconds(1 + i64::from(input.ttl));
    match encode_anonymous(&input.state, expires) {
        Some(key) => {
            assert!(key.starts_with("a.") && key.len() <= 3000);
            assert!(
                key.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            );
            assert_eq!(decode_anonymous(&key, now).as_ref(), Some(&input.state));
            assert_eq!(decode_anonymous(&key, expires), None, "lapsed at expiry");
            // A key cut short never yields a state.
            assert_eq!(
                decode_anonymous(&key[..key.len() - 1], now).filter(|s| s != &input.state),
                None
            );
        }
        None => {
            // Too big for a cookie: the store keeps it as a row instead.
            let json = serde_json::to_string(&input.state).expect("serializable");
            assert!(
                json.len() > 2000,
                "refused a small state: {} bytes",
                json.len()
            );
        }
    }
});
