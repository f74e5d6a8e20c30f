//! The webhook URL parser: no panic; an accepted URL is absolute `https` (or
//! `http` to this machine, only when loopback is allowed), carries no user
//! name, password or fragment, and names no address webhooks may never reach
//! (a private, loopback, link-local, metadata or reserved one, in any of the
//! forms the URL standard reads: decimal, hex, IPv4-mapped IPv6…); and the
//! stored form, entered again, is accepted and stored the same. The event
//! list parser accepts only catalog names, each once.
#![no_main]

use keyward::domain::webhook::{EventSet, EventType, WebhookUrl, forbidden};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(set) = EventSet::parse(text.split(',')) {
        let stored = set.to_stored();
        for name in stored.split(' ') {
            let event = EventType::parse(name).expect("a stored name is known");
            assert!(event != EventType::Test, "{stored}");
        }
        assert_eq!(EventSet::from_stored(&stored), set);
    }
    for allow_loopback in [false, true] {
        let Ok(url) = WebhookUrl::parse(text, allow_loopback) else {
            continue;
        };
        let stored = url.as_str();
        let parsed = url::Url::parse(stored).expect("the stored form is a URL");
        assert!(
            parsed.username().is_empty() && parsed.password().is_none(),
            "{stored}"
        );
        assert!(parsed.fragment().is_none(), "{stored}");
        let ip = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => panic!("no host: {stored}"),
        };
        if let Some(ip) = ip {
            match forbidden(ip) {
                None => {}
                Some(keyward::domain::webhook::Forbidden::Loopback) if allow_loopback => {}
                Some(reason) => panic!("{stored} reaches {reason:?}"),
            }
        }
        match parsed.scheme() {
            "https" => {}
            "http" => assert!(allow_loopback, "http without loopback: {stored}"),
            other => panic!("scheme {other} accepted"),
        }
        let again = WebhookUrl::parse(stored, allow_loopback)
            .unwrap_or_else(|e| panic!("stored form {stored:?} refused when entered again: {e}"));
        assert_eq!(again, url);
    }
});
