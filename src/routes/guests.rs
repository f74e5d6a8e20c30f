//! The Guests page (full-access admins): the business's guests, with search and
//! paging, and their sign-in: an invitation or reset link by email, and
//! blocking a guest from signing in.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::db::models::UserCredential;
use crate::db::models::platform::Guest;
use crate::domain::{GuestId, UserRef};
use crate::error::AppError;
use crate::routes::extract::FullAdmin;
use crate::routes::form::Query;
use crate::routes::page::{self, Layout, Nav};
use crate::services;
use crate::state::AppState;

/// Guests per page.
const PAGE_SIZE: usize = 50;

/// Where a guest stands with signing in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestSignIn {
    /// Never invited.
    NotInvited,
    /// Invited (or reset), no password yet.
    Pending,
    /// A password is set.
    Ready,
    /// Blocked from signing in.
    Blocked,
}

/// A row of the list.
#[derive(Debug)]
struct Row {
    g: Guest,
    sign_in: GuestSignIn,
}

#[derive(Template)]
#[template(path = "guests/index.html")]
struct GuestsPage {
    layout: Layout,
    q: String,
    rows: Vec<Row>,
    next_page: Option<String>,
}

/// The list's query: a search and the cursor.
#[derive(Debug, Default, Deserialize)]
pub struct GuestsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    before: String,
}

/// `GET /guests`.
pub async fn guests_index(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    Query(query): Query<GuestsQuery>,
) -> Result<HttpResponse, AppError> {
    let q: String = query.q.trim().chars().take(100).collect();
    let before: String = query.before.chars().take(64).collect();
    let org = admin.organization_id.clone();
    let (search, cursor) = (q.clone(), before.clone());
    let (guests, credentials) = state
        .read(move |conn| {
            let guests = Guest::search_page(
                conn,
                &org,
                Some(search.as_str()).filter(|s| !s.is_empty()),
                Some(cursor.as_str()).filter(|s| !s.is_empty()),
                i64::try_from(PAGE_SIZE + 1).unwrap_or(51),
            )?;
            let credentials: HashMap<String, UserCredential> =
                UserCredential::list_of_type(conn, &org, "guest")?
                    .into_iter()
                    .map(|c| (c.user_id.clone(), c))
                    .collect();
            Ok((guests, credentials))
        })
        .await?;
    let has_more = guests.len() > PAGE_SIZE;
    let rows: Vec<Row> = guests
        .into_iter()
        .take(PAGE_SIZE)
        .map(|g| {
            let sign_in = match credentials.get(g.id.as_str()) {
                None => GuestSignIn::NotInvited,
                Some(c) if c.blocked_at.is_some() => GuestSignIn::Blocked,
                Some(c) if c.has_password() => GuestSignIn::Ready,
                Some(_) => GuestSignIn::Pending,
            };
            Row { g, sign_in }
        })
        .collect();
    let next_page = if has_more {
        rows.last().map(|last| {
            format!(
                "/guests?q={}&before={}",
                crate::error::urlencode(&q),
                crate::error::urlencode(last.g.id.as_str())
            )
        })
    } else {
        None
    };
    page::ok(&GuestsPage {
        layout: Layout::new(&session, Some(&admin), Nav::Guests, "Guests")?,
        q,
        rows,
        next_page,
    })
}

/// `POST /guests/{id}/invitation` and `/password-reset`.
pub async fn guest_send_link(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(GuestId, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, verb) = path.into_inner();
    crate::routes::users::send_link_action(
        &session,
        &state,
        &admin,
        UserRef::Guest(id),
        &verb,
        "/guests",
    )
    .await
}

/// `POST /guests/{id}/block` and `/unblock`.
pub async fn guest_set_blocked(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(GuestId, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, verb) = path.into_inner();
    let blocked = match verb.as_str() {
        "block" => true,
        "unblock" => false,
        _ => return Err(AppError::NotFound),
    };
    let (org, actor) = (admin.organization_id.clone(), admin.actor());
    state
        .op(move |conn| services::users::set_guest_blocked(conn, &org, &actor, &id, blocked))
        .await?;
    page::flash(
        &session,
        "success",
        if blocked {
            "The guest is blocked: they cannot sign in, and their links stopped working."
        } else {
            "The guest may sign in again."
        },
    );
    Ok(page::see_other("/guests"))
}

/// `GET /guests/{id}/sessions`: the guest's live sign-ins through apps.
pub async fn guest_sessions(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<GuestId>,
) -> Result<HttpResponse, AppError> {
    crate::routes::users::sessions_page(&session, &state, &admin, UserRef::Guest(path.into_inner()))
        .await
}

/// `POST /guests/{id}/sessions/{session}/revoke`.
pub async fn guest_session_revoke(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(GuestId, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, family) = path.into_inner();
    crate::routes::users::revoke_session_action(
        &session,
        &state,
        &admin,
        UserRef::Guest(id),
        family,
    )
    .await
}
