//! The fields of an application and of its keys, each valid by construction.

use url::{Host, Url};

use super::input::{Invalid, has_control_chars, has_invisible_chars};

/// A name: trimmed, each run of spaces made one, 1 to 100 characters, no
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Longest name accepted.
    pub const MAX_CHARS: usize = 100;

    /// Parses a typed name.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(Invalid::new("Enter a name."));
        }
        if s.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(format!(
                "Use at most {} characters.",
                Self::MAX_CHARS
            )));
        }
        if has_control_chars(s) || s.contains(['\n', '\r', '\t']) {
            return Err(Invalid::new(
                "Use a single line without control characters.",
            ));
        }
        if has_invisible_chars(s) {
            return Err(Invalid::new(
                "Remove the invisible characters (direction marks, zero-width spaces).",
            ));
        }
        // "Web  Booking" would show as "Web Booking": one space, as shown.
        Ok(Self(s.split_whitespace().collect::<Vec<_>>().join(" ")))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form compared for uniqueness: compatibility forms (full-width
    /// letters, ligatures) and case ignored (Unicode NFKC, then lower case).
    pub fn key(&self) -> String {
        use unicode_normalization::UnicodeNormalization;
        self.0.nfkc().collect::<String>().to_lowercase()
    }
}

/// A free-text description: up to 1,000 characters, may be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    /// Longest description accepted.
    pub const MAX_CHARS: usize = 1000;

    /// Parses a typed description.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if s.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new(format!(
                "Use at most {} characters.",
                Self::MAX_CHARS
            )));
        }
        if has_control_chars(s) {
            return Err(Invalid::new("Remove the control characters."));
        }
        Ok(Self(s.replace("\r\n", "\n")))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const MAX_URL_LEN: usize = 2048;

fn parse_url(raw: &str) -> Result<Url, Invalid> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(Invalid::new("Enter a URL."));
    }
    if s.len() > MAX_URL_LEN {
        return Err(Invalid::new("Use a URL of at most 2048 characters."));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Invalid::new(
            "A URL cannot contain spaces or control characters.",
        ));
    }
    let url = Url::parse(s)
        .map_err(|_| Invalid::new("Enter an absolute URL starting with https:// or http://."))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Invalid::new("Use an http:// or https:// URL."));
    }
    // The limit holds for the stored form too: non-ASCII letters are stored
    // percent- or punycode-encoded, and the stored form must parse again.
    if url.as_str().len() > MAX_URL_LEN {
        return Err(Invalid::new(
            "Use a URL of at most 2048 characters once its non-ASCII letters are encoded.",
        ));
    }
    if url.host().is_none() {
        return Err(Invalid::new("The URL needs a host name."));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Invalid::new("A URL cannot carry a user name or password."));
    }
    Ok(url)
}

/// The app's URI: where its developer can be reached. Absolute http(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUri(String);

impl AppUri {
    /// Parses a typed URI.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        parse_url(raw).map(|u| Self(u.to_string()))
    }

    /// The URI.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `url`'s host is this machine.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.to_ascii_lowercase().ends_with(".localhost")
        }
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A post-login or post-logout redirect URL: absolute `https` (or `http` for
/// localhost), no fragment, no wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUrl(String);

impl RedirectUrl {
    /// Most URLs in one list.
    pub const MAX_PER_LIST: usize = 10;

    /// Parses a typed URL.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        if raw.contains('*') {
            return Err(Invalid::new(
                "Wildcards are not allowed: list each URL exactly.",
            ));
        }
        if raw.contains('#') {
            return Err(Invalid::new("A redirect URL cannot have a fragment (#…)."));
        }
        let url = parse_url(raw)?;
        if url.scheme() == "http" && !is_loopback(&url) {
            return Err(Invalid::new(
                "Use https://; http:// is allowed only for localhost.",
            ));
        }
        let normalized = url.to_string();
        // A host percent-encodes a wildcard (`https:%2a.example`): the URL
        // parser decodes it, so the stored form is checked too.
        if normalized.contains('*') {
            return Err(Invalid::new(
                "Wildcards are not allowed: list each URL exactly.",
            ));
        }
        Ok(Self(normalized))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who signs in to the app with token authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginUserType {
    /// Guest-facing app.
    Guest,
    /// Internal app for employees.
    Employee,
}

impl LoginUserType {
    /// Both, in form order.
    pub const ALL: [Self; 2] = [Self::Guest, Self::Employee];

    /// Stored and submitted value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Guest => "guest",
            Self::Employee => "employee",
        }
    }

    /// Words for the console.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Guest => "Guest",
            Self::Employee => "Employee",
        }
    }

    /// Who they are, in a sentence: `guests` or `employees`.
    pub const fn plural(self) -> &'static str {
        match self {
            Self::Guest => "guests",
            Self::Employee => "employees",
        }
    }

    /// Parses a submitted value.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Invalid::new("Choose Guest or Employee."))
    }
}

/// What the app is, which marks what it books.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceApp {
    /// The business's mobile app: bookings are marked mobile.
    ExternalCma,
    /// The web store: bookings are marked web.
    ExternalWebstore,
    /// Another client app of the business.
    ClientApp,
    /// A bot: bookings are marked bot.
    Bot,
}

impl SourceApp {
    /// All, in form order.
    pub const ALL: [Self; 4] = [
        Self::ExternalCma,
        Self::ExternalWebstore,
        Self::ClientApp,
        Self::Bot,
    ];

    /// Stored and submitted value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ExternalCma => "external_cma",
            Self::ExternalWebstore => "external_webstore",
            Self::ClientApp => "client_app",
            Self::Bot => "bot",
        }
    }

    /// Words for the console.
    pub const fn label(self) -> &'static str {
        match self {
            Self::ExternalCma => "External CMA",
            Self::ExternalWebstore => "External Webstore",
            Self::ClientApp => "Client App",
            Self::Bot => "Bot",
        }
    }

    /// The booking mark of appointments this app creates, if any.
    pub fn booking_mark(self) -> Option<&'static str> {
        match self {
            Self::ExternalCma => Some("Mobile booking"),
            Self::ExternalWebstore => Some("Web booking"),
            Self::Bot => Some("Bot booking"),
            Self::ClientApp => None,
        }
    }

    /// Parses a stored or submitted value.
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Invalid::new("Choose a source app."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_trimmed_bounded_and_single_line() {
        assert_eq!(
            Name::parse("  Web Booking ").unwrap().as_str(),
            "Web Booking"
        );
        assert_eq!(Name::parse("Web Booking").unwrap().key(), "web booking");
        // Look-alikes: runs of spaces, full-width letters, ligatures.
        assert_eq!(
            Name::parse("Web \u{a0}  Booking").unwrap().as_str(),
            "Web Booking"
        );
        assert_eq!(
            Name::parse("ＷＥＢ Booking").unwrap().key(),
            Name::parse("web booking").unwrap().key()
        );
        assert_eq!(
            Name::parse("Oﬃce app").unwrap().key(),
            Name::parse("office app").unwrap().key()
        );
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"x".repeat(101)).is_err());
        assert!(Name::parse("a\nb").is_err());
        assert!(
            Name::parse("<b>'; DROP TABLE apps; --</b>").is_ok(),
            "kept as text, escaped on output"
        );
    }

    #[test]
    fn redirect_urls_are_https_except_for_localhost() {
        assert!(RedirectUrl::parse("https://app.example.com/after-login").is_ok());
        assert!(RedirectUrl::parse("http://localhost:3000/cb").is_ok());
        assert!(RedirectUrl::parse("http://127.0.0.1/cb").is_ok());
        assert!(RedirectUrl::parse("http://[::1]:8080/cb").is_ok());
        for (bad, why) in [
            ("http://app.example.com/cb", "https"),
            ("https://*.example.com/cb", "Wildcards"),
            ("https:%2aacc", "Wildcards"),
            ("https://%2A.example.com/cb", "Wildcards"),
            ("https://app.example.com/cb#frag", "fragment"),
            ("/relative", "absolute"),
            ("javascript:alert(1)", "http"),
            ("https://user:pw@example.com/", "user name"),
            ("", "Enter"),
        ] {
            let err = RedirectUrl::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn a_stored_redirect_url_is_within_the_limit_and_accepted_again() {
        // 1000 letters of two UTF-8 bytes each: within 2048 as typed, 6000+
        // percent-encoded as stored.
        let long = format!("https://app.example.com/{}", "é".repeat(1000));
        assert!(long.len() <= 2048);
        let err = RedirectUrl::parse(&long).unwrap_err().to_string();
        assert!(
            err.contains("once its non-ASCII letters are encoded"),
            "{err}"
        );
        let fits = format!("https://app.example.com/{}", "é".repeat(300));
        let stored = RedirectUrl::parse(&fits).unwrap();
        assert_eq!(RedirectUrl::parse(stored.as_str()).unwrap(), stored);
    }

    #[test]
    fn the_uri_is_an_absolute_http_url() {
        assert!(AppUri::parse("http://intranet.example.com").is_ok());
        assert!(AppUri::parse("ftp://x.example.com").is_err());
        assert!(AppUri::parse("example.com").is_err());
    }

    #[test]
    fn choices_parse_only_their_values() {
        assert_eq!(
            SourceApp::parse("bot").unwrap().booking_mark(),
            Some("Bot booking")
        );
        assert!(SourceApp::parse("Bot").is_err());
        assert_eq!(
            LoginUserType::parse("employee").unwrap(),
            LoginUserType::Employee
        );
        assert!(LoginUserType::parse("").is_err());
    }

    proptest! {
        #[test]
        fn url_parsers_never_panic(s in "\\PC{0,120}") {
            let _ = RedirectUrl::parse(&s);
            let _ = AppUri::parse(&s);
            let _ = Name::parse(&s);
            let _ = Description::parse(&s);
        }
    }
}
