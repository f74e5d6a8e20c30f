//! The Bookings page (full-access admins): every booking of the organization,
//! newest booked first, each with the mark of where it came from (seed 004:
//! "appointments booked from this application will be marked"), filterable
//! by that source and by the app that booked it.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::clock::{Timestamp, When};
use crate::db::models::App;
use crate::db::models::platform::Appointment;
use crate::domain::AppId;
use crate::error::{AppError, urlencode};
use crate::routes::extract::FullAdmin;
use crate::routes::form::Query;
use crate::routes::page::{self, Layout, Nav};
use crate::state::AppState;

/// Bookings per page.
const PAGE_SIZE: i64 = 50;

/// The sources a booking can come from: `(stored value, label)`. An app's
/// Source App decides its bookings' source; `console` is the front desk.
pub const SOURCES: [(&str, &str); 5] = [
    ("mobile", "Mobile"),
    ("web", "Web"),
    ("bot", "Bot"),
    ("api", "API"),
    ("console", "Front desk"),
];

/// The label of a stored source (the front desk for anything else).
pub fn source_label(source: &str) -> &'static str {
    SOURCES
        .iter()
        .find(|(value, _)| *value == source)
        .map_or("Front desk", |(_, label)| label)
}

/// The filters and the cursor, as in the query string.
#[derive(Debug, Default, Deserialize)]
pub struct BookingsQuery {
    #[serde(default)]
    source: String,
    #[serde(default)]
    app: String,
    #[serde(default)]
    before: String,
}

impl BookingsQuery {
    /// The source asked for, when it is one of [`SOURCES`].
    fn source(&self) -> Option<&'static str> {
        SOURCES
            .iter()
            .map(|(value, _)| *value)
            .find(|value| *value == self.source.trim())
    }

    /// The cursor: `<RFC 3339 instant>|<id>`.
    fn cursor(&self) -> Option<(Timestamp, String)> {
        page::parse_cursor(&self.before)
    }
}

/// A booking as the page shows it.
#[derive(Debug)]
struct Row {
    starts: When,
    service: String,
    employee: String,
    guest: String,
    /// The stored source, for its icon.
    source: String,
    source_label: &'static str,
    /// The app that booked it, when one did and still exists.
    app: Option<(AppId, String)>,
    status: String,
    booked: When,
}

#[derive(Template)]
#[template(path = "bookings/index.html")]
struct BookingsPage {
    layout: Layout,
    rows: Vec<Row>,
    sources: [(&'static str, &'static str); 5],
    source: &'static str,
    apps: Vec<(AppId, String)>,
    app: String,
    filtered: bool,
    next_page: Option<String>,
}

/// `GET /bookings`.
pub async fn bookings_index(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    Query(query): Query<BookingsQuery>,
) -> Result<HttpResponse, AppError> {
    let org = admin.organization_id.clone();
    let source = query.source();
    // An app of another organization, or a stale id, matches nothing.
    let app = Some(query.app.trim())
        .filter(|a| !a.is_empty())
        .map(|a| AppId::from(a.chars().take(64).collect::<String>().as_str()));
    let cursor = query.cursor();
    let (listed, apps) = {
        let (app, cursor) = (app.clone(), cursor.clone());
        state
            .read(move |conn| {
                let listed = Appointment::search_page(
                    conn,
                    &org,
                    source,
                    app.as_ref(),
                    cursor.as_ref().map(|(t, id)| (*t, id.as_str())),
                    PAGE_SIZE + 1,
                )?;
                Ok((listed, App::id_names(conn, &org)?))
            })
            .await?
    };
    let more = listed.len() > usize::try_from(PAGE_SIZE).unwrap_or(50);
    let names: HashMap<&AppId, &String> = apps.iter().map(|(id, name)| (id, name)).collect();
    let zone = admin.zone;
    let rows: Vec<Row> = listed
        .iter()
        .take(usize::try_from(PAGE_SIZE).unwrap_or(50))
        .map(|l| Row {
            starts: zone.when(l.booking.starts_at),
            service: l.service.clone(),
            employee: l.employee.clone(),
            guest: l.guest.clone().unwrap_or_default(),
            source: l.booking.source.clone(),
            source_label: source_label(&l.booking.source),
            app: l
                .booking
                .created_by_app_id
                .as_ref()
                .and_then(|id| names.get(id).map(|name| (id.clone(), (*name).clone()))),
            status: l.booking.status.clone(),
            booked: zone.when(l.booking.created_at),
        })
        .collect();
    let mut filters = Vec::new();
    if let Some(s) = source {
        filters.push(format!("source={s}"));
    }
    if let Some(a) = &app {
        filters.push(format!("app={}", urlencode(a.as_str())));
    }
    let next_page = more
        .then(|| listed.get(rows.len().saturating_sub(1)))
        .flatten()
        .map(|last| {
            let cursor = page::cursor(last.booking.created_at, last.booking.id.as_str());
            filters.push(format!("before={}", urlencode(&cursor)));
            format!("/bookings?{}", filters.join("&"))
        });
    page::ok(&BookingsPage {
        layout: Layout::new(&session, Some(&admin), Nav::Bookings, "Bookings")?,
        rows,
        sources: SOURCES,
        source: source.unwrap_or(""),
        app: app.map(|a| a.to_string()).unwrap_or_default(),
        filtered: source.is_some() || !query.app.trim().is_empty(),
        apps,
        next_page,
    })
}
