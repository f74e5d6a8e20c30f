//! The API's strict JSON reader: no panic, agrees with serde_json on every
//! document without a duplicate member, and refuses every document with one.
#![no_main]

use keyward::routes::api::strict_json;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Whether the text, valid JSON, has an object with a member name twice.
fn has_duplicate(text: &[u8]) -> bool {
    struct Check(bool);
    impl<'de> serde::de::Visitor<'de> for Check {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_str<E>(self, _: &str) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            let mut dup = false;
            while let Some(d) = seq.next_element_seed(Seed)? {
                dup |= d;
            }
            Ok(dup)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut seen = std::collections::HashSet::new();
            let mut dup = false;
            while let Some(key) = map.next_key::<String>()? {
                dup |= !seen.insert(key);
                dup |= map.next_value_seed(Seed)?;
            }
            Ok(dup || self.0)
        }
    }
    struct Seed;
    impl<'de> serde::de::DeserializeSeed<'de> for Seed {
        type Value = bool;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(Check(false))
        }
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    serde::de::DeserializeSeed::deserialize(Seed, &mut de).unwrap_or(false)
}

fuzz_target!(|data: &[u8]| {
    let strict = strict_json(data);
    let lenient = serde_json::from_slice::<Value>(data);
    match (&strict, &lenient) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            assert!(!has_duplicate(data), "a duplicate member accepted");
        }
        (Ok(_), Err(e)) => panic!("accepted what serde_json refuses: {e}"),
        (Err(_), Ok(_)) => assert!(has_duplicate(data), "refused a document without duplicates"),
        (Err(_), Err(_)) => {}
    }
});
