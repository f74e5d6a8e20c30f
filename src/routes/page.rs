//! What every console page shares: the layout data (who is signed in, the CSRF
//! token, flash messages, the active section) and rendering with a status.

use actix_session::Session;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;
use serde::{Deserialize, Serialize};

use crate::auth::csrf;
use crate::error::AppError;
use crate::routes::extract::CurrentAdmin;

/// The section of the console a page belongs to, for the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// Integrations → Apps.
    Apps,
    /// Settings.
    Settings,
    /// Audit.
    Audit,
    /// Staff.
    Staff,
    /// Guests.
    Guests,
    /// Bookings.
    Bookings,
    /// Integrations → Usage.
    Usage,
    /// Integrations → Logs.
    Logs,
    /// Admins.
    Admins,
    /// My account.
    Account,
    /// Sign-in and other pages outside the sections.
    None,
}

/// A one-time message shown on the next page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    /// `success`, `info` or `error`.
    pub kind: String,
    pub message: String,
}

const FLASH_KEY: &str = "flash";

/// Queues a message for the next page.
pub fn flash(session: &Session, kind: &str, message: impl Into<String>) {
    let mut list: Vec<Flash> = session.get(FLASH_KEY).ok().flatten().unwrap_or_default();
    list.push(Flash {
        kind: kind.to_owned(),
        message: message.into(),
    });
    if session.insert(FLASH_KEY, list).is_err() {
        tracing::warn!("could not queue a flash message");
    }
}

/// Keeps a secret (a new key's token) for the one page view that shows it,
/// after a redirect: sealed under the server's key and bound to `slot`, in
/// the session.
pub fn hold_once(
    session: &Session,
    sealing: &crate::secrets::SealingKey,
    slot: &str,
    secret: &secrecy::SecretString,
) -> Result<(), AppError> {
    use secrecy::ExposeSecret;
    let sealed = sealing.seal(secret.expose_secret().as_bytes(), slot);
    session.insert(slot, sealed).map_err(AppError::internal)
}

/// Whether a secret waits in `slot`, without taking it.
pub fn holds(session: &Session, slot: &str) -> bool {
    session.get::<String>(slot).ok().flatten().is_some()
}

/// Takes the secret [`hold_once`] kept in `slot`: the first call has it, the
/// next ones (Back, a reload) do not.
pub fn take_once(
    session: &Session,
    sealing: &crate::secrets::SealingKey,
    slot: &str,
) -> Option<secrecy::SecretString> {
    let sealed = session.remove_as::<String>(slot)?.ok()?;
    let plain = sealing.open(&sealed, slot)?;
    String::from_utf8(plain)
        .ok()
        .map(secrecy::SecretString::from)
}

/// The data the base layout needs.
#[derive(Debug)]
pub struct Layout {
    /// Page title.
    pub title: String,
    /// Active section.
    pub nav: Nav,
    /// The signed-in admin.
    pub admin: Option<CurrentAdmin>,
    /// CSRF token for the page's forms.
    pub csrf: String,
    /// Messages to show once.
    pub flashes: Vec<Flash>,
}

impl Layout {
    /// The layout for a page, taking the queued flash messages.
    pub fn new(
        session: &Session,
        admin: Option<&CurrentAdmin>,
        nav: Nav,
        title: impl Into<String>,
    ) -> Result<Self, AppError> {
        // Taken only when there are some: a removal marks the session changed,
        // and a page that changes nothing must write nothing.
        let flashes: Vec<Flash> = match session.get::<Vec<Flash>>(FLASH_KEY) {
            Ok(Some(_)) => session
                .remove_as(FLASH_KEY)
                .and_then(Result::ok)
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        Ok(Self {
            title: title.into(),
            nav,
            admin: admin.cloned(),
            csrf: csrf::token(session)?,
            flashes,
        })
    }

    /// Whether the page belongs to `section` (`apps`, `settings`, `audit`).
    pub fn nav_is(&self, section: &str) -> bool {
        matches!(
            (self.nav, section),
            (Nav::Apps, "apps")
                | (Nav::Settings, "settings")
                | (Nav::Admins, "admins")
                | (Nav::Account, "account")
                | (Nav::Audit, "audit")
                | (Nav::Staff, "staff")
                | (Nav::Guests, "guests")
                | (Nav::Bookings, "bookings")
                | (Nav::Usage, "usage")
                | (Nav::Logs, "logs")
        )
    }

    /// No error, for a field that never has one (the macros take an `Option`).
    pub fn no_error(&self) -> Option<&'static str> {
        None
    }

    /// Whether the signed-in admin has full access (shows the API keys section).
    pub fn full_access(&self) -> bool {
        self.admin.as_ref().is_some_and(CurrentAdmin::is_full)
    }
}

/// Renders `page` with `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, AppError> {
    let body = page.render()?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// Renders `page` with 200.
pub fn ok(page: &impl Template) -> Result<HttpResponse, AppError> {
    render(StatusCode::OK, page)
}

/// The outcome of a change made by a button, shown on `back` after a 303:
/// `done`, or a refusal (a conflict, an invalid value) in words; anything
/// else is an error page.
pub fn outcome(
    session: &Session,
    result: Result<(), crate::services::OpError>,
    done: &str,
    back: &str,
) -> Result<HttpResponse, AppError> {
    use crate::services::OpError;
    match result {
        Ok(()) => flash(session, "success", done),
        Err(e @ (OpError::Conflict { .. } | OpError::Invalid { .. })) => {
            flash(session, "error", e.to_string());
        }
        Err(e) => return Err(e.into()),
    }
    Ok(see_other(back))
}

/// A 303 redirect to `location`.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location.to_owned()))
        .finish()
}

/// The query string of a list's filters (the non-empty ones, trimmed), for
/// its paging and export links.
pub fn filters_query(fields: &[(&str, &String)]) -> String {
    fields
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", crate::error::urlencode(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
}

/// A day typed in a filter (`2026-11-23`), if any.
pub fn parse_date(raw: &str) -> Result<Option<time::Date>, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map(Some)
        .map_err(|_| "Enter a date like 2026-11-23.".to_owned())
}
/// The keyset cursor of a list's next page, `<RFC 3339 instant>|<id>`: the
/// last row's time and id.
pub fn cursor(at: crate::clock::Timestamp, id: &str) -> String {
    format!("{}|{id}", crate::clock::fmt::iso(at))
}

/// A cursor [`cursor`] made, read back; `None` when it is not one.
pub fn parse_cursor(raw: &str) -> Option<(crate::clock::Timestamp, String)> {
    let (at, id) = raw.split_once('|')?;
    let at =
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).ok()?;
    Some((crate::clock::from_offset(at), id.chars().take(64).collect()))
}

/// One problem of a submitted form, as the error summary at the top of the
/// page lists it (the GOV.UK error summary pattern): the message, linked to
/// the control it is about, so keyboard and screen-reader users land on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The id of the control (or fieldset) the message belongs to.
    pub target: &'static str,
    pub message: String,
}

impl Problem {
    /// A problem of the control `target`.
    pub fn new(target: &'static str, message: impl Into<String>) -> Self {
        Self {
            target,
            message: message.into(),
        }
    }

    /// The problems of a form whose fields keep their messages apart, in the
    /// form's order: `(control id, message)`.
    pub fn list<'a>(
        fields: impl IntoIterator<Item = (&'static str, Option<&'a str>)>,
    ) -> Vec<Self> {
        fields
            .into_iter()
            .filter_map(|(target, message)| message.map(|m| Self::new(target, m)))
            .collect()
    }
}
