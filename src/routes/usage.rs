//! How keys are used: the requests charts (drawn here as inline SVG, with a
//! table for screen readers and anyone who wants the numbers) on the key and
//! app pages, and the organization's Usage page.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::{Timestamp, Zone};
use crate::db::DbConn;
use crate::db::models::usage::{Scope, TOKENS, UsageCount};
use crate::db::models::{ApiKey, App, Organization};
use crate::domain::settings::Thresholds;
use crate::domain::usage::{Outcome, Period};
use crate::domain::{AppId, KeyId, OrgId};
use crate::error::AppError;
use crate::routes::extract::FullAdmin;
use crate::routes::form::Query;
use crate::routes::page::{self, Layout, Nav};
use crate::state::AppState;

/// How far back a chart looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Range {
    /// 24 bars of an hour.
    #[default]
    Day,
    /// 28 bars of six hours.
    Week,
    /// 30 bars of a day (UTC days).
    Month,
}

impl Range {
    pub const ALL: [Range; 3] = [Range::Day, Range::Week, Range::Month];

    /// The `range` query value; anything else is the last 24 hours.
    pub fn parse(s: &str) -> Self {
        match s {
            "7d" => Self::Week,
            "30d" => Self::Month,
            _ => Self::Day,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "24h",
            Self::Week => "7d",
            Self::Month => "30d",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Day => "24 hours",
            Self::Week => "7 days",
            Self::Month => "30 days",
        }
    }

    /// The stored buckets read, each bar's length, and the number of bars.
    fn shape(self) -> (Period, i64, usize) {
        match self {
            Self::Day => (Period::Hour, 3600, 24),
            Self::Week => (Period::Hour, 6 * 3600, 28),
            Self::Month => (Period::Day, 86_400, 30),
        }
    }

    /// The bars' span ending with the one holding `now`: (first second, end).
    pub fn span(self, now: Timestamp) -> (i64, i64) {
        let (_, bar, bars) = self.shape();
        let unix = now.assume_utc().unix_timestamp();
        let end = unix.div_euclid(bar) * bar + bar;
        (end - bar * bars as i64, end)
    }

    /// The stored buckets the totals of this range are read from, and from
    /// when: the last 24 hours by the hour, longer ranges by the (UTC) day,
    /// today included, so the busiest lists read a row per key and day.
    pub fn totals_source(self, now: Timestamp) -> (Period, i64) {
        let today = Period::Day.bucket(now.assume_utc().unix_timestamp());
        match self {
            Self::Day => (Period::Hour, self.span(now).0),
            Self::Week => (Period::Day, today - 6 * 86_400),
            Self::Month => (Period::Day, today - 29 * 86_400),
        }
    }
}

/// One stacked segment of a bar.
#[derive(Debug)]
pub struct Segment {
    /// The outcome's CSS class.
    pub class: &'static str,
    pub y: String,
    pub height: String,
}

/// One bar: a time slot's requests by outcome.
#[derive(Debug)]
pub struct Bar {
    pub x: String,
    pub width: String,
    /// The slot's start, as the page's zone reads it.
    pub label: String,
    pub counts: [i64; 6],
    pub total: i64,
    pub segments: Vec<Segment>,
}

/// A chart of requests by outcome.
#[derive(Debug)]
pub struct UsageChart {
    pub range: Range,
    /// The page the range links go to (the chart's own page).
    pub base: String,
    pub bars: Vec<Bar>,
    /// Each outcome's total over the range.
    pub totals: [i64; 6],
    pub total: i64,
    /// The top of the scale.
    pub top: i64,
    /// The x of a few labelled slots, and their labels.
    pub ticks: Vec<(String, String)>,
    /// Where the zone the labels are in is named.
    pub zone_note: String,
}

/// The drawing's size: the plot's left edge, width, top and height.
const PLOT_X: f64 = 56.0;
const PLOT_W: f64 = 700.0;
const PLOT_Y: f64 = 10.0;
const PLOT_H: f64 = 160.0;

impl UsageChart {
    /// Reads the chart of `scope` over `range` ending now.
    pub fn read(
        conn: &mut DbConn,
        organization_id: &OrgId,
        scope: Scope<'_>,
        range: Range,
        now: Timestamp,
    ) -> diesel::QueryResult<Vec<(i64, String, i64)>> {
        let (period, _, _) = range.shape();
        let (from, to) = range.span(now);
        UsageCount::series(conn, organization_id, scope, period, from, to)
    }

    /// The chart of the rows [`UsageChart::read`] returned.
    pub fn draw(
        rows: &[(i64, String, i64)],
        range: Range,
        now: Timestamp,
        zone: Zone,
        base: String,
    ) -> Self {
        let (_, bar, n) = range.shape();
        let (from, _) = range.span(now);
        let mut counts = vec![[0i64; 6]; n];
        for (bucket, outcome, count) in rows {
            let Some(outcome) = Outcome::parse(outcome) else {
                continue;
            };
            let slot = (bucket - from).div_euclid(bar);
            if let Some(slot) = usize::try_from(slot).ok().and_then(|i| counts.get_mut(i)) {
                slot[outcome.index()] += count;
            }
        }
        let mut totals = [0i64; 6];
        for slot in &counts {
            for (t, c) in totals.iter_mut().zip(slot) {
                *t += c;
            }
        }
        let top = nice_top(counts.iter().map(|c| c.iter().sum()).max().unwrap_or(0));
        let slot_w = PLOT_W / n as f64;
        let width = (slot_w * 0.8).max(1.0);
        let label = |start: i64| {
            let local = crate::clock::from_unix(start).map(|t| zone.local(t));
            match (range, local) {
                (_, None) => String::new(),
                (Range::Day, Some(t)) => format!("{:02}:{:02}", t.hour(), t.minute()),
                (Range::Week, Some(t)) => format!(
                    "{} {} {:02}:{:02}",
                    &t.weekday().to_string()[..3],
                    t.day(),
                    t.hour(),
                    t.minute()
                ),
                // Day bars are UTC days: labelled by their UTC date.
                (Range::Month, Some(_)) => crate::clock::from_unix(start)
                    .map(|t| format!("{} {}", &t.month().to_string()[..3], t.day()))
                    .unwrap_or_default(),
            }
        };
        let bars: Vec<Bar> = counts
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                let x = PLOT_X + slot_w * i as f64 + (slot_w - width) / 2.0;
                let total: i64 = slot.iter().sum();
                let mut bottom = PLOT_Y + PLOT_H;
                let segments = Outcome::ALL
                    .iter()
                    .filter(|o| slot[o.index()] > 0)
                    .map(|o| {
                        let h = PLOT_H * slot[o.index()] as f64 / top as f64;
                        bottom -= h;
                        Segment {
                            class: css_class(*o),
                            y: format!("{bottom:.1}"),
                            height: format!("{:.1}", h.max(0.5)),
                        }
                    })
                    .collect();
                Bar {
                    x: format!("{x:.1}"),
                    width: format!("{width:.1}"),
                    label: label(from + bar * i as i64),
                    counts: *slot,
                    total,
                    segments,
                }
            })
            .collect();
        let every = match range {
            Range::Day => 6,
            Range::Week => 4,
            Range::Month => 7,
        };
        let ticks = bars
            .iter()
            .enumerate()
            .filter(|(i, _)| i % every == 0)
            .map(|(i, b)| {
                (
                    format!("{:.1}", PLOT_X + slot_w * i as f64 + slot_w / 2.0),
                    b.label.clone(),
                )
            })
            .collect();
        let zone_note = match range {
            Range::Month => "Days in UTC.".to_owned(),
            _ => format!("Times in {}.", zone.name()),
        };
        Self {
            range,
            base,
            total: totals.iter().sum(),
            bars,
            totals,
            top,
            ticks,
            zone_note,
        }
    }

    /// The range links: each range, its link, whether it is this one.
    pub fn range_links(&self) -> Vec<(&'static str, String, bool)> {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        Range::ALL
            .iter()
            .map(|r| {
                (
                    r.label(),
                    format!("{}{sep}range={}", self.base, r.as_str()),
                    *r == self.range,
                )
            })
            .collect()
    }

    /// The outcomes, their labels, CSS classes and totals, in stacking order.
    pub fn legend(&self) -> Vec<(&'static str, &'static str, &'static str, i64)> {
        Outcome::ALL
            .iter()
            .map(|o| (o.as_str(), o.label(), css_class(*o), self.totals[o.index()]))
            .collect()
    }

    /// The y of the half-way grid line, and the top's and half's labels.
    pub fn grid(&self) -> (String, String, String) {
        (
            format!("{:.1}", PLOT_Y + PLOT_H / 2.0),
            format_count(self.top),
            format_count(self.top / 2),
        )
    }
}

fn css_class(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Allowed => "o-allowed",
        Outcome::Unauthorized => "o-401",
        Outcome::PaymentRequired => "o-402",
        Outcome::Forbidden => "o-403",
        Outcome::TooManyRequests => "o-429",
        Outcome::ServerError => "o-5xx",
    }
}

/// A round top for the scale: 1, 2 or 5 times a power of ten, at least 4.
fn nice_top(max: i64) -> i64 {
    let mut step = 1i64;
    loop {
        for m in [1, 2, 5] {
            let top = step.saturating_mul(m);
            if top >= max.max(4) {
                return top;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// 1234567 as `1.2M`, 12345 as `12k`.
pub fn format_count(n: i64) -> String {
    match n {
        n if n >= 10_000_000 => format!("{}M", n / 1_000_000),
        n if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 10_000 => format!("{}k", n / 1000),
        n => n.to_string(),
    }
}

/// The `range` query parameter.
#[derive(Debug, Default, Deserialize)]
pub struct RangeQuery {
    #[serde(default)]
    range: String,
}

impl RangeQuery {
    pub fn range(&self) -> Range {
        Range::parse(self.range.trim())
    }
}

/// A key or app in the Usage page's lists.
#[derive(Debug)]
pub struct UsageRow {
    pub app_id: AppId,
    pub app_name: String,
    /// The key, or none for the app's access tokens (or a whole app).
    pub key: Option<(KeyId, String, String)>,
    pub allowed: i64,
    pub refused: i64,
    pub total: i64,
}

/// A key worth a look: never used, or in use and expiring soon.
#[derive(Debug)]
pub struct KeyNote {
    pub app_id: AppId,
    pub app_name: String,
    pub key_id: KeyId,
    pub name: String,
    pub masked: String,
    pub when: Option<crate::clock::When>,
}

#[derive(Template)]
#[template(path = "usage/index.html")]
struct UsagePage {
    layout: Layout,
    chart: UsageChart,
    top_keys: Vec<UsageRow>,
    top_apps: Vec<UsageRow>,
    never_used: Vec<KeyNote>,
    /// More keys were never used than the list shows.
    more_never_used: bool,
    expiring_in_use: Vec<KeyNote>,
    alert_days: i32,
}

/// What the Usage page reads, in one go.
struct Read {
    rows: Vec<(i64, String, i64)>,
    top: TopLists,
    named: Vec<ApiKey>,
    /// The first never-used keys in service, and whether there are more.
    never_used: (Vec<ApiKey>, bool),
    expiring: Vec<ApiKey>,
    apps: Vec<(AppId, String)>,
    alert_days: i32,
}

/// The busiest keys (app, key or [`TOKENS`], (allowed, refused)) and apps.
type TopLists = (Vec<(AppId, String, (i64, i64))>, Vec<(AppId, (i64, i64))>);

/// How many never-used keys the page lists.
const LISTED: usize = 50;
/// How many never-used keys it reads to find them (some may have expired).
const NEVER_READ: i64 = 200;

/// The [`TOP`] keys and apps of the totals (app, key, outcome, count).
fn top_lists(totals: Vec<(AppId, String, String, i64)>) -> TopLists {
    let mut by_key: HashMap<(AppId, String), (i64, i64)> = HashMap::new();
    for (app_id, key_id, outcome, count) in totals {
        let entry = by_key.entry((app_id, key_id)).or_default();
        match Outcome::parse(&outcome) {
            Some(Outcome::Allowed) => entry.0 += count,
            Some(_) => entry.1 += count,
            None => {}
        }
    }
    let mut by_app: HashMap<AppId, (i64, i64)> = HashMap::new();
    for ((app_id, _), (allowed, refused)) in &by_key {
        let entry = by_app.entry(app_id.clone()).or_default();
        entry.0 += allowed;
        entry.1 += refused;
    }
    let mut keys: Vec<(AppId, String, (i64, i64))> = by_key
        .into_iter()
        .map(|((app, key), counts)| (app, key, counts))
        .collect();
    keys.sort_by(|a, b| {
        (b.2.0 + b.2.1)
            .cmp(&(a.2.0 + a.2.1))
            .then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1)))
    });
    keys.truncate(TOP);
    let mut apps: Vec<(AppId, (i64, i64))> = by_app.into_iter().collect();
    apps.sort_by(|a, b| {
        (b.1.0 + b.1.1)
            .cmp(&(a.1.0 + a.1.1))
            .then_with(|| a.0.cmp(&b.0))
    });
    apps.truncate(TOP);
    (keys, apps)
}

/// How many keys and apps the top lists show.
const TOP: usize = 10;

/// `GET /usage`: the organization's requests, its busiest keys and apps,
/// the keys never used, and the keys in use that expire within the alert
/// threshold.
pub async fn usage_index(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    Query(query): Query<RangeQuery>,
) -> Result<HttpResponse, AppError> {
    let range = query.range();
    let now = crate::clock::now();
    let org = admin.organization_id.clone();
    let day_ago = now - time::Duration::days(1);
    let read = state
        .read(move |conn| {
            let (period, from) = range.totals_source(now);
            let (chart_period, _, _) = range.shape();
            let (chart_from, chart_to) = range.span(now);
            let rows = UsageCount::org_series(conn, &org, chart_period, chart_from, chart_to)?;
            let totals = UsageCount::totals(conn, &org, period, from)?;
            let organization = Organization::find_by_id(conn, &org)?;
            let alert_days = Thresholds::from_stored(&organization.alert_thresholds).max();
            let soon = now + time::Duration::days(i64::from(alert_days));
            // The first never-used keys still in service; "more" past them.
            let mut never_used: Vec<ApiKey> = ApiKey::never_used(conn, &org, NEVER_READ)?
                .into_iter()
                .filter(|k| !k.is_retired(now))
                .collect();
            let more = never_used.len() > LISTED;
            never_used.truncate(LISTED);
            let expiring = ApiKey::expiring_in_use(conn, &org, day_ago, now, soon)?;
            let top = top_lists(totals);
            let mut app_ids: Vec<AppId> = top
                .0
                .iter()
                .map(|(app, _, _)| app.clone())
                .chain(top.1.iter().map(|(app, _)| app.clone()))
                .chain(never_used.iter().map(|k| k.app_id.clone()))
                .chain(expiring.iter().map(|k| k.app_id.clone()))
                .collect();
            app_ids.sort();
            app_ids.dedup();
            let apps = App::names_of(conn, &org, &app_ids)?;
            let ids: Vec<KeyId> = top
                .0
                .iter()
                .filter(|(_, key, _)| key != TOKENS)
                .map(|(_, key, _)| KeyId::from(key.as_str()))
                .collect();
            let named = ApiKey::find_many(conn, &org, &ids)?;
            Ok(Read {
                rows,
                top,
                named,
                never_used: (never_used, more),
                expiring,
                apps,
                alert_days,
            })
        })
        .await?;
    let zone = admin.zone;
    let chart = UsageChart::draw(&read.rows, range, now, zone, "/usage".to_owned());
    let apps: HashMap<AppId, String> = read.apps.into_iter().collect();
    let app_name = |id: &AppId| {
        apps.get(id)
            .cloned()
            .unwrap_or_else(|| "(deleted app)".to_owned())
    };
    let named: HashMap<&str, &ApiKey> = read.named.iter().map(|k| (k.id.as_str(), k)).collect();
    let (keys, app_totals) = read.top;
    let top_keys = keys
        .into_iter()
        .map(|(app_id, key_id, (allowed, refused))| UsageRow {
            app_name: app_name(&app_id),
            key: (key_id != TOKENS).then(|| {
                let (name, masked) = named.get(key_id.as_str()).map_or_else(
                    || ("(retired key)".to_owned(), String::new()),
                    |k| (k.name.clone(), k.masked()),
                );
                (KeyId::from(key_id), name, masked)
            }),
            app_id,
            allowed,
            refused,
            total: allowed + refused,
        })
        .collect();
    let top_apps = app_totals
        .into_iter()
        .map(|(app_id, (allowed, refused))| UsageRow {
            app_name: app_name(&app_id),
            app_id,
            key: None,
            allowed,
            refused,
            total: allowed + refused,
        })
        .collect();
    let note = |k: &ApiKey, when: Option<Timestamp>| KeyNote {
        app_id: k.app_id.clone(),
        app_name: app_name(&k.app_id),
        key_id: k.id.clone(),
        name: k.name.clone(),
        masked: k.masked(),
        when: when.map(|t| zone.when(t)),
    };
    let (never, more_never_used) = read.never_used;
    let never_used = never.iter().map(|k| note(k, Some(k.created_at))).collect();
    let expiring_in_use = read
        .expiring
        .iter()
        .map(|k| note(k, k.expires_at))
        .collect();
    page::ok(&UsagePage {
        layout: Layout::new(&session, Some(&admin), Nav::Usage, "Usage")?,
        chart,
        top_keys,
        top_apps,
        never_used,
        more_never_used,
        expiring_in_use,
        alert_days: read.alert_days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_tops_at_a_round_number() {
        assert_eq!(nice_top(0), 5);
        assert_eq!(nice_top(5), 5);
        assert_eq!(nice_top(6), 10);
        assert_eq!(nice_top(11), 20);
        assert_eq!(nice_top(201), 500);
        assert_eq!(nice_top(1_000_001), 2_000_000);
    }

    #[test]
    fn bars_hold_their_slots_counts() {
        let now = crate::clock::from_unix(86_400 * 100 + 3_700).unwrap_or(crate::clock::now());
        let (from, to) = Range::Day.span(now);
        assert_eq!(to - from, 24 * 3600);
        assert_eq!(to, 86_400 * 100 + 7_200, "the current hour is the last bar");
        let rows = vec![
            (to - 3600, "allowed".to_owned(), 7),
            (to - 3600, "403".to_owned(), 2),
            (from, "allowed".to_owned(), 1),
            // Outside the span: not drawn.
            (from - 3600, "allowed".to_owned(), 100),
        ];
        let chart = UsageChart::draw(&rows, Range::Day, now, Zone::or_utc("UTC"), "/x".into());
        assert_eq!(chart.bars.len(), 24);
        assert_eq!(chart.bars[23].counts[Outcome::Allowed.index()], 7);
        assert_eq!(chart.bars[23].counts[Outcome::Forbidden.index()], 2);
        assert_eq!(chart.bars[0].total, 1);
        assert_eq!(chart.total, 10);
        assert_eq!(chart.top, 10);
        assert_eq!(chart.bars[23].segments.len(), 2);
        assert_eq!(chart.bars[0].label, "02:00", "24 hours before the end");
    }

    #[test]
    fn counts_read_short() {
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(12_345), "12k");
        assert_eq!(format_count(1_250_000), "1.2M");
        assert_eq!(format_count(25_000_000), "25M");
    }
}
