//! A key's restrictions as an admin types them. Any text: the allowlist
//! parser never panics; what it accepts is stored and read back unchanged,
//! its shown entries parse to the same list, and it allows an address
//! exactly when one of its ranges contains it. The rate limits accept only
//! whole numbers in range, a minute's never below a second's.
#![no_main]

use std::net::IpAddr;

use arbitrary::Arbitrary;
use keyward::domain::restrictions::{MAX_PER_MINUTE, MAX_PER_SECOND};
use keyward::domain::{IpAllowlist, RateLimits};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    list: &'a str,
    client: [u8; 16],
    v4: bool,
    per_second: &'a str,
    per_minute: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    if let Ok(list) = IpAllowlist::parse(input.list) {
        assert_eq!(IpAllowlist::from_stored(&list.to_stored()), list);
        assert_eq!(
            IpAllowlist::parse(&list.entries().join("\n")),
            Ok(list.clone())
        );
        let client = if input.v4 {
            IpAddr::from([
                input.client[0],
                input.client[1],
                input.client[2],
                input.client[3],
            ])
        } else {
            IpAddr::from(input.client)
        };
        let contained = list.entries().iter().any(|e| {
            let net: ipnet::IpNet = e
                .parse()
                .or_else(|_| e.parse::<IpAddr>().map(ipnet::IpNet::from))
                .unwrap();
            net.contains(&client.to_canonical())
        });
        assert_eq!(list.allows(client), contained);
    }
    if let Ok(limits) = RateLimits::parse(input.per_second, input.per_minute) {
        assert!(
            limits
                .per_second
                .is_none_or(|s| (1..=MAX_PER_SECOND).contains(&s))
        );
        assert!(
            limits
                .per_minute
                .is_none_or(|m| (1..=MAX_PER_MINUTE).contains(&m))
        );
        if let (Some(s), Some(m)) = (limits.per_second, limits.per_minute) {
            assert!(m >= s);
        }
        let (s, m) = limits.to_stored();
        assert_eq!(RateLimits::from_stored(s, m), limits);
    }
});
