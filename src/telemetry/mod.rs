//! Logging with `tracing`: text for people, JSON for collectors, on standard error
//! (standard output is kept for the commands' own results), written by a
//! background thread so a request never waits on the terminal or a log pipe.
//! When that thread falls behind (a stalled pipe, a full disk) and its queue is
//! full, new lines are dropped rather than holding requests, but never
//! silently: every dropped line is counted, and [`report_dropped_lines`] says
//! how many in a warning line and in `keyward_log_lines_dropped_total`.
//!
//! What is logged is chosen where it is logged: request lines carry the route
//! pattern, never the raw path, query or headers, and secret types print as masks,
//! so credentials cannot reach the logs by accident.
//!
//! With `KEYWARD_OTLP_ENDPOINT` (and the `otlp` cargo feature, on by default),
//! each request's span is also exported over OTLP/HTTP (protobuf) to a
//! collector, in batches off the request path, named `METHOD /route/pattern`
//! with the OpenTelemetry HTTP attributes and the same `request_id` as the log.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

mod request_line;

pub use request_line::TARGET as REQUEST_TARGET;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

/// Whether request spans are exported (their HTTP attributes are then recorded).
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// The writer's count of lines dropped because its queue was full.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Log lines dropped so far because the writer's queue was full.
pub fn dropped_lines() -> u64 {
    DROPPED
        .get()
        .map_or(0, |c| u64::try_from(c.dropped_lines()).unwrap_or(u64::MAX))
}

/// The dropped lines already reported.
static REPORTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Every second, reports the log lines dropped since the last report (the
/// metric reads the total at each scrape).
pub async fn report_dropped_lines() {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        report_dropped_now();
    }
}

/// Reports the log lines dropped since the last report, if any, in a warning
/// line with the count and the total. The warning may itself be dropped while
/// the queue is still full; it is then counted and reported the next time, so
/// the total reaches the log once the writer catches up (and at shutdown).
pub fn report_dropped_now() {
    let total = dropped_lines();
    let reported = REPORTED.swap(total, Ordering::Relaxed);
    if total > reported {
        tracing::warn!(
            dropped = total - reported,
            total,
            "log lines dropped: the log writer fell behind"
        );
    }
}

/// Whether request spans go to an OTLP collector.
pub fn exporting_spans() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Keeps logging (and span export) going; dropped at exit, it flushes the
/// lines still queued and the spans not yet exported.
pub struct LogGuard {
    _writer: WorkerGuard,
    #[cfg(feature = "otlp")]
    spans: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogGuard").finish_non_exhaustive()
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.spans.take()
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "the last spans could not be exported");
        }
    }
}

/// Installs the global subscriber: log lines on standard error, at most
/// `buffered_lines` queued for the writer, and, given an OTLP endpoint (its
/// base URL: spans go to `<endpoint>/v1/traces`), the span exporter. A second
/// call (in tests) installs nothing.
pub fn init(
    filter: &str,
    json: bool,
    buffered_lines: usize,
    otlp_endpoint: Option<&str>,
) -> LogGuard {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // The writer thread takes every line queued, then writes them at once:
    // one system call per batch, not per line, flushed whenever the queue is
    // empty (and at exit), so no line waits behind an idle server.
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(buffered_lines)
        .lossy(true)
        .thread_name("keyward-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let _ = DROPPED.set(writer.error_counter());
    let lines = lines_layer(json, std::io::stderr().is_terminal(), true, writer);
    let registry = tracing_subscriber::registry().with(filter).with(lines);
    #[cfg(feature = "otlp")]
    {
        let (layer, spans) = match otlp_endpoint.map(span_exporter) {
            Some(Ok(provider)) => {
                use opentelemetry::trace::TracerProvider as _;
                let tracer = provider.tracer("keyward");
                (
                    Some(tracing_opentelemetry::layer().with_tracer(tracer)),
                    Some(provider),
                )
            }
            Some(Err(e)) => {
                eprintln!("keyward: spans will not be exported: {e}");
                (None, None)
            }
            None => (None, None),
        };
        if registry.with(layer).try_init().is_ok() && spans.is_some() {
            EXPORTING.store(true, Ordering::Relaxed);
        }
        LogGuard {
            _writer: guard,
            spans,
        }
    }
    #[cfg(not(feature = "otlp"))]
    {
        let _ = otlp_endpoint;
        let _ = registry.try_init();
        LogGuard { _writer: guard }
    }
}

/// The layer writing log lines to `writer`: JSON, or text (coloured if `ansi`),
/// each line of a request naming its id, and the request line written by its
/// own writer (`fast`, unless in colour) or by the general formatter.
fn lines_layer<S, W>(
    json: bool,
    ansi: bool,
    fast: bool,
    writer: W,
) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    if json {
        let format = WithRequestId::json();
        tracing_subscriber::fmt::layer()
            .event_format(WithRequestId { fast, ..format })
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .with_writer(writer)
            .boxed()
    } else {
        let format = WithRequestId::text(ansi);
        tracing_subscriber::fmt::layer()
            .event_format(WithRequestId {
                fast: fast && format.fast,
                ..format
            })
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed()
    }
}

/// The OTLP/HTTP span exporter of `endpoint`, batching off the request path.
#[cfg(feature = "otlp")]
fn span_exporter(
    endpoint: &str,
) -> Result<opentelemetry_sdk::trace::SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    use opentelemetry_otlp::WithExportConfig as _;
    // OTLP exporter spec, "Endpoint URLs for OTLP/HTTP": the signal's path is
    // appended to the base URL.
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(std::time::Duration::from_secs(10))
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("keyward")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

tokio::task_local! {
    static REQUEST_ID: RequestId;
}

/// The log's line format: tracing-subscriber's own (compact text, or JSON with
/// the event's fields at the top level), with `request_id` added to every line
/// written while a request is served, read from the request's task-local id.
/// Requests need no span of their own for it: a span per request (made,
/// entered and left on every poll) cost more than the rest of the log line.
#[derive(Debug)]
pub struct WithRequestId<F> {
    inner: F,
    json: bool,
    /// Whether the request line is written by [`request_line::write`]
    /// (not in colour).
    fast: bool,
}

/// tracing-subscriber's compact text format, without the target.
type TextFormat = tracing_subscriber::fmt::format::Format<
    tracing_subscriber::fmt::format::Compact,
    tracing_subscriber::fmt::time::SystemTime,
>;

/// tracing-subscriber's JSON format, the event's fields flattened.
type JsonFormat = tracing_subscriber::fmt::format::Format<
    tracing_subscriber::fmt::format::Json,
    tracing_subscriber::fmt::time::SystemTime,
>;

impl WithRequestId<TextFormat> {
    /// Compact text, coloured for a terminal (`ansi`).
    pub fn text(ansi: bool) -> Self {
        Self {
            // The format's own setting, so that a line first written into the
            // buffer below keeps its colours.
            inner: tracing_subscriber::fmt::format()
                .compact()
                .with_target(false)
                .with_ansi(ansi),
            json: false,
            fast: !ansi,
        }
    }
}

impl WithRequestId<JsonFormat> {
    /// One JSON object per line, the event's fields at its top level.
    pub fn json() -> Self {
        Self {
            inner: tracing_subscriber::fmt::format()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_target(false),
            json: true,
            fast: true,
        }
    }
}

thread_local! {
    /// A line written inside a request, before its id is added.
    static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for WithRequestId<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        // The request line (written at INFO, the level its writer names),
        // outside any span (no span's fields to add).
        if self.fast
            && event.metadata().target() == request_line::TARGET
            && *event.metadata().level() == tracing::Level::INFO
            && event.parent().is_none()
            && ctx.lookup_current().is_none()
        {
            let written = LINE.with(|line| {
                let mut line = line.try_borrow_mut().ok()?;
                line.clear();
                request_line::write(&mut line, event, self.json).then(|| writer.write_str(&line))
            });
            if let Some(written) = written {
                return written;
            }
        }
        let Ok(id) = REQUEST_ID.try_with(|id| *id) else {
            return self.inner.format_event(ctx, writer, event);
        };
        // A line that already names its request (the request line) is written
        // as it is.
        if event.metadata().fields().field("request_id").is_some() {
            return self.inner.format_event(ctx, writer, event);
        }
        LINE.with(|line| {
            // Formatting a field that itself logs would come back here: that
            // line is written without the id rather than not at all.
            let Ok(mut line) = line.try_borrow_mut() else {
                return self.inner.format_event(ctx, writer.by_ref(), event);
            };
            line.clear();
            self.inner.format_event(
                ctx,
                tracing_subscriber::fmt::format::Writer::new(&mut *line),
                event,
            )?;
            let body = line.trim_end_matches('\n');
            if self.json {
                // The id is hex digits: nothing to escape.
                let object = body.strip_suffix('}').unwrap_or(body);
                writeln!(writer, "{object},\"request_id\":\"{id}\"}}")
            } else {
                writeln!(writer, "{body} request_id={id}")
            }
        })
    }
}

/// Logs the line of a request answered: method, route pattern (never the raw
/// path or query, which may carry tokens), status, latency and request id.
pub fn log_request(
    method: &str,
    route: &str,
    status: u16,
    elapsed: std::time::Duration,
    id: RequestId,
) {
    tracing::info!(
        target: REQUEST_TARGET,
        %method,
        %route,
        status,
        latency_ms = %request_line::Millis(elapsed),
        request_id = %id,
        "handled"
    );
}

/// A request's id: 64 random bits as 16 lowercase hex digits, unique across
/// instances. Made without a system call or an allocation (the thread's
/// generator, seeded from the system's), since every request has one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId([u8; 16]);

impl RequestId {
    /// A new, random id.
    pub fn new() -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let bits: u64 = rand::random();
        let mut text = [0u8; 16];
        for (i, digit) in text.iter_mut().enumerate() {
            *digit = HEX[usize::try_from((bits >> (60 - 4 * i)) & 0xf).unwrap_or(0)];
        }
        Self(text)
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        // Hex digits only: always UTF-8.
        std::str::from_utf8(&self.0).unwrap_or("0000000000000000")
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Runs `fut` as the request `id`: its log lines, error pages and JSON errors
/// name it.
pub async fn with_request_id<F: std::future::Future>(id: RequestId, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// Runs `f` as the request `id` (for an answer made after its future ended).
pub fn sync_with_request_id<T>(id: RequestId, f: impl FnOnce() -> T) -> T {
    REQUEST_ID.sync_scope(id, f)
}

/// The id of the request being served, if any.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.as_str().to_owned()).ok()
}

/// Counts events per key and window, and says which may go on: at most
/// `per_window` per key in each window of `window`. What it held back is
/// handed to the next one let through, so nothing is lost from the count.
#[derive(Debug)]
pub struct Limiter {
    per_window: u32,
    window: std::time::Duration,
    started: std::time::Instant,
    keys: std::sync::Mutex<std::collections::HashMap<String, (u64, u32, u64)>>,
}

impl Limiter {
    /// A limiter letting `per_window` events per key through in each `window`.
    pub fn new(per_window: u32, window: std::time::Duration) -> Self {
        Self {
            per_window,
            window,
            started: std::time::Instant::now(),
            keys: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// `Some(held back since the last one let through)` when this event may go
    /// on, `None` when it is held back.
    pub fn allow(&self, key: &str) -> Option<u64> {
        let window =
            u64::try_from(self.started.elapsed().as_millis() / self.window.as_millis().max(1))
                .unwrap_or(u64::MAX);
        let mut keys = self.keys.lock().ok()?;
        if keys.len() > 10_000 {
            keys.retain(|_, (w, _, held)| *w == window || *held > 0);
        }
        let entry = keys.entry(key.to_owned()).or_insert((window, 0, 0));
        if entry.0 != window {
            entry.0 = window;
            entry.1 = 0;
        }
        if entry.1 < self.per_window {
            entry.1 += 1;
            Some(std::mem::take(&mut entry.2))
        } else {
            entry.2 += 1;
            None
        }
    }
}

/// Repeated error lines (a database outage answers every request with one):
/// each kind at most once every five seconds, with the count of those held back.
pub static ERROR_LINES: std::sync::LazyLock<Limiter> =
    std::sync::LazyLock::new(|| Limiter::new(1, std::time::Duration::from_secs(5)));

/// Logs a warning of `kind` unless one was logged in the last five seconds;
/// the next one says how many were held back.
#[macro_export]
macro_rules! warn_limited {
    ($kind:expr, $($field:tt)+) => {
        if let Some(suppressed) = $crate::telemetry::ERROR_LINES.allow($kind) {
            tracing::warn!(suppressed, $($field)+);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn request_ids_are_16_hex_digits_and_differ() {
        let ids: std::collections::HashSet<String> =
            (0..1000).map(|_| RequestId::new().to_string()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| {
            id.len() == 16
                && id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }));
    }

    /// A log writer's output, kept.
    #[derive(Clone, Default)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The lines `log` writes through [`WithRequestId`] (`json` or text).
    fn lines_of(json: bool, log: impl FnOnce()) -> Vec<String> {
        lines_written(json, true, log)
    }

    /// The lines `log` writes, the request line by its own writer (`fast`) or
    /// by the general formatter.
    fn lines_written(json: bool, fast: bool, log: impl FnOnce()) -> Vec<String> {
        let sink = Sink::default();
        let writer = {
            let sink = sink.clone();
            move || sink.clone()
        };
        let layer = lines_layer(json, false, fast, writer);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn lines_written_while_serving_a_request_name_it_and_others_do_not() {
        let id = RequestId::new();
        let log = || {
            tracing::info!(route = "/healthz", "outside");
            sync_with_request_id(id, || tracing::warn!(attempt = 2, "inside"));
            tracing::info!(request_id = %id, "named");
        };
        let text = lines_of(false, log);
        assert_eq!(text.len(), 3, "{text:?}");
        assert!(text[0].ends_with("outside route=\"/healthz\""), "{text:?}");
        assert!(
            text[1].ends_with(&format!("inside attempt=2 request_id={id}")),
            "{text:?}"
        );
        assert_eq!(text[2].matches("request_id=").count(), 1, "{text:?}");

        let json: Vec<serde_json::Value> = lines_of(true, log)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(json.len(), 3);
        assert!(json[0].get("request_id").is_none(), "{json:?}");
        assert_eq!(json[1]["request_id"], id.to_string());
        assert_eq!(json[1]["message"], "inside");
        assert_eq!(json[1]["attempt"], 2);
        assert_eq!(json[2]["request_id"], id.to_string());
    }

    /// `line` with its timestamp (text: the first field; JSON: its member's
    /// value) cut out, and the timestamp.
    fn without_timestamp(json: bool, line: &str) -> (String, time::OffsetDateTime) {
        let (start, end) = if json { (14, 41) } else { (0, 27) };
        let stamp = &line[start..end];
        let at = time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{stamp:?} in {line:?}: {e}"));
        assert_eq!(stamp.len(), "2026-12-05T23:15:26.116658Z".len(), "{line}");
        (format!("{}{}", &line[..start], &line[end..]), at)
    }

    #[test]
    fn the_request_line_is_written_as_the_general_formatter_writes_it() {
        let id = RequestId::new();
        let lines = |method: &'static str, route: &'static str, status: u16, micros: u64| {
            move || {
                // Inside the request's scope, as the middleware writes it.
                sync_with_request_id(id, || {
                    log_request(method, route, status, Duration::from_micros(micros), id);
                });
            }
        };
        let cases = [
            ("GET", "/api/v1/auth/check", 200, 7),
            ("POST", "/apps/{app_id}/keys", 303, 12_345),
            ("DELETE", "(unmatched)", 404, 1_000_001),
            // Values the general formatter escapes: it writes these lines.
            ("GET", "/a\"quote", 400, 1),
            ("GET", "/tab\there", 400, 1),
        ];
        let written = || request_line::WRITTEN.get();
        for json in [false, true] {
            for (method, route, status, micros) in cases {
                let before = written();
                let fast = lines_written(json, true, lines(method, route, status, micros));
                let plain = !route.contains(['"', '\t']);
                assert_eq!(written() - before, u32::from(plain), "{route:?}");
                let general = lines_written(json, false, lines(method, route, status, micros));
                assert_eq!(written() - before, u32::from(plain), "{route:?}");
                assert_eq!(fast.len(), 1, "{fast:?}");
                assert_eq!(general.len(), 1, "{general:?}");
                let (fast_line, fast_at) = without_timestamp(json, &fast[0]);
                let (general_line, general_at) = without_timestamp(json, &general[0]);
                assert_eq!(fast_line, general_line, "json: {json}");
                assert!((general_at - fast_at).abs() < time::Duration::seconds(2));
                assert!(fast_line.contains(&format!("{id}")), "{fast_line}");
                if json {
                    let value: serde_json::Value = serde_json::from_str(&fast[0]).unwrap();
                    assert_eq!(value["route"], route);
                    assert_eq!(value["status"], status);
                }
            }
        }
        let text = lines_written(false, true, lines("GET", "/healthz", 200, 1_234));
        assert!(
            text[0].ends_with(&format!(
                " INFO handled method=GET route=/healthz status=200 latency_ms=1.23 request_id={id}"
            )),
            "{text:?}"
        );
    }

    #[test]
    fn a_request_line_inside_a_span_carries_the_span_as_other_lines_do() {
        let id = RequestId::new();
        let log = || {
            let span = tracing::info_span!("request", otel.kind = "server");
            span.in_scope(|| log_request("GET", "/healthz", 200, Duration::ZERO, id));
        };
        for json in [false, true] {
            let before = request_line::WRITTEN.get();
            let fast = lines_written(json, true, log);
            assert_eq!(request_line::WRITTEN.get(), before, "inside a span");
            let general = lines_written(json, false, log);
            assert_eq!(
                without_timestamp(json, &fast[0]).0,
                without_timestamp(json, &general[0]).0
            );
            assert!(fast[0].contains("request"), "{fast:?}");
        }
    }

    #[test]
    fn a_filter_can_leave_out_the_request_lines_alone() {
        let sink = Sink::default();
        let writer = {
            let sink = sink.clone();
            move || sink.clone()
        };
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new("info,keyward::request=warn"))
            .with(lines_layer(false, false, true, writer));
        tracing::subscriber::with_default(subscriber, || {
            log_request("GET", "/healthz", 200, Duration::ZERO, RequestId::new());
            tracing::info!("started");
        });
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("started"), "{text}");
        assert!(!text.contains("handled"), "{text}");
    }

    #[test]
    fn a_limiter_lets_some_through_and_counts_the_rest() {
        let limiter = Limiter::new(2, std::time::Duration::from_secs(3600));
        assert_eq!(limiter.allow("a"), Some(0));
        assert_eq!(limiter.allow("a"), Some(0));
        assert_eq!(limiter.allow("a"), None);
        assert_eq!(limiter.allow("a"), None);
        assert_eq!(limiter.allow("b"), Some(0), "each key on its own");
    }

    #[test]
    fn what_was_held_back_is_counted_in_the_next_window() {
        let limiter = Limiter::new(1, std::time::Duration::from_millis(50));
        assert_eq!(limiter.allow("a"), Some(0));
        assert_eq!(limiter.allow("a"), None);
        assert_eq!(limiter.allow("a"), None);
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(limiter.allow("a"), Some(2));
    }
}
