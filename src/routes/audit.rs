//! The audit trail: a filterable page, newest first, paginated by keyset, and the
//! CSV export of the same filtered view.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use crate::clock::Timestamp;
use crate::clock::fmt;
use crate::db::models::{Action, App, AuditEvent, AuditFilter};
use crate::domain::{AppId, Name};
use crate::error::{AppError, urlencode};
use crate::routes::csv;
use crate::routes::extract::CurrentAdmin;
use crate::routes::form::Query;
use crate::routes::page::{self, Layout, Nav, Problem};
use crate::state::AppState;

const PAGE_SIZE: i64 = 50;

/// The filters and cursor, as in the query string.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    app: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// `on`: show the routine sign-ins too.
    #[serde(default)]
    routine: String,
    #[serde(default)]
    before: String,
}

/// Messages beside the filter fields.
#[derive(Debug, Default)]
struct FilterErrors {
    app: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

impl FilterErrors {
    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("app", self.app.as_deref()),
            ("from", self.from.as_deref()),
            ("to", self.to.as_deref()),
        ])
    }
}

impl AuditQuery {
    /// The filter for `admin`: a limited admin sees none of the API keys
    /// section's records (see README, "Audit trail"). The app is named in
    /// the field by its name; a record's link names it by id, which the field
    /// then shows as the name. `None` as the filter: the app named is unknown
    /// (its error says so), and nothing matches.
    async fn filter_for(
        &mut self,
        state: &AppState,
        admin: &CurrentAdmin,
    ) -> Result<(Option<AuditFilter>, FilterErrors), AppError> {
        let (mut filter, mut errors) = self.filter(admin.zone);
        if !admin.is_full() {
            filter.limited_to = Some((admin.id.clone(), admin.email.clone()));
            filter.app_id = None;
            return Ok((Some(filter), errors));
        }
        let raw = self.app.trim().to_owned();
        if raw.is_empty() {
            return Ok((Some(filter), errors));
        }
        let org = admin.organization_id.clone();
        let typed = raw.clone();
        let found = state
            .read(move |conn| {
                if let Some(app) = App::find(conn, &org, &AppId::from(typed.as_str()))? {
                    return Ok(Some(app));
                }
                match Name::parse(&typed) {
                    Ok(name) => App::find_by_name_key(conn, &org, &name.key()),
                    Err(_) => Ok(None),
                }
            })
            .await?;
        match found {
            Some(app) => {
                self.app = app.name.clone();
                filter.app_id = Some(app.id);
            }
            // A deleted app's records keep its id.
            None if uuid::Uuid::try_parse(&raw).is_ok() => {
                filter.app_id = Some(AppId::from(raw.as_str()));
            }
            None => {
                errors.app = Some(format!(
                    "No application is named “{}”. Choose one from the list.",
                    raw.chars().take(100).collect::<String>()
                ));
                return Ok((None, errors));
            }
        }
        Ok((Some(filter), errors))
    }

    /// The filter, its days read in the organization's time zone.
    fn filter(&self, zone: crate::clock::Zone) -> (AuditFilter, FilterErrors) {
        let mut errors = FilterErrors::default();
        let from = page::parse_date(&self.from)
            .map_err(|e| errors.from = Some(e))
            .ok()
            .flatten();
        let to = page::parse_date(&self.to)
            .map_err(|e| errors.to = Some(e))
            .ok()
            .flatten();
        let non_empty =
            |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty() && s.len() <= 254);
        let action = Action::parse(self.action.trim());
        let filter = AuditFilter {
            actor: non_empty(&self.actor.to_lowercase()),
            action,
            app_id: None,
            from: from.map(|d| zone.start_of_day(d)),
            // The "to" day is included: until the next day starts.
            until: to.and_then(|d| d.next_day()).map(|d| zone.start_of_day(d)),
            limited_to: None,
            // Routine sign-ins are left out unless asked for, by the box or
            // by choosing such an action.
            hide_routine: self.routine.is_empty() && action.is_none(),
        };
        (filter, errors)
    }

    /// The cursor: `<RFC 3339 instant>|<id>`.
    fn cursor(&self) -> Option<(Timestamp, String)> {
        page::parse_cursor(&self.before)
    }

    /// The query string of the filters, without the cursor.
    fn filters_query(&self) -> String {
        page::filters_query(&[
            ("actor", &self.actor),
            ("action", &self.action),
            ("app", &self.app),
            ("from", &self.from),
            ("to", &self.to),
            ("routine", &self.routine),
        ])
    }
}

/// A record as the page shows it.
#[derive(Debug)]
struct Row {
    when: crate::clock::When,
    actor: String,
    /// The admin API token the change came through.
    via: Option<String>,
    action: String,
    target: String,
    app_id: Option<AppId>,
    ip: String,
    changes: Vec<String>,
}

/// One line per changed field: `field: from → to`, or `field: value`.
fn describe_changes(json: &str) -> Vec<String> {
    let show = |v: &Value| match v {
        Value::String(s) if s.is_empty() => "empty".to_owned(),
        Value::String(s) => s.clone(),
        Value::Null => "none".to_owned(),
        Value::Array(items) if items.is_empty() => "none".to_owned(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => map
            .iter()
            .map(|(field, value)| match value {
                Value::Object(change)
                    if change.contains_key("from") && change.contains_key("to") =>
                {
                    format!(
                        "{field}: {} → {}",
                        show(&change["from"]),
                        show(&change["to"])
                    )
                }
                other => format!("{field}: {}", show(other)),
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[derive(Template)]
#[template(path = "audit/index.html")]
struct AuditPage {
    layout: Layout,
    rows: Vec<Row>,
    query: AuditQuery,
    actions: Vec<(&'static str, &'static str, bool)>,
    errors: FilterErrors,
    filters_query: String,
    next_page: Option<String>,
    first_page: bool,
    /// The organization's apps, for the Application field's suggestions.
    app_names: Vec<String>,
}

/// `GET /audit`.
pub async fn audit_index(
    session: Session,
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    Query(mut query): Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let (filter, errors) = query.filter_for(&state, &admin).await?;
    let cursor = query.cursor();
    let org = admin.organization_id.clone();
    let c = cursor.clone();
    let full = admin.is_full();
    let (mut events, app_names) = state
        .read(move |conn| {
            let events = match &filter {
                Some(filter) => AuditEvent::search(
                    conn,
                    &org,
                    filter,
                    c.as_ref().map(|(t, id)| (*t, id.as_str())),
                    PAGE_SIZE + 1,
                )?,
                None => Vec::new(),
            };
            let names = if full {
                App::names(conn, &org)?
            } else {
                Vec::new()
            };
            Ok((events, names))
        })
        .await?;
    let more = events.len() > usize::try_from(PAGE_SIZE).unwrap_or(50);
    events.truncate(usize::try_from(PAGE_SIZE).unwrap_or(50));
    let filters_query = query.filters_query();
    let next_page = more.then(|| events.last()).flatten().map(|last| {
        let cursor = page::cursor(last.occurred_at, &last.id);
        let sep = if filters_query.is_empty() { "" } else { "&" };
        format!("/audit?{filters_query}{sep}before={}", urlencode(&cursor))
    });
    let rows = events
        .into_iter()
        .map(|e| Row {
            when: admin.zone.when_seconds(e.occurred_at),
            actor: e.actor_label.clone(),
            via: e.via.clone(),
            action: e
                .action()
                .map_or_else(|| e.action.clone(), |a| a.label().to_owned()),
            target: e.target_label.clone().unwrap_or_default(),
            app_id: e.app_id.clone(),
            ip: e.ip.clone().unwrap_or_default(),
            changes: describe_changes(&e.changes),
        })
        .collect();
    let selected = query.action.trim().to_owned();
    page::ok(&AuditPage {
        layout: Layout::new(&session, Some(&admin), Nav::Audit, "Audit")?,
        rows,
        actions: Action::ALL
            .iter()
            .filter(|a| admin.is_full() || a.visible_to_limited())
            .map(|a| (a.as_str(), a.label(), a.as_str() == selected))
            .collect(),
        errors,
        filters_query,
        next_page,
        first_page: cursor.is_none(),
        app_names,
        query,
    })
}

fn csv_rows(events: &[AuditEvent]) -> Result<Vec<u8>, AppError> {
    csv::rows(events.iter().map(|e| {
        [
            fmt::iso(e.occurred_at),
            csv::cell(&e.actor_label),
            csv::cell(&e.action),
            csv::cell(e.target_type.as_deref().unwrap_or("")),
            csv::cell(e.target_label.as_deref().unwrap_or("")),
            csv::cell(e.target_id.as_deref().unwrap_or("")),
            csv::cell(e.app_id.as_ref().map_or("", AppId::as_str)),
            csv::cell(e.ip.as_deref().unwrap_or("")),
            csv::cell(e.user_agent.as_deref().unwrap_or("")),
            csv::cell(&describe_changes(&e.changes).join("; ")),
            csv::cell(e.via.as_deref().unwrap_or("")),
        ]
    }))
}

/// `GET /audit.csv` — the filtered view, every matching record, streamed in batches.
pub async fn audit_export(
    state: web::Data<AppState>,
    admin: CurrentAdmin,
    Query(mut query): Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let (filter, errors) = query.filter_for(&state, &admin).await?;
    let Some(filter) = filter else {
        return Err(AppError::BadRequest(errors.app.unwrap_or_default()));
    };
    let org = admin.organization_id.clone();
    let head = [
        "time_utc",
        "actor",
        "action",
        "target_type",
        "target",
        "target_id",
        "app_id",
        "ip",
        "user_agent",
        "changes",
        "via",
    ];
    csv::download("audit", &head, move |cursor| {
        let (state, org, filter) = (state.clone(), org.clone(), filter.clone());
        async move {
            let events = state
                .read(move |conn| {
                    AuditEvent::search(
                        conn,
                        &org,
                        &filter,
                        cursor.as_ref().map(|(t, id)| (*t, id.as_str())),
                        csv::BATCH,
                    )
                })
                .await?;
            let more = (i64::try_from(events.len()).unwrap_or(0) == csv::BATCH)
                .then(|| events.last().map(|e| (e.occurred_at, e.id.clone())))
                .flatten();
            Ok((csv_rows(&events)?, more))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_as_from_and_to() {
        let lines = describe_changes(
            r#"{"name":{"from":"A","to":"B"},"permissions":["x:read","y:read"],"reason":"r"}"#,
        );
        assert_eq!(
            lines,
            vec!["name: A → B", "permissions: x:read, y:read", "reason: r"]
        );
        assert!(describe_changes("not json").is_empty());
    }
}
