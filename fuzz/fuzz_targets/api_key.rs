//! The API key decoder. Any text: no panic, and an accepted key has the key's
//! shape. A key assembled from any parts round-trips, and every single-character
//! change or truncation of it is refused (CRC-32 catches every burst of up to 32
//! bits, so one changed character always fails the checksum).
#![no_main]

use arbitrary::Arbitrary;
use keyward::domain::key_token::{KEY_LEN, KEY_PREFIX, KeyFormatError, KeyRef, ParsedKey};
use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    text: &'a str,
    id: [u8; 12],
    secret: [u8; 26],
    position: u8,
    replacement: u8,
}

fn base62(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % 62]))
        .collect()
}

fuzz_target!(|input: Input<'_>| {
    // Arbitrary text.
    if let Ok(key) = KeyRef::parse(input.text) {
        assert_eq!(input.text.len(), KEY_LEN);
        assert!(input.text.starts_with(KEY_PREFIX));
        assert!(
            input.text[KEY_PREFIX.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        );
        assert_eq!(
            &input.text[KEY_PREFIX.len()..KEY_PREFIX.len() + 12],
            key.public_id()
        );
        let parsed = ParsedKey::parse(input.text).expect("ParsedKey agrees with KeyRef");
        assert!(parsed.masked().ends_with(&input.text[KEY_LEN - 4..]));
    }

    // A key made of these parts.
    let (id, secret) = (base62(&input.id), base62(&input.secret));
    let new =
        ParsedKey::assemble(id.clone(), secret.clone()).expect("base62 parts of the right length");
    let token = new.token.expose_secret().to_owned();
    let key = KeyRef::parse(&token).expect("an assembled key parses");
    assert_eq!(
        (key.public_id(), key.secret()),
        (id.as_str(), secret.as_str())
    );
    assert_eq!(
        new.parsed.masked(),
        ParsedKey::parse(&token).unwrap().masked()
    );
    assert!(
        !new.parsed.masked().contains(&secret),
        "the mask hides the secret"
    );

    // One character changed, after the prefix.
    let at = KEY_PREFIX.len() + usize::from(input.position) % (KEY_LEN - KEY_PREFIX.len());
    let mut bytes = token.clone().into_bytes();
    let replacement = if input.replacement.is_ascii() && input.replacement != 0 {
        input.replacement
    } else {
        ALPHABET[usize::from(input.replacement) % 62]
    };
    if bytes[at] != replacement {
        bytes[at] = replacement;
        let changed = String::from_utf8(bytes).expect("ASCII");
        let expected = if replacement.is_ascii_alphanumeric() {
            KeyFormatError::Checksum
        } else {
            KeyFormatError::Malformed
        };
        assert_eq!(KeyRef::parse(&changed).err(), Some(expected), "{changed}");
    }
    // Truncated or extended.
    assert_eq!(
        KeyRef::parse(&token[..at]).err(),
        Some(KeyFormatError::Malformed)
    );
    assert_eq!(
        KeyRef::parse(&format!("{token}{}", char::from(replacement))).err(),
        Some(KeyFormatError::Malformed)
    );
    // Bad parts are refused, never assembled.
    assert!(ParsedKey::assemble(id[1..].to_owned(), secret.clone()).is_none());
    assert!(ParsedKey::assemble(id, format!("{secret}-")).is_none());
});
