//! Failed attempts per client address and minute: a client that sends too many
//! bad credentials is told to wait (429) instead of costing lookups.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};
use std::time::Instant;

/// Failed attempts one client may make per minute before being told to wait.
pub const FAILURES_PER_MINUTE: u32 = 60;

/// Failed attempts of one client in the current minute.
#[derive(Debug, Default)]
struct Window {
    minute: AtomicI64,
    count: AtomicU32,
}

/// The failure windows of every client seen failing.
pub struct Failures {
    windows: quick_cache::sync::Cache<IpAddr, Arc<Window>>,
    any: AtomicBool,
    started: Instant,
}

impl std::fmt::Debug for Failures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Failures")
            .field("clients", &self.windows.len())
            .finish()
    }
}

impl Failures {
    /// No failure yet, room for `capacity` clients.
    pub fn new(capacity: usize) -> Self {
        Self {
            windows: quick_cache::sync::Cache::new(capacity),
            any: AtomicBool::new(false),
            started: Instant::now(),
        }
    }

    fn minute(&self) -> i64 {
        i64::try_from(self.started.elapsed().as_secs() / 60).unwrap_or(i64::MAX)
    }

    /// Counts a failure of `client`.
    pub fn note(&self, client: Option<IpAddr>) {
        let Some(ip) = client else { return };
        let window = match self.windows.get(&ip) {
            Some(window) => window,
            None => {
                let window = Arc::new(Window::default());
                self.windows.insert(ip, Arc::clone(&window));
                window
            }
        };
        let minute = self.minute();
        if window.minute.swap(minute, Ordering::Relaxed) != minute {
            window.count.store(0, Ordering::Relaxed);
        }
        window.count.fetch_add(1, Ordering::Relaxed);
        self.any.store(true, Ordering::Relaxed);
    }

    /// Whether `client` has used up this minute's failures.
    pub fn too_many(&self, client: Option<IpAddr>) -> bool {
        // The common case, no failure ever: no lookup at all.
        if !self.any.load(Ordering::Relaxed) {
            return false;
        }
        client
            .and_then(|ip| self.windows.get(&ip))
            .is_some_and(|w| {
                w.minute.load(Ordering::Relaxed) == self.minute()
                    && w.count.load(Ordering::Relaxed) >= FAILURES_PER_MINUTE
            })
    }
}
