//! Access tokens and refresh tokens as presented. Any text: the JWT verifier
//! never panics and never accepts it (a forgery would need the signing key),
//! and a refresh token is accepted only in its exact shape. A genuine token
//! with any one character changed is refused.
#![no_main]

use arbitrary::Arbitrary;
use keyward::domain::key_token::{REFRESH_LEN, REFRESH_PREFIX, RefreshRef};
use keyward::jwt::{AccessClaims, PublicKeys, Signer, generate_key};
use keyward::secrets::MasterKey;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

const ISSUER: &str = "https://keyward.example";
const AUDIENCE: &str = "https://keyward.example/api";
const NOW: i64 = 1_800_000_000;

struct Fixture {
    keys: PublicKeys,
    token: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let sealing = MasterKey::from_bytes(b"fuzzing master key of 32 bytes!!").sealing_key();
    let (kid, public, sealed) = generate_key(&sealing);
    let signer = Signer::open(&kid, &sealed, &sealing).expect("opens");
    let token = signer
        .sign(&AccessClaims {
            iss: ISSUER.into(),
            sub: "employee:e1".into(),
            aud: AUDIENCE.into(),
            client_id: "app".into(),
            scope: "services:read".into(),
            exp: NOW + 900,
            iat: NOW,
            jti: "j".into(),
            sid: "s".into(),
            user_type: "employee".into(),
            org_id: "o".into(),
        })
        .expect("signs");
    Fixture {
        keys: PublicKeys::new([(kid.as_str(), "o", ISSUER.to_owned(), public.as_str())]),
        token,
    }
});

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    text: &'a str,
    position: u16,
    replacement: u8,
}

fuzz_target!(|input: Input<'_>| {
    let fixture = &*FIXTURE;
    assert!(
        fixture.keys.verify(input.text, AUDIENCE, NOW).is_err(),
        "accepted a token it never signed: {}",
        input.text
    );
    if RefreshRef::parse(input.text).is_ok() {
        assert_eq!(input.text.len(), REFRESH_LEN);
        assert!(input.text.starts_with(REFRESH_PREFIX));
    }

    // The genuine token verifies; with one character changed, it does not
    // (unless the change keeps the same bytes, or only touches base64url
    // padding bits of the signature's last character).
    assert!(fixture.keys.verify(&fixture.token, AUDIENCE, NOW).is_ok());
    let mut bytes = fixture.token.clone().into_bytes();
    let at = usize::from(input.position) % bytes.len();
    let replacement = if input.replacement.is_ascii() {
        input.replacement
    } else {
        b'A'
    };
    if bytes[at] != replacement && at + 1 != bytes.len() {
        bytes[at] = replacement;
        if let Ok(changed) = String::from_utf8(bytes) {
            assert!(
                fixture.keys.verify(&changed, AUDIENCE, NOW).is_err(),
                "a changed token verified: {changed}"
            );
        }
    }
});
