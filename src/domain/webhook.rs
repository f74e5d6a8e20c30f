//! Webhooks: the catalog of event types an endpoint may want, an endpoint's
//! URL, and which addresses a webhook may never be sent to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::input::{Invalid, has_control_chars};

/// An event a webhook endpoint can be told about. The stored and sent names
/// are stable: receivers switch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    KeyCreated,
    KeyUpdated,
    KeyActivated,
    KeyInactivated,
    KeyRolled,
    KeyDeleted,
    KeyExpiring,
    KeyExpired,
    AppCreated,
    AppUpdated,
    AppActivated,
    AppInactivated,
    AppDeleted,
    SecretRegenerated,
    UserPasswordChanged,
    TokenReuseDetected,
    /// Sent by **Send test event** to one endpoint; never subscribed to.
    Test,
}

impl EventType {
    /// The events an endpoint can subscribe to, in the form's order.
    pub const SUBSCRIBABLE: &'static [EventType] = &[
        Self::KeyCreated,
        Self::KeyUpdated,
        Self::KeyActivated,
        Self::KeyInactivated,
        Self::KeyRolled,
        Self::KeyDeleted,
        Self::KeyExpiring,
        Self::KeyExpired,
        Self::AppCreated,
        Self::AppUpdated,
        Self::AppActivated,
        Self::AppInactivated,
        Self::AppDeleted,
        Self::SecretRegenerated,
        Self::UserPasswordChanged,
        Self::TokenReuseDetected,
    ];

    /// The name in the payload's `type`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::KeyCreated => "key.created",
            Self::KeyUpdated => "key.updated",
            Self::KeyActivated => "key.activated",
            Self::KeyInactivated => "key.inactivated",
            Self::KeyRolled => "key.rolled",
            Self::KeyDeleted => "key.deleted",
            Self::KeyExpiring => "key.expiring",
            Self::KeyExpired => "key.expired",
            Self::AppCreated => "app.created",
            Self::AppUpdated => "app.updated",
            Self::AppActivated => "app.activated",
            Self::AppInactivated => "app.inactivated",
            Self::AppDeleted => "app.deleted",
            Self::SecretRegenerated => "secret.regenerated",
            Self::UserPasswordChanged => "user.password_changed",
            Self::TokenReuseDetected => "token.reuse_detected",
            Self::Test => "webhook.test",
        }
    }

    /// What it means, for the form and the documentation.
    pub const fn description(self) -> &'static str {
        match self {
            Self::KeyCreated => "An API key was created.",
            Self::KeyUpdated => {
                "An API key's name, description, expiry, permissions or restrictions changed."
            }
            Self::KeyActivated => "An API key was activated.",
            Self::KeyInactivated => "An API key was inactivated: calls with it are refused.",
            Self::KeyRolled => "An API key was rolled: a new key replaces it after a grace period.",
            Self::KeyDeleted => "An API key was deleted.",
            Self::KeyExpiring => {
                "An API key reached one of the expiry alert thresholds (days before it expires)."
            }
            Self::KeyExpired => "An API key expired.",
            Self::AppCreated => "An app was created.",
            Self::AppUpdated => "An app's details or scopes changed.",
            Self::AppActivated => "An app was activated.",
            Self::AppInactivated => {
                "An app was inactivated: all its keys and tokens stopped working."
            }
            Self::AppDeleted => "An app was deleted.",
            Self::SecretRegenerated => {
                "An app's secret was generated again; the previous one stopped working."
            }
            Self::UserPasswordChanged => {
                "An app's user changed their own password; their other sign-ins ended."
            }
            Self::TokenReuseDetected => {
                "A refresh token was used twice: the user's sign-in was revoked."
            }
            Self::Test => "A test event sent from the endpoint's page.",
        }
    }

    /// Parses a stored or submitted name (of any event, the test one included).
    pub fn parse(s: &str) -> Option<Self> {
        Self::SUBSCRIBABLE
            .iter()
            .copied()
            .chain([Self::Test])
            .find(|e| e.as_str() == s)
    }
}

/// The events an endpoint wants: at least one, each known, no repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSet(Vec<EventType>);

impl EventSet {
    /// Parses the submitted names.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, Invalid> {
        let mut events = Vec::new();
        for name in names {
            match EventType::parse(name.trim()) {
                Some(EventType::Test) | None => {
                    let shown: String = name.chars().filter(|c| !c.is_control()).take(40).collect();
                    return Err(Invalid::new(format!(
                        "“{shown}” is not an event you can subscribe to."
                    )));
                }
                Some(e) if !events.contains(&e) => events.push(e),
                Some(_) => {}
            }
        }
        if events.is_empty() {
            return Err(Invalid::new("Choose at least one event."));
        }
        // The catalog's order, whatever the form's.
        events.sort_by_key(|e| EventType::SUBSCRIBABLE.iter().position(|s| s == e));
        Ok(Self(events))
    }

    /// Reads the stored form (names separated by spaces), skipping names
    /// this version no longer knows.
    pub fn from_stored(stored: &str) -> Self {
        Self(
            stored
                .split_whitespace()
                .filter_map(EventType::parse)
                .filter(|e| *e != EventType::Test)
                .collect(),
        )
    }

    /// The stored form.
    pub fn to_stored(&self) -> String {
        self.0
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether it holds `event`.
    pub fn contains(&self, event: EventType) -> bool {
        self.0.contains(&event)
    }

    /// The events.
    pub fn iter(&self) -> impl Iterator<Item = EventType> + '_ {
        self.0.iter().copied()
    }
}

/// Why an address may not receive webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    /// This machine (127.0.0.0/8, ::1).
    Loopback,
    /// A private network (RFC 1918, RFC 4193 unique local, RFC 6598 shared).
    Private,
    /// Link-local (169.254.0.0/16, fe80::/10), where cloud metadata services
    /// answer (169.254.169.254).
    LinkLocal,
    /// Unspecified, broadcast, multicast, documentation, benchmarking or
    /// reserved: never a webhook receiver.
    Reserved,
}

impl Forbidden {
    /// Words for the person who typed the URL.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Loopback => "a loopback address (this machine)",
            Self::Private => "a private network address",
            Self::LinkLocal => "a link-local or cloud metadata address",
            Self::Reserved => "a reserved address",
        }
    }
}

/// Why `ip` may not receive webhooks, or `None` when it is a public address.
/// An IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4) is judged
/// by the IPv4 address it reaches.
pub fn forbidden(ip: IpAddr) -> Option<Forbidden> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<Forbidden> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some(Forbidden::Loopback)
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        // RFC 1918, and RFC 6598's carrier-grade NAT space.
        Some(Forbidden::Private)
    } else if ip.is_link_local() {
        Some(Forbidden::LinkLocal)
    } else if a == 0
        || ip.is_broadcast()
        || ip.is_multicast()
        || a >= 240
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2)
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
    {
        // RFC 6890's special-purpose registry: "this network", broadcast,
        // multicast, reserved, protocol assignments, documentation, benchmarking.
        Some(Forbidden::Reserved)
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<Forbidden> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    if ip.is_loopback() {
        return Some(Forbidden::Loopback);
    }
    if ip.is_unspecified() || ip.is_multicast() {
        return Some(Forbidden::Reserved);
    }
    match s[0] {
        // NAT64 (RFC 6052) reaches the IPv4 address in its last 32 bits.
        0x0064 if s[1] == 0xff9b => forbidden_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ))
        .or(Some(Forbidden::Reserved)),
        // 6to4 (RFC 3056) reaches the IPv4 address in bits 16–47.
        0x2002 => forbidden_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ))
        .or(Some(Forbidden::Reserved)),
        // Teredo and documentation.
        0x2001 if s[1] == 0 || s[1] == 0x0db8 => Some(Forbidden::Reserved),
        // Unique local (RFC 4193), where cloud metadata also answers (fd00:ec2::254).
        x if x & 0xfe00 == 0xfc00 => Some(Forbidden::Private),
        // Link-local and the deprecated site-local.
        x if x & 0xffc0 == 0xfe80 || x & 0xffc0 == 0xfec0 => Some(Forbidden::LinkLocal),
        // IPv4-compatible (deprecated) and the rest of ::/8.
        0 => Some(Forbidden::Reserved),
        _ => None,
    }
}

/// Whether `ip` may receive a webhook: a public address, or a loopback one
/// when the server allows it (`KEYWARD_WEBHOOKS_ALLOW_LOOPBACK`).
pub fn allowed(ip: IpAddr, allow_loopback: bool) -> Result<(), Forbidden> {
    match forbidden(ip) {
        None => Ok(()),
        Some(Forbidden::Loopback) if allow_loopback => Ok(()),
        Some(reason) => Err(reason),
    }
}

/// A webhook endpoint's URL: absolute https (http only to a loopback host
/// when allowed), no user name or password, no fragment, a host that is not
/// an address webhooks may never reach. Whether a host *name* resolves to
/// such an address is checked when the endpoint is saved and again at every
/// send, on the address actually connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(url::Url);

impl WebhookUrl {
    /// The longest URL accepted.
    pub const MAX_LEN: usize = 2000;

    /// Parses a typed URL.
    pub fn parse(raw: &str, allow_loopback: bool) -> Result<Self, Invalid> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(Invalid::new("Enter the URL that receives the events."));
        }
        if raw.len() > Self::MAX_LEN || has_control_chars(raw) {
            return Err(Invalid::new(format!(
                "Enter a URL of at most {} characters, without control characters.",
                Self::MAX_LEN
            )));
        }
        let url = url::Url::parse(raw).map_err(|_| {
            Invalid::new("Enter a full URL, such as https://hooks.example.com/keyward.")
        })?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(Invalid::new("Use an https:// URL."));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid::new(
                "Put no user name or password in the URL: receivers check the signature instead.",
            ));
        }
        if url.fragment().is_some() {
            return Err(Invalid::new("A webhook URL cannot have a fragment (#…)."));
        }
        let loopback = match url.host() {
            None => return Err(Invalid::new("Enter a URL with a host name.")),
            Some(url::Host::Ipv4(ip)) => Self::check_ip(IpAddr::V4(ip), allow_loopback)?,
            Some(url::Host::Ipv6(ip)) => Self::check_ip(IpAddr::V6(ip), allow_loopback)?,
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.');
                let local = name.eq_ignore_ascii_case("localhost")
                    || name.to_ascii_lowercase().ends_with(".localhost");
                if local && !allow_loopback {
                    return Err(Invalid::new(
                        "This URL points to this machine (localhost): webhooks go only to public addresses.",
                    ));
                }
                local
            }
        };
        if url.scheme() == "http" && !(allow_loopback && loopback) {
            return Err(Invalid::new(
                "Use https://: webhook payloads must not travel in the clear.",
            ));
        }
        // The stored form encodes what was typed (punycode, percent escapes),
        // so it can outgrow the limit the typed text met.
        if url.as_str().len() > Self::MAX_LEN {
            return Err(Invalid::new(format!(
                "Enter a URL of at most {} characters, without control characters.",
                Self::MAX_LEN
            )));
        }
        Ok(Self(url))
    }

    /// Refuses a forbidden address; true when it is an allowed loopback one.
    fn check_ip(ip: IpAddr, allow_loopback: bool) -> Result<bool, Invalid> {
        match allowed(ip, allow_loopback) {
            Ok(()) => Ok(forbidden(ip) == Some(Forbidden::Loopback)),
            Err(reason) => Err(Invalid::new(format!(
                "This URL points to {}: webhooks go only to public addresses.",
                reason.describe()
            ))),
        }
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The parsed URL.
    pub fn url(&self) -> &url::Url {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_that_must_never_receive_webhooks_are_refused() {
        for (ip, reason) in [
            ("127.0.0.1", Forbidden::Loopback),
            ("127.255.0.9", Forbidden::Loopback),
            ("::1", Forbidden::Loopback),
            ("10.0.0.1", Forbidden::Private),
            ("172.16.5.4", Forbidden::Private),
            ("192.168.1.1", Forbidden::Private),
            ("100.64.0.1", Forbidden::Private),
            ("fd00:ec2::254", Forbidden::Private),
            ("169.254.169.254", Forbidden::LinkLocal),
            ("fe80::1", Forbidden::LinkLocal),
            ("0.0.0.0", Forbidden::Reserved),
            ("255.255.255.255", Forbidden::Reserved),
            ("224.0.0.1", Forbidden::Reserved),
            ("::", Forbidden::Reserved),
            ("192.0.2.1", Forbidden::Reserved),
            ("2001:db8::1", Forbidden::Reserved),
            ("::ffff:10.0.0.1", Forbidden::Private),
            ("::ffff:169.254.169.254", Forbidden::LinkLocal),
            ("::ffff:127.0.0.1", Forbidden::Loopback),
            ("64:ff9b::a9fe:a9fe", Forbidden::LinkLocal),
            ("2002:7f00:1::", Forbidden::Loopback),
            ("::127.0.0.1", Forbidden::Reserved),
        ] {
            let parsed: IpAddr = ip.parse().unwrap_or_else(|_| panic!("{ip}"));
            assert_eq!(forbidden(parsed), Some(reason), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1"] {
            let parsed: IpAddr = ip.parse().unwrap_or_else(|_| panic!("{ip}"));
            assert_eq!(forbidden(parsed), None, "{ip}");
        }
        let loopback: IpAddr = "127.0.0.1"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(allowed(loopback, true), Ok(()));
        assert_eq!(allowed(loopback, false), Err(Forbidden::Loopback));
        let private: IpAddr = "10.0.0.1".parse().unwrap_or(loopback);
        assert_eq!(allowed(private, true), Err(Forbidden::Private));
    }

    #[test]
    fn webhook_urls_are_https_to_public_hosts() {
        assert!(WebhookUrl::parse("https://hooks.example.com/in", false).is_ok());
        for raw in [
            "",
            "hooks.example.com",
            "ftp://hooks.example.com/",
            "http://hooks.example.com/",
            "https://user:pw@hooks.example.com/",
            "https://hooks.example.com/#x",
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://[::1]/",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/",
            "https://localhost/",
            "https://a.localhost/",
            "http://127.0.0.1:9000/",
        ] {
            assert!(WebhookUrl::parse(raw, false).is_err(), "{raw:?} accepted");
        }
        // With loopback allowed (the tests), http to this machine only.
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(WebhookUrl::parse("http://localhost:9000/hook", true).is_ok());
        assert!(WebhookUrl::parse("http://hooks.example.com/", true).is_err());
        assert!(WebhookUrl::parse("https://10.0.0.1/", true).is_err());
        // Under the limit as typed, over it once encoded: refused, so what is
        // stored can always be entered again.
        let typed = format!("https://hooks.example.com/{}", "é".repeat(900));
        assert!(typed.len() <= WebhookUrl::MAX_LEN);
        assert!(WebhookUrl::parse(&typed, false).is_err());
        let fits = format!("https://hooks.example.com/{}", "é".repeat(300));
        let url = WebhookUrl::parse(&fits, false).unwrap();
        assert_eq!(WebhookUrl::parse(url.as_str(), false), Ok(url));
    }

    #[test]
    fn event_sets_keep_the_catalog_order_and_refuse_unknown_names() {
        let set = EventSet::parse(["key.deleted", "key.created", "key.deleted"]);
        assert_eq!(
            set.as_ref().map(EventSet::to_stored).ok().as_deref(),
            Some("key.created key.deleted")
        );
        assert!(EventSet::parse(["key.nope"]).is_err());
        assert!(EventSet::parse(["webhook.test"]).is_err());
        assert!(EventSet::parse(Vec::<&str>::new()).is_err());
        assert_eq!(
            EventSet::from_stored("key.created gone.event").to_stored(),
            "key.created"
        );
    }
}
