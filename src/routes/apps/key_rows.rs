//! The app page's key tables: the keys in service (with their expiry
//! alerts, roll, restrictions and last addresses) and the retired keys
//! (expired, rolled out, deleted), each with what the row shows.

use std::collections::HashMap;

use crate::clock::{Timestamp, When, Zone};
use crate::db::models::alert::KeyAlert;
use crate::db::models::key_address::KeyAddress;
use crate::db::models::{ApiKey, KeyStatus, RetiredBecause, RetiredKey};
use crate::domain::{AppId, IpAllowlist, KeyId, RateLimits};

/// One key as the app page lists it.
#[derive(Debug)]
pub struct KeyRow {
    pub id: KeyId,
    pub name: String,
    pub description: String,
    pub masked: String,
    pub expires: Option<When>,
    pub status: KeyStatus,
    pub expiring_soon: bool,
    pub active: bool,
    pub last_used: Option<When>,
    pub permissions: Vec<String>,
    pub alerts: Vec<AlertLine>,
    /// Its roll, while its grace runs.
    pub rolling: Option<Rolling>,
    /// The key it replaced, by a roll: `(id, masked)`.
    pub rolled_from: Option<(KeyId, String)>,
    /// Its allowlist's entries (empty: any address).
    pub allowed_ips: Vec<String>,
    /// An entry lets every address in: worth a warning.
    pub any_address: bool,
    /// Its rate limits in words (empty: none).
    pub rate_limits: String,
    /// The last client addresses, most recent first.
    pub addresses: Vec<(String, When)>,
}

/// A rolled key's grace, as its row says it.
#[derive(Debug)]
pub struct Rolling {
    /// The successor: `(id, masked)`.
    pub to: (KeyId, String),
    /// When the old key stops, if the grace has started.
    pub until: Option<When>,
    /// The grace waits for the successor's first use: its length, in words.
    pub waits_for_first_use: Option<String>,
}

/// One expiry alert of a key, as its row shows it.
#[derive(Debug)]
pub struct AlertLine {
    pub text: String,
    pub error: bool,
}

fn alert_line(a: &KeyAlert, zone: Zone) -> Option<AlertLine> {
    let which = if a.threshold_days == 0 {
        "Expired notice".to_owned()
    } else {
        format!("{}-day alert", a.threshold_days)
    };
    match a.status.as_str() {
        "sent" => Some(AlertLine {
            text: format!(
                "{which} sent to {} on {}",
                a.recipient,
                a.sent_at.map(|t| zone.when(t).text).unwrap_or_default()
            ),
            error: false,
        }),
        "failed" => Some(AlertLine {
            text: format!(
                "{which} to {} refused by the mail server, not retried: {}",
                a.recipient,
                a.last_error.as_deref().unwrap_or("no answer recorded")
            ),
            error: true,
        }),
        "pending" | "sending" => Some(AlertLine {
            text: match &a.last_error {
                Some(e) => format!(
                    "{which} to {} pending, retried at {}: {e}",
                    a.recipient,
                    zone.when(a.next_attempt_at).text
                ),
                None => format!("{which} to {} pending", a.recipient),
            },
            error: a.last_error.is_some(),
        }),
        _ => None,
    }
}

/// A grace's length in words: `1 hour`, `7 days`, `30 hours`, `no grace`.
pub fn grace_words(seconds: i64) -> String {
    let hours = seconds / 3600;
    match hours {
        0 => "no grace".to_owned(),
        1 => "1 hour".to_owned(),
        h if h % 24 == 0 && h >= 48 => format!("{} days", h / 24),
        24 => "24 hours".to_owned(),
        h => format!("{h} hours"),
    }
}

/// What the app page needs to know of the keys around a key: masks by id.
pub type Masks = HashMap<KeyId, String>;

impl KeyRow {
    pub fn from_key(
        key: &ApiKey,
        now: Timestamp,
        alerts: &[KeyAlert],
        addresses: &[KeyAddress],
        masks: &Masks,
        zone: Zone,
    ) -> Self {
        let status = key.status(now);
        let allowlist = key.allowlist();
        let mask_of = |id: &KeyId| {
            (
                id.clone(),
                masks
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| "a deleted key".to_owned()),
            )
        };
        Self {
            alerts: alerts
                .iter()
                .filter(|a| a.key_id == key.id)
                .filter_map(|a| alert_line(a, zone))
                .collect(),
            id: key.id.clone(),
            name: key.name.clone(),
            description: key.description.clone(),
            masked: key.masked(),
            expires: key.expires_at.map(|t| zone.when(t)),
            // A rolling key's end is its grace's, which the row says.
            expiring_soon: status == KeyStatus::Active
                && key.rolled_to_id.is_none()
                && key
                    .expires_at
                    .is_some_and(|t| t - now <= time::Duration::days(7)),
            status,
            active: key.active,
            last_used: key.last_used_at.map(|t| zone.when(t)),
            permissions: key.permission_set().strings(),
            rolling: key
                .rolled_to_id
                .as_ref()
                .filter(|_| key.is_rolling(now))
                .map(|to| Rolling {
                    to: mask_of(to),
                    until: key.grace_ends_at().map(|t| zone.when(t)),
                    waits_for_first_use: key
                        .grace_on_first_use
                        .then(|| grace_words(key.grace_seconds.unwrap_or(0))),
                }),
            rolled_from: key.rolled_from_id.as_ref().map(mask_of),
            any_address: allowlist.has_any_address(),
            allowed_ips: allowlist.entries(),
            rate_limits: key.rate_limits().describe(),
            addresses: addresses
                .iter()
                .filter(|a| a.key_id == key.id)
                .map(|a| (a.address.clone(), zone.when(a.last_used_at)))
                .collect(),
        }
    }

    /// Whether it may be deleted: inactive or expired (out of service).
    pub fn deletable(&self) -> bool {
        self.status != KeyStatus::Active
    }

    pub fn badge(&self) -> (&'static str, &'static str) {
        match self.status {
            KeyStatus::Expired => ("badge-expired", "Expired"),
            KeyStatus::RolledOut => ("badge-expired", "Rolled out"),
            KeyStatus::Inactive => ("badge-inactive", "Inactive"),
            KeyStatus::Active if self.expiring_soon => ("badge-expiring", "Expiring soon"),
            KeyStatus::Active => ("badge-active", "Active"),
        }
    }
}

/// One retired key: expired or rolled out (still stored, so it can be
/// deleted), or deleted (kept without its digest).
#[derive(Debug)]
pub struct RetiredRow {
    pub id: KeyId,
    pub name: String,
    pub description: String,
    pub masked: String,
    pub permissions: Vec<String>,
    /// Its restrictions in words (empty: none).
    pub restrictions: String,
    /// When it left service.
    pub ended: When,
    /// Why, in words.
    pub why: &'static str,
    /// Who ended it, when someone did.
    pub by: Option<String>,
    /// The key a roll replaced it with.
    pub rolled_to: Option<String>,
    /// Whether it is still stored (and can be deleted for good).
    pub stored: bool,
}

fn restrictions(allowlist: &IpAllowlist, limits: RateLimits) -> String {
    let mut parts = Vec::new();
    if !allowlist.is_empty() {
        parts.push(format!("from {}", allowlist.entries().join(", ")));
    }
    if limits.is_limited() {
        parts.push(format!("at most {}", limits.describe()));
    }
    parts.join("; ")
}

impl RetiredRow {
    /// A stored key that expired or was rolled out.
    pub fn of_key(key: &ApiKey, masks: &Masks, zone: Zone) -> Self {
        let rolled = key.rolled_to_id.is_some();
        Self {
            id: key.id.clone(),
            name: key.name.clone(),
            description: key.description.clone(),
            masked: key.masked(),
            permissions: key.permission_set().strings(),
            restrictions: restrictions(&key.allowlist(), key.rate_limits()),
            ended: zone.when(key.expires_at.unwrap_or(key.updated_at)),
            why: if rolled {
                RetiredBecause::Rolled.label()
            } else {
                RetiredBecause::Expired.label()
            },
            by: if rolled { key.rolled_by.clone() } else { None },
            rolled_to: key.rolled_to_id.as_ref().map(|id| {
                masks
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| "a deleted key".to_owned())
            }),
            stored: true,
        }
    }

    /// A deleted key.
    pub fn of_deleted(key: &RetiredKey, masks: &Masks, zone: Zone) -> Self {
        Self {
            id: key.id.clone(),
            name: key.name.clone(),
            description: key.description.clone(),
            masked: key.masked.clone(),
            permissions: crate::domain::scopes::PermissionSet::from_stored(&key.permissions)
                .strings(),
            restrictions: restrictions(&key.allowlist(), key.rate_limits()),
            ended: zone.when(key.ended_at),
            why: key.because().label(),
            by: key.ended_by.clone(),
            rolled_to: key.rolled_to_id.as_ref().map(|id| {
                masks
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| "a deleted key".to_owned())
            }),
            stored: false,
        }
    }

    /// Where Recreate leads: New API Key filled from this one.
    pub fn recreate_href(&self, app_id: &AppId) -> String {
        format!("/apps/{app_id}/keys/new?from={}", self.id)
    }
}
