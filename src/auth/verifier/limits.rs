//! Per-key rate limits: fixed windows of a second and a minute, aligned to
//! the clock, counted in memory with atomics (no database write per
//! request) and shared between instances in the background.
//!
//! Each instance counts what it admitted of each limited key in the current
//! windows; every [`SYNC_INTERVAL`] it writes the counts that moved to
//! `rate_counts` and reads the other instances' counts of the same windows.
//! An instance that counts says so once a second (a presence row); the counts
//! themselves are written only while another instance is present, so a lone
//! instance writes one row a second whatever its traffic.
//! A request is admitted while this instance's count plus the others' (as
//! last read) is under the limit. So across N instances a key gets at most
//! its limit per window plus what the other instances admitted in the last
//! two sync intervals (their count is at most one interval old when written
//! and one more when read); one instance alone is exact.
//!
//! The answer carries the draft IETF RateLimit fields
//! (draft-ietf-httpapi-ratelimit-headers-09 §3, §4): `RateLimit-Policy` with
//! each window's quota `q` and length `w`, and `RateLimit` with what remains
//! `r` and the seconds until the window resets `t`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::db::models::rate_count::{PRESENCE, PRESENCE_SECONDS, RateCount};
use crate::domain::{KeyId, RateLimits};

/// How often the instances share their counts.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(100);

/// A window's index and count, packed in one atomic: the index (seconds
/// or minutes since the epoch, modulo 2³²) high, the count low.
#[derive(Debug, Default)]
struct Packed(AtomicU64);

fn pack(index: u32, count: u32) -> u64 {
    (u64::from(index) << 32) | u64::from(count)
}

fn unpack(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

impl Packed {
    /// The count of window `index` (zero if the stored one is another window).
    fn count_in(&self, index: u32) -> u32 {
        let (i, c) = unpack(self.0.load(Ordering::Acquire));
        if i == index { c } else { 0 }
    }

    fn set(&self, index: u32, count: u32) {
        self.0.store(pack(index, count), Ordering::Release);
    }

    /// Adds one to window `index` if the count stays within `room` (the
    /// limit minus what others admitted); the count it reached.
    fn take(&self, index: u32, room: u32) -> Option<u32> {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            let (i, c) = unpack(current);
            let c = if i == index { c } else { 0 };
            if c >= room {
                return None;
            }
            match self.0.compare_exchange_weak(
                current,
                pack(index, c + 1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(c + 1),
                Err(seen) => current = seen,
            }
        }
    }

    /// Gives back one taken from window `index` (the other window refused).
    fn give_back(&self, index: u32) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                let (i, c) = unpack(v);
                (i == index && c > 0).then(|| pack(i, c - 1))
            });
    }
}

/// One window of one key: this instance's count, the others', and what
/// was last written.
#[derive(Debug, Default)]
struct Window {
    local: Packed,
    others: Packed,
    published: Packed,
}

/// The counters of one limited key on this instance.
#[derive(Debug, Default)]
pub struct KeyCounter {
    second: Window,
    minute: Window,
}

/// What a limited key's request was told: each window's quota, what
/// remains and when it resets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateState {
    /// `(quota, window seconds, remaining, seconds to reset)` for each limit.
    pub windows: Vec<(u32, u32, u32, u32)>,
}

impl RateState {
    /// `RateLimit-Policy`: `"per-second";q=5;w=1, "per-minute";q=100;w=60`.
    pub fn policy(&self) -> String {
        self.windows
            .iter()
            .map(|(q, w, _, _)| format!("\"{}\";q={q};w={w}", name(*w)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `RateLimit`: `"per-second";r=2;t=1, …`.
    pub fn current(&self) -> String {
        self.windows
            .iter()
            .map(|(_, w, r, t)| format!("\"{}\";r={r};t={t}", name(*w)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Seconds until a refused client may try again: the longest reset of
    /// the windows that are used up.
    pub fn retry_after(&self) -> u32 {
        self.windows
            .iter()
            .filter(|(_, _, r, _)| *r == 0)
            .map(|(_, _, _, t)| *t)
            .max()
            .unwrap_or(1)
    }
}

fn name(window: u32) -> &'static str {
    if window == 1 {
        "per-second"
    } else {
        "per-minute"
    }
}

/// The window indexes and seconds to reset at `unix` seconds.
fn windows_at(unix: i64) -> ((u32, u32), (u32, u32)) {
    let second = unix as u32;
    let minute = unix.div_euclid(60) as u32;
    let to_minute_end = 60 - unix.rem_euclid(60) as u32;
    ((second, 1), (minute, to_minute_end))
}

impl KeyCounter {
    /// Admits one request at `unix` seconds under `limits`, or refuses it;
    /// either way, the state to tell the client.
    pub fn admit(&self, limits: RateLimits, unix: i64) -> Result<RateState, RateState> {
        let ((second, second_reset), (minute, minute_reset)) = windows_at(unix);
        let mut windows = Vec::with_capacity(2);
        let mut taken_second = false;
        let mut refused = false;
        if let Some(limit) = limits.per_second {
            let others = self.second.others.count_in(second);
            match self.second.local.take(second, limit.saturating_sub(others)) {
                Some(n) => {
                    taken_second = true;
                    windows.push((limit, 1, limit.saturating_sub(others + n), second_reset));
                }
                None => {
                    refused = true;
                    windows.push((limit, 1, 0, second_reset));
                }
            }
        }
        if let Some(limit) = limits.per_minute {
            let others = self.minute.others.count_in(minute);
            let room = limit.saturating_sub(others);
            let taken = if refused {
                None
            } else {
                self.minute.local.take(minute, room)
            };
            match taken {
                Some(n) => {
                    windows.push((limit, 60, limit.saturating_sub(others + n), minute_reset))
                }
                None => {
                    let used = self.minute.local.count_in(minute) + others;
                    windows.push((limit, 60, limit.saturating_sub(used), minute_reset));
                    if !refused && taken_second {
                        self.second.local.give_back(second);
                    }
                    refused = true;
                }
            }
        }
        let state = RateState { windows };
        if refused { Err(state) } else { Ok(state) }
    }
}

/// Every limited key's counters on this instance.
#[derive(Debug)]
pub struct Limiter {
    instance: String,
    counters: Mutex<HashMap<KeyId, Arc<KeyCounter>>>,
    /// The second this instance last wrote its presence.
    said_present: AtomicI64,
    /// The second another instance was last seen present.
    others_seen: AtomicI64,
}

/// Above this many counted keys, the others' counts are read for every key
/// rather than named one by one.
const KEYS_NAMED: usize = 500;

impl Limiter {
    /// Counters of an instance named `instance` (unique among those sharing
    /// the database).
    pub fn new(instance: String) -> Self {
        Self {
            instance,
            counters: Mutex::new(HashMap::new()),
            said_present: AtomicI64::new(i64::MIN),
            others_seen: AtomicI64::new(i64::MIN),
        }
    }

    /// The counters of `key` (kept across cache invalidations).
    pub fn counter(&self, key: &KeyId) -> Arc<KeyCounter> {
        match self.counters.lock() {
            Ok(mut map) => Arc::clone(map.entry(key.clone()).or_default()),
            Err(_) => Arc::new(KeyCounter::default()),
        }
    }

    /// Whether another instance counted within [`PRESENCE_SECONDS`] of `unix`.
    fn others_present(&self, unix: i64) -> bool {
        self.others_seen.load(Ordering::Acquire) >= unix - PRESENCE_SECONDS
    }

    /// This instance's presence row, once a second.
    pub fn presence(&self, unix: i64) -> Option<RateCount> {
        (self.said_present.swap(unix, Ordering::AcqRel) != unix).then(|| RateCount {
            key_id: KeyId::from(""),
            window_seconds: PRESENCE,
            window_start: unix,
            instance: self.instance.clone(),
            count: 0,
        })
    }

    /// The keys counted here, to read the others' counts of (`None`: too
    /// many to name, read them all).
    pub fn keys(&self) -> Option<Vec<KeyId>> {
        let map = self.counters.lock().ok()?;
        (map.len() <= KEYS_NAMED).then(|| map.keys().cloned().collect())
    }

    /// This instance's counts that moved since they were last written, for
    /// the windows current at `unix`, while another instance is there to
    /// read them; marks them written. Alone, nothing is written: the counts
    /// written once another instance appears are the whole window's.
    pub fn to_publish(&self, unix: i64) -> Vec<RateCount> {
        if !self.others_present(unix) {
            return Vec::new();
        }
        let ((second, _), (minute, _)) = windows_at(unix);
        let Ok(map) = self.counters.lock() else {
            return Vec::new();
        };
        let mut rows = Vec::new();
        for (key, counter) in map.iter() {
            for (window, index, len) in
                [(&counter.second, second, 1), (&counter.minute, minute, 60)]
            {
                let count = window.local.count_in(index);
                if count > 0 && count != window.published.count_in(index) {
                    window.published.set(index, count);
                    rows.push(RateCount {
                        key_id: key.clone(),
                        window_seconds: len,
                        window_start: i64::from(index) * i64::from(len),
                        instance: self.instance.clone(),
                        count: i64::from(count),
                    });
                }
            }
        }
        rows
    }

    /// Whether this instance has a limited key cached or counted: only then
    /// are the other instances' counts worth reading.
    pub fn is_busy(&self) -> bool {
        self.counters.lock().is_ok_and(|map| !map.is_empty())
    }

    /// Takes in the other instances' counts of the windows current at `unix`.
    pub fn take_others(&self, rows: &[RateCount], unix: i64) {
        let ((second, _), (minute, _)) = windows_at(unix);
        let mut sums: HashMap<(&KeyId, i32), u32> = HashMap::new();
        for row in rows.iter().filter(|r| r.instance != self.instance) {
            if row.window_seconds == PRESENCE {
                self.others_seen
                    .fetch_max(row.window_start, Ordering::AcqRel);
                continue;
            }
            let n = u32::try_from(row.count).unwrap_or(u32::MAX);
            let sum = sums.entry((&row.key_id, row.window_seconds)).or_default();
            *sum = sum.saturating_add(n);
        }
        let Ok(mut map) = self.counters.lock() else {
            return;
        };
        for ((key, len), sum) in sums {
            let counter = map.entry(key.clone()).or_default();
            if len == 1 {
                counter.second.others.set(second, sum);
            } else {
                counter.minute.others.set(minute, sum);
            }
        }
        // Counters no cached key holds and idle in the current windows are
        // forgotten.
        map.retain(|_, c| {
            Arc::strong_count(c) > 1
                || c.second.local.count_in(second) > 0
                || c.second.others.count_in(second) > 0
                || c.minute.local.count_in(minute) > 0
                || c.minute.others.count_in(minute) > 0
        });
    }

    /// This instance's name in `rate_counts`.
    pub fn instance(&self) -> &str {
        &self.instance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(s: Option<u32>, m: Option<u32>) -> RateLimits {
        RateLimits {
            per_second: s,
            per_minute: m,
        }
    }

    #[test]
    fn a_second_admits_its_limit_then_refuses_until_the_next() {
        let c = KeyCounter::default();
        let l = limits(Some(5), None);
        for i in 0..5 {
            let state = c.admit(l, 1_000).unwrap();
            assert_eq!(state.windows, vec![(5, 1, 4 - i, 1)]);
        }
        let refused = c.admit(l, 1_000).unwrap_err();
        assert_eq!(refused.retry_after(), 1);
        assert_eq!(refused.policy(), "\"per-second\";q=5;w=1");
        assert_eq!(refused.current(), "\"per-second\";r=0;t=1");
        assert!(c.admit(l, 1_001).is_ok());
    }

    #[test]
    fn the_minute_counts_only_what_the_second_admitted() {
        let c = KeyCounter::default();
        let l = limits(Some(2), Some(3));
        // At 10:00:30, 30 s before the minute ends.
        let t = 60 * 1_000 + 30;
        assert!(c.admit(l, t).is_ok());
        assert!(c.admit(l, t).is_ok());
        assert!(c.admit(l, t).is_err());
        let third = c.admit(l, t + 1).unwrap();
        assert_eq!(third.windows, vec![(2, 1, 1, 1), (3, 60, 0, 29)]);
        let refused = c.admit(l, t + 2).unwrap_err();
        assert_eq!(refused.retry_after(), 28);
        // The second's slot refused by the minute is given back.
        assert_eq!(c.second.local.count_in((t + 2) as u32), 0);
        assert!(c.admit(l, t + 30).is_ok());
    }

    #[test]
    fn other_instances_counts_take_room() {
        let a = Limiter::new("a".to_owned());
        let b = Limiter::new("b".to_owned());
        let key = KeyId::from("k");
        let l = limits(Some(5), None);
        for _ in 0..3 {
            assert!(a.counter(&key).admit(l, 50).is_ok());
        }
        assert!(a.to_publish(50).is_empty(), "alone, nothing is written");
        // B says it is there; A sees it, and writes its counts.
        let b_present = b.presence(50).unwrap();
        assert!(b.presence(50).is_none(), "once a second");
        a.take_others(&[b_present], 50);
        let published = a.to_publish(50);
        assert_eq!(
            published.len(),
            1,
            "the per-second window only: no minute limit"
        );
        assert_eq!(published[0].count, 3);
        assert!(a.to_publish(50).is_empty(), "only what moved is written");
        b.take_others(&published, 50);
        let cb = b.counter(&key);
        assert!(cb.admit(l, 50).is_ok());
        assert!(cb.admit(l, 50).is_ok());
        assert!(cb.admit(l, 50).is_err());
        // Another second: the others' count is of the past window.
        assert!(cb.admit(l, 51).is_ok());
    }
}
