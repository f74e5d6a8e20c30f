//! The request line, written once per request: its fields, and its format
//! written straight into the line, without tracing-subscriber's general
//! formatter (timestamp arithmetic, field visitor, colour styles on every
//! field). The line is byte for byte what that formatter writes (the tests
//! compare them): where it could differ, on a value that would need escaping,
//! inside a span, or in colour, the general formatter writes it instead.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use tracing::field::{Field, Visit};

/// The request line's target: a filter can name it
/// (`KEYWARD_LOG=info,keyward::request=warn` keeps every line but these).
pub const TARGET: &str = "keyward::request";

/// A latency in milliseconds with two decimals, as `{:.2}` of the float
/// would show it, computed in integers.
#[derive(Debug, Clone, Copy)]
pub struct Millis(pub Duration);

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hundredths = (self.0.as_nanos() + 5_000) / 10_000;
        write!(f, "{}.{:02}", hundredths / 100, hundredths % 100)
    }
}

/// Writes the request line `event` into `line`, in JSON or text: `false`
/// (and `line` is then to be discarded) when a value is not plain text, a
/// case the general formatter is left to write.
pub(super) fn write(line: &mut String, event: &tracing::Event<'_>, json: bool) -> bool {
    if !timestamp(line, SystemTime::now(), json) {
        return false;
    }
    if json {
        line.push_str(",\"level\":\"INFO\"");
    } else {
        line.push_str(" INFO ");
    }
    let mut fields = Fields {
        line,
        json,
        first: true,
        plain: true,
    };
    event.record(&mut fields);
    if !fields.plain {
        return false;
    }
    line.push_str(if json { "}\n" } else { "\n" });
    #[cfg(test)]
    WRITTEN.set(WRITTEN.get() + 1);
    true
}

#[cfg(test)]
thread_local! {
    /// The request lines this thread wrote with [`write`].
    pub(super) static WRITTEN: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

thread_local! {
    /// The second last written and its text up to the seconds.
    static SECOND: std::cell::Cell<(u64, [u8; 19])> = const { std::cell::Cell::new((u64::MAX, [0; 19])) };
}

/// The timestamp as tracing-subscriber writes it (RFC 3339, UTC, with
/// microseconds, `2026-12-05T23:15:26.116658Z`): the text up to the seconds
/// is made once a second on each thread. Opens the JSON object.
fn timestamp(line: &mut String, now: SystemTime, json: bool) -> bool {
    let Ok(since) = now.duration_since(SystemTime::UNIX_EPOCH) else {
        return false;
    };
    let seconds = since.as_secs();
    let (cached, mut text) = SECOND.get();
    if cached != seconds {
        let Ok(at) = i64::try_from(seconds).map(time::OffsetDateTime::from_unix_timestamp) else {
            return false;
        };
        let Ok(at) = at else { return false };
        if !(0..=9999).contains(&at.year()) {
            return false;
        }
        let mut made = String::with_capacity(19);
        let _ = write!(
            made,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        let Ok(bytes) = <[u8; 19]>::try_from(made.as_bytes()) else {
            return false;
        };
        text = bytes;
        SECOND.set((seconds, text));
    }
    if json {
        line.push_str("{\"timestamp\":\"");
    }
    // Made from digits and separators above: always UTF-8.
    line.push_str(std::str::from_utf8(&text).unwrap_or("0000-00-00T00:00:00"));
    line.push('.');
    push_padded(line, since.subsec_micros(), 6);
    line.push_str(if json { "Z\"" } else { "Z " });
    true
}

/// `value` in decimal, zero-padded to `width` digits.
fn push_padded(line: &mut String, value: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut rest = value;
    let mut at = digits.len();
    while rest > 0 {
        at -= 1;
        digits[at] = b'0' + u8::try_from(rest % 10).unwrap_or(0);
        rest /= 10;
    }
    let start = at.min(digits.len().saturating_sub(width));
    line.push_str(std::str::from_utf8(&digits[start..]).unwrap_or("0"));
}

/// Writes the event's fields as the general formatter would: in text,
/// `message` bare then ` name=value`; in JSON, `"name":"value"` members, and
/// integers as numbers.
struct Fields<'a> {
    line: &'a mut String,
    json: bool,
    first: bool,
    plain: bool,
}

impl Fields<'_> {
    /// The separator and the name; `false` for a name the general formatter
    /// treats apart.
    fn name(&mut self, field: &Field) -> bool {
        let name = field.name();
        if name.starts_with("r#") || name.starts_with("log.") {
            self.plain = false;
            return false;
        }
        if self.json {
            self.line.push_str(",\"");
            self.line.push_str(name);
            self.line.push_str("\":");
        } else {
            if !self.first {
                self.line.push(' ');
            }
            if name != "message" {
                self.line.push_str(name);
                self.line.push('=');
            }
        }
        self.first = false;
        true
    }

    /// Whether the text from `from` on needs no escaping in either format.
    fn check_plain(&mut self, from: usize) {
        let plain = self.line.as_bytes()[from..]
            .iter()
            .all(|b| (0x20..0x7f).contains(b) && *b != b'"' && *b != b'\\');
        self.plain &= plain;
    }
}

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.plain || !self.name(field) {
            return;
        }
        if self.json {
            self.line.push('"');
        }
        let from = self.line.len();
        if write!(self.line, "{value:?}").is_err() {
            self.plain = false;
        }
        self.check_plain(from);
        if self.json {
            self.line.push('"');
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.plain && self.name(field) {
            let _ = write!(self.line, "{value}");
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.plain && self.name(field) {
            let _ = write!(self.line, "{value}");
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.plain && self.name(field) {
            self.line.push_str(if value { "true" } else { "false" });
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        // Text quotes a string that is not the message (it is written with
        // `Debug`); JSON quotes every string.
        if !self.plain || !self.name(field) {
            return;
        }
        let quoted = self.json || field.name() != "message";
        if quoted {
            self.line.push('"');
        }
        let from = self.line.len();
        self.line.push_str(value);
        self.check_plain(from);
        if quoted {
            self.line.push('"');
        }
    }

    fn record_f64(&mut self, _: &Field, _: f64) {
        self.plain = false;
    }

    fn record_i128(&mut self, _: &Field, _: i128) {
        self.plain = false;
    }

    fn record_u128(&mut self, _: &Field, _: u128) {
        self.plain = false;
    }

    fn record_error(&mut self, _: &Field, _: &(dyn std::error::Error + 'static)) {
        self.plain = false;
    }

    fn record_bytes(&mut self, _: &Field, _: &[u8]) {
        self.plain = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_shows_two_decimals_rounded_like_the_float() {
        let shown = |micros: u64| Millis(Duration::from_micros(micros)).to_string();
        assert_eq!(shown(0), "0.00");
        assert_eq!(shown(4), "0.00");
        assert_eq!(shown(6), "0.01");
        assert_eq!(shown(1_234), "1.23");
        assert_eq!(shown(1_236), "1.24");
        assert_eq!(shown(12_345_678), "12345.68");
        for micros in [0, 3, 7, 99, 1_001, 25_019, 987_654] {
            let float = Duration::from_micros(micros).as_secs_f64() * 1000.0;
            assert_eq!(shown(micros), format!("{float:.2}"), "{micros} µs");
        }
    }

    #[test]
    fn numbers_are_zero_padded() {
        let mut line = String::new();
        push_padded(&mut line, 42, 6);
        push_padded(&mut line, 123_456, 6);
        push_padded(&mut line, 0, 6);
        assert_eq!(line, "000042123456000000");
    }

    #[test]
    fn the_timestamp_is_rfc_3339_utc_with_microseconds() {
        let at = SystemTime::UNIX_EPOCH + Duration::new(1_796_512_526, 116_658_999);
        let mut line = String::new();
        assert!(timestamp(&mut line, at, false));
        assert_eq!(line, "2026-12-05T23:15:26.116658Z ");
        // The cached second, then the next one.
        line.clear();
        assert!(timestamp(&mut line, at + Duration::from_micros(1), true));
        assert_eq!(line, "{\"timestamp\":\"2026-12-05T23:15:26.116659Z\"");
        line.clear();
        assert!(timestamp(&mut line, at + Duration::from_secs(3600), false));
        assert_eq!(line, "2026-12-06T00:15:26.116658Z ");
    }
}
