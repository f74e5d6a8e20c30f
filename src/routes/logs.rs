//! The request log: the API requests of the organization's keys and tokens
//! that were refused or failed, and a sample of the allowed ones; filtered,
//! newest first, paginated by keyset, and exported as CSV.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::fmt;
use crate::db::models::request_log::{LogFilter, RequestLog};
use crate::db::models::{ApiKey, App, RetiredKey};
use crate::domain::usage::Outcome;
use crate::domain::{AppId, KeyId};
use crate::error::{AppError, urlencode};
use crate::routes::csv;
use crate::routes::extract::FullAdmin;
use crate::routes::form::Query;
use crate::routes::page::{self, Layout, Nav, Problem};
use crate::state::AppState;

const PAGE_SIZE: i64 = 50;

/// The filters and cursor, as in the query string.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    key: String,
    #[serde(default)]
    app: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    before: String,
}

/// Messages beside the filter fields.
#[derive(Debug, Default)]
struct FilterErrors {
    key: Option<String>,
    app: Option<String>,
    outcome: Option<String>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
}

impl FilterErrors {
    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("key", self.key.as_deref()),
            ("app", self.app.as_deref()),
            ("outcome", self.outcome.as_deref()),
            ("from", self.from.as_deref()),
            ("to", self.to.as_deref()),
            ("q", self.q.as_deref()),
        ])
    }

    fn any(&self) -> bool {
        !self.problems().is_empty()
    }
}

/// A key's name and mask, or an app's name, by id: what the rows show.
#[derive(Debug, Default)]
struct Names {
    apps: HashMap<AppId, String>,
    keys: HashMap<KeyId, (String, String)>,
}

impl LogQuery {
    /// The filter, its days read in the organization's time zone; `None`
    /// when a field is wrong (nothing is searched, the errors say why).
    fn filter(&self, zone: crate::clock::Zone, names: &Names) -> (Option<LogFilter>, FilterErrors) {
        let mut errors = FilterErrors::default();
        let mut filter = LogFilter::default();
        let key = self.key.trim();
        if !key.is_empty() {
            let id = KeyId::from(key);
            if names.keys.contains_key(&id) {
                filter.key_id = Some(id);
            } else {
                errors.key = Some("No key of this organization has this id.".to_owned());
            }
        }
        let app = self.app.trim();
        if !app.is_empty() {
            let id = AppId::from(app);
            if names.apps.contains_key(&id) {
                filter.app_id = Some(id);
            } else {
                errors.app = Some("Choose an application from the list.".to_owned());
            }
        }
        let outcome = self.outcome.trim();
        if !outcome.is_empty() {
            match Outcome::parse(outcome) {
                Some(o) => filter.outcome = Some(o),
                None => errors.outcome = Some("Choose an outcome from the list.".to_owned()),
            }
        }
        match page::parse_date(&self.from) {
            Ok(d) => filter.from = d.map(|d| zone.start_of_day(d)),
            Err(e) => errors.from = Some(e),
        }
        match page::parse_date(&self.to) {
            // The "to" day is included: until the next day starts.
            Ok(d) => filter.until = d.and_then(|d| d.next_day()).map(|d| zone.start_of_day(d)),
            Err(e) => errors.to = Some(e),
        }
        let text = self.q.trim();
        if text.chars().count() > 100 {
            errors.q = Some("Search for at most 100 characters.".to_owned());
        } else if !text.is_empty() {
            filter.text = Some(text.to_owned());
        }
        if errors.any() {
            (None, errors)
        } else {
            (Some(filter), errors)
        }
    }

    /// The query string of the filters, without the cursor.
    fn filters_query(&self) -> String {
        page::filters_query(&[
            ("key", &self.key),
            ("app", &self.app),
            ("outcome", &self.outcome),
            ("from", &self.from),
            ("to", &self.to),
            ("q", &self.q),
        ])
    }
}

/// Every app's name, and the names of these keys (retired keys included:
/// their requests stay in the log).
fn read_names(
    conn: &mut crate::db::DbConn,
    org: &crate::domain::OrgId,
    key_ids: &[KeyId],
) -> diesel::QueryResult<Names> {
    let apps = App::names_by_id(conn, org)?;
    let keys = ApiKey::find_many(conn, org, key_ids)?;
    let retired = RetiredKey::find_many(conn, org, key_ids)?;
    Ok(Names {
        apps: apps.into_iter().collect(),
        keys: keys
            .iter()
            .map(|k| (k.id.clone(), (k.name.clone(), k.masked())))
            .chain(
                retired
                    .iter()
                    .map(|k| (k.id.clone(), (k.name.clone(), k.masked.clone()))),
            )
            .collect(),
    })
}

/// The names the filter needs: every app's, and the filtered key's.
async fn filter_names(
    state: &AppState,
    admin: &FullAdmin,
    query: &LogQuery,
) -> Result<Names, AppError> {
    let org = admin.organization_id.clone();
    let key: Vec<KeyId> = Some(query.key.trim())
        .filter(|k| !k.is_empty() && k.len() <= 64)
        .map(KeyId::from)
        .into_iter()
        .collect();
    Ok(state.read(move |conn| read_names(conn, &org, &key)).await?)
}

/// The ids of the rows' keys.
fn key_ids(logs: &[RequestLog]) -> Vec<KeyId> {
    let mut ids: Vec<KeyId> = logs.iter().filter_map(|l| l.key_id.clone()).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// A row as the page shows it.
#[derive(Debug)]
struct Row {
    when: crate::clock::When,
    /// The key's id, name and mask; none for an access token.
    key: Option<(KeyId, String, String)>,
    app_id: AppId,
    app: String,
    method: String,
    route: String,
    status: i32,
    outcome: &'static str,
    error_code: String,
    client: String,
    latency: String,
}

impl Row {
    fn of(log: &RequestLog, names: &Names, zone: crate::clock::Zone) -> Self {
        Self {
            when: zone.when_seconds(log.at),
            key: log.key_id.as_ref().map(|id| {
                let (name, masked) = names
                    .keys
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| ("(deleted key)".to_owned(), String::new()));
                (id.clone(), name, masked)
            }),
            app_id: log.app_id.clone(),
            app: names
                .apps
                .get(&log.app_id)
                .cloned()
                .unwrap_or_else(|| "(deleted app)".to_owned()),
            method: log.method.clone(),
            route: log.route.clone(),
            status: log.status,
            outcome: Outcome::parse(&log.outcome).map_or("", Outcome::label),
            error_code: log.error_code.clone().unwrap_or_default(),
            client: log.client.clone().unwrap_or_default(),
            latency: latency_ms(log.latency_us),
        }
    }
}

fn latency_ms(us: i64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

#[derive(Template)]
#[template(path = "logs/index.html")]
struct LogsPage {
    layout: Layout,
    rows: Vec<Row>,
    query: LogQuery,
    errors: FilterErrors,
    filters_query: String,
    next_page: Option<String>,
    first_page: bool,
    apps: Vec<(AppId, String, bool)>,
    outcomes: Vec<(&'static str, &'static str, bool)>,
    /// The key filtered on: its name and mask.
    key: Option<(String, String)>,
    sample: String,
}

/// `GET /logs`.
pub async fn logs_index(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    Query(query): Query<LogQuery>,
) -> Result<HttpResponse, AppError> {
    let filtered = filter_names(&state, &admin, &query).await?;
    let (filter, errors) = query.filter(admin.zone, &filtered);
    let cursor = page::parse_cursor(&query.before);
    let org = admin.organization_id.clone();
    let c = cursor.clone();
    let (mut logs, sample, names) = state
        .read(move |conn| {
            let logs = match &filter {
                Some(filter) => RequestLog::search(
                    conn,
                    &org,
                    filter,
                    c.as_ref().map(|(t, id)| (*t, id.as_str())),
                    PAGE_SIZE + 1,
                )?,
                None => Vec::new(),
            };
            let sample = crate::db::models::Organization::find_by_id(conn, &org)?
                .usage_settings()
                .log_sample_percent();
            let names = read_names(conn, &org, &key_ids(&logs))?;
            Ok((logs, sample, names))
        })
        .await?;
    let more = logs.len() > usize::try_from(PAGE_SIZE).unwrap_or(50);
    logs.truncate(usize::try_from(PAGE_SIZE).unwrap_or(50));
    let filters_query = query.filters_query();
    let next_page = more.then(|| logs.last()).flatten().map(|last| {
        let cursor = page::cursor(last.at, &last.id);
        let sep = if filters_query.is_empty() { "" } else { "&" };
        format!("/logs?{filters_query}{sep}before={}", urlencode(&cursor))
    });
    let rows = logs
        .iter()
        .map(|l| Row::of(l, &names, admin.zone))
        .collect();
    let mut apps: Vec<(AppId, String, bool)> = names
        .apps
        .iter()
        .map(|(id, name)| (id.clone(), name.clone(), id.as_str() == query.app.trim()))
        .collect();
    apps.sort_by_key(|a| a.1.to_lowercase());
    let outcomes = Outcome::ALL
        .iter()
        .map(|o| (o.as_str(), o.label(), o.as_str() == query.outcome.trim()))
        .collect();
    let key = filtered.keys.get(&KeyId::from(query.key.trim())).cloned();
    page::ok(&LogsPage {
        layout: Layout::new(&session, Some(&admin), Nav::Logs, "Logs")?,
        rows,
        errors,
        filters_query,
        next_page,
        first_page: cursor.is_none(),
        apps,
        outcomes,
        key,
        sample,
        query,
    })
}

fn csv_rows(logs: &[RequestLog], names: &Names) -> Result<Vec<u8>, AppError> {
    csv::rows(logs.iter().map(|l| {
        let key = l.key_id.as_ref().and_then(|id| names.keys.get(id));
        [
            fmt::iso(l.at),
            csv::cell(l.key_id.as_ref().map_or("", KeyId::as_str)),
            csv::cell(key.map_or("", |(name, _)| name.as_str())),
            csv::cell(key.map_or("", |(_, masked)| masked.as_str())),
            csv::cell(l.app_id.as_str()),
            csv::cell(names.apps.get(&l.app_id).map_or("", String::as_str)),
            csv::cell(&l.credential),
            csv::cell(&l.method),
            csv::cell(&l.route),
            l.status.to_string(),
            csv::cell(&l.outcome),
            csv::cell(l.error_code.as_deref().unwrap_or("")),
            csv::cell(l.client.as_deref().unwrap_or("")),
            latency_ms(l.latency_us),
            csv::cell(&l.request_id),
        ]
    }))
}

/// `GET /logs.csv` — the filtered view, every matching row, streamed in batches.
pub async fn logs_export(
    state: web::Data<AppState>,
    admin: FullAdmin,
    Query(query): Query<LogQuery>,
) -> Result<HttpResponse, AppError> {
    let filtered = filter_names(&state, &admin, &query).await?;
    let (filter, errors) = query.filter(admin.zone, &filtered);
    let Some(filter) = filter else {
        let why = errors
            .problems()
            .into_iter()
            .map(|p| p.message)
            .collect::<Vec<_>>()
            .join(" ");
        return Err(AppError::BadRequest(why));
    };
    let org = admin.organization_id.clone();
    let head = [
        "time_utc",
        "key_id",
        "key",
        "key_masked",
        "app_id",
        "app",
        "credential",
        "method",
        "route",
        "status",
        "outcome",
        "error_code",
        "client",
        "latency_ms",
        "request_id",
    ];
    csv::download("requests", &head, move |cursor| {
        let (state, org, filter) = (state.clone(), org.clone(), filter.clone());
        async move {
            let (logs, names) = state
                .read(move |conn| {
                    let logs = RequestLog::search(
                        conn,
                        &org,
                        &filter,
                        cursor.as_ref().map(|(t, id)| (*t, id.as_str())),
                        csv::BATCH,
                    )?;
                    let names = read_names(conn, &org, &key_ids(&logs))?;
                    Ok((logs, names))
                })
                .await?;
            let more = (i64::try_from(logs.len()).unwrap_or(0) == csv::BATCH)
                .then(|| logs.last().map(|l| (l.at, l.id.clone())))
                .flatten();
            Ok((csv_rows(&logs, &names)?, more))
        }
    })
}
