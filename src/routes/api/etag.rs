//! Entity tags of `/api/v2` reads, for clients that poll: the tag is a digest
//! of what the answer is made from (the rows read, the page asked for, the
//! representation's version), taken before anything is serialized, so a
//! request whose `If-None-Match` names it is answered 304 without building
//! the document (RFC 9110 §8.8.3, §13.1.2, §15.4.5).

use std::hash::{Hash, Hasher};

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use sha2::Digest as _;

/// Changed whenever a resource's JSON changes shape, so a tag of an older
/// representation never matches a newer one.
const REPRESENTATION: &str = concat!("keyward-api-v2/", env!("CARGO_PKG_VERSION"), "/2");

/// A strong entity tag: the same inputs make byte-identical answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ETag(String);

impl ETag {
    /// The tag of `inputs`: 128 bits of SHA-256 over their `Hash` writes.
    pub fn of(inputs: &impl Hash) -> Self {
        let mut state = Sha256Hasher(sha2::Sha256::new());
        REPRESENTATION.hash(&mut state);
        inputs.hash(&mut state);
        let digest = state.0.finalize();
        Self(format!("\"{}\"", crate::secrets::hex(&digest[..16])))
    }

    /// The header value, quotes included.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the request's `If-None-Match` names this tag (or is `*`): the
    /// weak comparison, which RFC 9110 §13.1.2 requires for this header.
    /// Several headers are one list (§5.3); a malformed member matches nothing.
    pub fn matches(&self, headers: &HeaderMap) -> bool {
        let ours = self.0.as_str();
        headers
            .get_all(header::IF_NONE_MATCH)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ours)
    }

    /// `304 Not Modified` with this tag and no body (RFC 9110 §15.4.5).
    pub fn not_modified(&self) -> HttpResponse {
        let mut response = HttpResponse::NotModified().finish();
        self.put_on(&mut response);
        response
    }

    /// Adds the `ETag` header to `response`.
    pub fn put_on(&self, response: &mut HttpResponse) {
        if let Ok(value) = HeaderValue::from_str(&self.0) {
            response.headers_mut().insert(header::ETAG, value);
        }
    }
}

/// `Hash` writes fed to SHA-256: stable for one build on every instance, so
/// instances behind one balancer hand out the same tags.
struct Sha256Hasher(sha2::Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        digest[..8]
            .iter()
            .fold(0, |n, byte| (n << 8) | u64::from(*byte))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderName;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(
                HeaderName::from_static("if-none-match"),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_same_inputs_make_the_same_tag_and_any_change_another() {
        let tag = ETag::of(&("/api/v2/services", 25_i64, None::<&str>, ["a", "b"]));
        assert_eq!(
            tag,
            ETag::of(&("/api/v2/services", 25_i64, None::<&str>, ["a", "b"]))
        );
        assert_ne!(
            tag,
            ETag::of(&("/api/v2/services", 25_i64, None::<&str>, ["a", "c"]))
        );
        assert_ne!(
            tag,
            ETag::of(&("/api/v2/services", 10_i64, None::<&str>, ["a", "b"]))
        );
        assert_eq!(tag.as_str().len(), 34);
        assert!(tag.as_str().starts_with('"') && tag.as_str().ends_with('"'));
    }

    #[test]
    fn if_none_match_compares_weakly_across_lists_and_headers() {
        let tag = ETag::of(&"rows");
        let ours = tag.as_str().to_owned();
        assert!(tag.matches(&headers(&[&ours])));
        assert!(tag.matches(&headers(&[&format!("W/{ours}")])));
        assert!(tag.matches(&headers(&[&format!("\"other\", {ours}")])));
        assert!(tag.matches(&headers(&["\"other\"", &ours])));
        assert!(tag.matches(&headers(&["*"])));
        assert!(!tag.matches(&headers(&["\"other\""])));
        assert!(
            !tag.matches(&headers(&[&ours[1..ours.len() - 1]])),
            "unquoted"
        );
        assert!(!tag.matches(&HeaderMap::new()));
    }
}
