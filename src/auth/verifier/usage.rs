//! Each key's and app's requests counted in memory, by minute and outcome, and
//! the request log's rows queued: both written by the verifier's flush every
//! few seconds (and at shutdown), never by the request.
//!
//! A counted request takes one small lock, its key's own; the flush takes
//! each key's counts out and adds them to the database's buckets, where every
//! instance's counts add up. A flush that fails puts them back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::clock::Timestamp;
use crate::domain::usage::Outcome;
use crate::domain::{AppId, KeyId, OrgId};

/// The most log rows waiting for a flush: past it, rows are counted as
/// dropped (and reported) rather than held.
pub const MAX_QUEUED_LOGS: usize = 20_000;
/// The most log rows one key (or one app's tokens) queues between two
/// flushes: a client hammering with a refused key is counted in full but
/// logged only this often, so it cannot crowd out every other key's rows
/// nor turn each refusal into a database write.
pub const MAX_LOGGED_PER_KEY: u32 = 1_000;

/// What one key (or one app's access tokens) did, by minute and outcome,
/// since the last flush.
#[derive(Debug)]
pub struct UsageCell {
    /// The organization, app and key (none for access tokens), shared with
    /// the map of cells and with what a flush takes out.
    pub owner: Arc<Owner>,
    counts: Mutex<Minutes>,
    /// Log rows queued since the last flush.
    logged: std::sync::atomic::AtomicU32,
}

/// Whose requests a cell counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    pub organization_id: OrgId,
    pub app_id: AppId,
    /// The key; `None` for the app's users' access tokens.
    pub key_id: Option<KeyId>,
}

/// A cell's counts by minute. The minutes one flush interval spans (one or
/// two) are held inline, so a cached key's cell allocates nothing; more
/// (after a failed flush) go to `more`.
#[derive(Debug, Default)]
struct Minutes {
    inline: [(i64, [u64; 6]); 2],
    len: usize,
    more: Vec<(i64, [u64; 6])>,
}

impl Minutes {
    fn add(&mut self, minute: i64, outcome: Outcome, n: u64) {
        let (inline, more) = (&mut self.inline[..self.len], &mut self.more);
        if let Some((_, by_outcome)) = inline
            .iter_mut()
            .chain(more.iter_mut())
            .find(|(m, _)| *m == minute)
        {
            by_outcome[outcome.index()] += n;
            return;
        }
        let mut by_outcome = [0; 6];
        by_outcome[outcome.index()] = n;
        if self.len < self.inline.len() {
            self.inline[self.len] = (minute, by_outcome);
            self.len += 1;
        } else {
            self.more.push((minute, by_outcome));
        }
    }

    /// Hands each minute's counts to `each` and forgets them; `false` when
    /// there were none.
    fn drain(&mut self, mut each: impl FnMut(i64, [u64; 6])) -> bool {
        let any = self.len > 0;
        for (minute, by_outcome) in self.inline[..self.len].iter().copied() {
            each(minute, by_outcome);
        }
        for (minute, by_outcome) in self.more.drain(..) {
            each(minute, by_outcome);
        }
        self.len = 0;
        self.more = Vec::new();
        any
    }
}

impl UsageCell {
    fn add(&self, minute: i64, outcome: Outcome, n: u64) {
        if let Ok(mut counts) = self.counts.lock() {
            counts.add(minute, outcome, n);
        }
    }

    /// Hands each minute's counts to `each`; `false` when there were none.
    fn drain(&self, each: impl FnMut(i64, [u64; 6])) -> bool {
        self.counts
            .lock()
            .map(|mut counts| counts.drain(each))
            .unwrap_or(false)
    }
}

/// The credential's usage cell and what its organization logs, carried by
/// the request from the check to its answer (a request extension).
#[derive(Debug, Clone)]
pub struct UsageTag {
    pub cell: Arc<UsageCell>,
    /// The share of allowed requests logged, in basis points.
    pub sample_basis_points: u32,
    /// The client address the check saw.
    pub client: Option<IpAddr>,
}

/// One request for the log, as the answer left.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub owner: Arc<Owner>,
    pub at: Timestamp,
    pub method: String,
    /// The route pattern (never the path or query).
    pub route: String,
    pub status: u16,
    pub outcome: Outcome,
    pub error_code: Option<String>,
    pub client: Option<IpAddr>,
    pub latency_us: i64,
    pub request_id: String,
}

/// A bucket's count, as flushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub owner: Arc<Owner>,
    /// The minute's first second since the Unix epoch.
    pub minute: i64,
    pub outcome: Outcome,
    pub count: u64,
}

/// The request's facts the log needs, read only if it is logged.
#[derive(Debug)]
pub struct Answered<'a> {
    pub method: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub error_code: Option<&'a str>,
    pub latency_us: i64,
    pub request_id: &'a str,
}

/// Every cell of this instance and the log queue.
#[derive(Debug, Default)]
pub struct Usage {
    cells: Mutex<HashMap<Arc<Owner>, Arc<UsageCell>>>,
    logs: Mutex<Vec<LogRecord>>,
    dropped: AtomicU64,
    dropped_reported: AtomicU64,
    capped: AtomicU64,
}

impl Usage {
    /// The cell of `owner`, made on first use.
    pub fn cell(&self, owner: Owner) -> Arc<UsageCell> {
        self.cell_of(Arc::new(owner))
    }

    fn cell_of(&self, owner: Arc<Owner>) -> Arc<UsageCell> {
        let made = |owner| {
            Arc::new(UsageCell {
                owner,
                counts: Mutex::new(Minutes::default()),
                logged: Default::default(),
            })
        };
        match self.cells.lock() {
            Ok(mut cells) => match cells.get(&*owner) {
                Some(cell) => Arc::clone(cell),
                None => Arc::clone(cells.entry(Arc::clone(&owner)).or_insert(made(owner))),
            },
            // Counted nowhere rather than failing the request.
            Err(_) => made(owner),
        }
    }

    /// Counts one answered request of `tag`'s credential at `at`, and queues
    /// it for the log if it was refused or falls in the sample.
    pub fn record(&self, tag: &UsageTag, at: Timestamp, answered: &Answered<'_>) {
        let outcome = Outcome::of_status(answered.status);
        let unix = at.assume_utc().unix_timestamp();
        tag.cell.add(unix.div_euclid(60) * 60, outcome, 1);
        let logged = outcome.is_refused()
            || (tag.sample_basis_points > 0
                && rand::random_range(0..10_000u32) < tag.sample_basis_points);
        if !logged {
            return;
        }
        if tag.cell.logged.fetch_add(1, Ordering::Relaxed) >= MAX_LOGGED_PER_KEY {
            self.capped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let Ok(mut logs) = self.logs.lock() else {
            return;
        };
        if logs.len() >= MAX_QUEUED_LOGS {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        logs.push(LogRecord {
            owner: tag.cell.owner.clone(),
            at,
            method: answered.method.to_owned(),
            route: answered.route.to_owned(),
            status: answered.status,
            outcome,
            error_code: answered.error_code.map(str::to_owned),
            client: tag.client.map(|ip| ip.to_canonical()),
            latency_us: answered.latency_us,
            request_id: answered.request_id.to_owned(),
        });
    }

    /// Takes every count and queued log row out for a flush; forgets the
    /// cells nothing else holds and nothing counted in since.
    pub fn drain(&self) -> (Vec<Counted>, Vec<LogRecord>) {
        let mut counted = Vec::new();
        if let Ok(mut cells) = self.cells.lock() {
            // Most cells counted one minute of one outcome.
            counted.reserve(cells.len());
            cells.retain(|owner, cell| {
                cell.logged.store(0, Ordering::Relaxed);
                let idle = !cell.drain(|minute, by_outcome| {
                    for outcome in Outcome::ALL {
                        let count = by_outcome[outcome.index()];
                        if count > 0 {
                            counted.push(Counted {
                                owner: Arc::clone(owner),
                                minute,
                                outcome,
                                count,
                            });
                        }
                    }
                });
                // A cell still held by a cached credential stays.
                !idle || Arc::strong_count(cell) > 1
            });
        }
        let logs = self
            .logs
            .lock()
            .map(|mut logs| std::mem::take(&mut *logs))
            .unwrap_or_default();
        (counted, logs)
    }

    /// Puts back what a failed flush took out, for the next one: the counts
    /// in full, the log rows as far as the queue's room allows.
    pub fn restore(&self, counted: Vec<Counted>, logs: Vec<LogRecord>) {
        for c in counted {
            let cell = self.cell_of(c.owner);
            cell.add(c.minute, c.outcome, c.count);
        }
        if let Ok(mut queue) = self.logs.lock() {
            let room = MAX_QUEUED_LOGS.saturating_sub(queue.len());
            let lost = logs.len().saturating_sub(room);
            queue.extend(logs.into_iter().take(room));
            self.dropped.fetch_add(lost as u64, Ordering::Relaxed);
        }
    }

    /// Log rows dropped since the start because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Requests of keys over [`MAX_LOGGED_PER_KEY`] in a flush interval,
    /// counted but not logged one by one, since the start.
    pub fn capped(&self) -> u64 {
        self.capped.load(Ordering::Relaxed)
    }

    /// Log rows dropped since the last call (for a warning line).
    pub fn newly_dropped(&self) -> u64 {
        let now = self.dropped();
        now - self.dropped_reported.swap(now, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(key: &str) -> Owner {
        Owner {
            organization_id: OrgId::from("org".to_owned()),
            app_id: AppId::from("app"),
            key_id: Some(KeyId::from(key)),
        }
    }

    fn answered(status: u16) -> Answered<'static> {
        Answered {
            method: "GET",
            route: "/api/v2/services",
            status,
            error_code: None,
            latency_us: 10,
            request_id: "r",
        }
    }

    fn at(unix: i64) -> Timestamp {
        crate::clock::from_unix(unix).unwrap_or(crate::clock::now())
    }

    #[test]
    fn counts_by_minute_and_outcome_and_logs_the_refused() {
        let usage = Usage::default();
        let tag = UsageTag {
            cell: usage.cell(owner("k1")),
            sample_basis_points: 0,
            client: None,
        };
        for (unix, status) in [(600, 200), (610, 200), (619, 403), (660, 200), (661, 500)] {
            usage.record(&tag, at(unix), &answered(status));
        }
        let (mut counted, logs) = usage.drain();
        counted.sort_by_key(|c| (c.minute, c.outcome));
        let seen: Vec<(i64, Outcome, u64)> = counted
            .iter()
            .map(|c| (c.minute, c.outcome, c.count))
            .collect();
        assert_eq!(
            seen,
            [
                (600, Outcome::Allowed, 2),
                (600, Outcome::Forbidden, 1),
                (660, Outcome::Allowed, 1),
                (660, Outcome::ServerError, 1),
            ]
        );
        let statuses: Vec<u16> = logs.iter().map(|l| l.status).collect();
        assert_eq!(statuses, [403, 500]);
        // Nothing is counted twice.
        assert_eq!(usage.drain().0, []);
    }

    #[test]
    fn a_full_sample_logs_every_request_and_a_full_queue_drops_and_counts() {
        let usage = Usage::default();
        let keys = MAX_QUEUED_LOGS / MAX_LOGGED_PER_KEY as usize + 5;
        let tags: Vec<UsageTag> = (0..keys)
            .map(|k| UsageTag {
                cell: usage.cell(owner(&format!("k{k}"))),
                sample_basis_points: 10_000,
                client: None,
            })
            .collect();
        for tag in &tags {
            for _ in 0..MAX_LOGGED_PER_KEY {
                usage.record(tag, at(60), &answered(200));
            }
        }
        let over = (keys * MAX_LOGGED_PER_KEY as usize - MAX_QUEUED_LOGS) as u64;
        assert_eq!(usage.dropped(), over);
        assert_eq!(usage.newly_dropped(), over);
        assert_eq!(usage.newly_dropped(), 0);
        assert_eq!(usage.capped(), 0);
        let (counted, logs) = usage.drain();
        assert_eq!(logs.len(), MAX_QUEUED_LOGS);
        // The counts are never sampled nor dropped.
        let total: u64 = counted.iter().map(|c| c.count).sum();
        assert_eq!(total, (keys * MAX_LOGGED_PER_KEY as usize) as u64);
    }

    #[test]
    fn a_flooding_key_is_counted_in_full_but_logged_up_to_its_share() {
        let usage = Usage::default();
        let tag = UsageTag {
            cell: usage.cell(owner("k1")),
            sample_basis_points: 0,
            client: None,
        };
        for _ in 0..MAX_LOGGED_PER_KEY + 7 {
            usage.record(&tag, at(60), &answered(401));
        }
        assert_eq!(usage.capped(), 7);
        let (counted, logs) = usage.drain();
        assert_eq!(logs.len(), MAX_LOGGED_PER_KEY as usize);
        assert_eq!(counted[0].count, u64::from(MAX_LOGGED_PER_KEY) + 7);
        // Its share comes back with the next flush interval.
        usage.record(&tag, at(61), &answered(401));
        assert_eq!(usage.drain().1.len(), 1);
    }

    #[test]
    fn a_failed_flush_loses_no_count() {
        let usage = Usage::default();
        let tag = UsageTag {
            cell: usage.cell(owner("k1")),
            sample_basis_points: 0,
            client: None,
        };
        usage.record(&tag, at(60), &answered(200));
        let (counted, logs) = usage.drain();
        usage.record(&tag, at(60), &answered(200));
        usage.restore(counted, logs);
        let (counted, _) = usage.drain();
        assert_eq!(counted.len(), 1);
        assert_eq!(counted[0].count, 2);
    }

    #[test]
    fn idle_cells_that_nothing_holds_are_forgotten() {
        let usage = Usage::default();
        let cell = usage.cell(owner("k1"));
        drop(usage.cell(owner("k2")));
        usage.drain();
        let cells = usage.cells.lock().map(|c| c.len()).unwrap_or(0);
        assert_eq!(cells, 1, "k1 is still held");
        drop(cell);
        usage.drain();
        let cells = usage.cells.lock().map(|c| c.len()).unwrap_or(0);
        assert_eq!(cells, 0);
    }
}
