//! The redirect URL parser: no panic; an accepted URL is absolute `https` (or
//! `http` on a loopback host), without fragment, wildcard, space or control
//! character; and it is a fixed point: the stored form, entered again, is
//! accepted and stored the same (redirects are matched exactly, RFC 9700 §4.1.3).
//! The sign-in page's `next` goes only to this site: whatever it is, the browser
//! resolves the accepted path to Keyward's own origin.
#![no_main]

use keyward::domain::app::RedirectUrl;
use keyward::routes::auth::safe_next;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let next = safe_next(Some(text));
    assert!(next == "/" || next == text, "{next:?}");
    let base = url::Url::parse("https://keyward.example/apps").expect("a URL");
    let resolved = base.join(&next).expect("a path resolves");
    assert_eq!(
        resolved.origin(),
        base.origin(),
        "{next:?} leaves the site: {resolved}"
    );

    let Ok(url) = RedirectUrl::parse(text) else {
        return;
    };
    let stored = url.as_str();
    assert!(!stored.contains(['#', '*']), "{stored}");
    assert!(
        !stored.chars().any(|c| c.is_whitespace() || c.is_control()),
        "{stored:?}"
    );
    let parsed = url::Url::parse(stored).expect("the stored form is a URL");
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
            assert!(
                host == "localhost"
                    || host.ends_with(".localhost")
                    || host.starts_with("127.")
                    || host == "[::1]",
                "http only for loopback: {stored}"
            );
        }
        other => panic!("scheme {other} accepted"),
    }
    assert!(parsed.username().is_empty() && parsed.password().is_none() || stored.contains('@'));
    let again = RedirectUrl::parse(stored)
        .unwrap_or_else(|e| panic!("stored form {stored:?} refused when entered again: {e}"));
    assert_eq!(again, url);
});
