//! Integrations → Apps: the Manage Applications page, each app's page, its edit
//! page, activation and deletion. Full-access admins only; the wizard and the keys
//! have their own modules.

pub mod details;
pub mod key_rows;
pub mod keys;
pub mod scopes;
pub mod wizard;

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use self::details::{DetailsErrors, DetailsForm, Op, SOURCE_APPS, USER_TYPES};
use self::key_rows::{KeyRow, Masks, RetiredRow};
use self::scopes::{FamilyView, ScopesForm};
use crate::clock::{self, When};
use crate::db::models::alert;
use crate::db::models::key_address::KeyAddress;
use crate::db::models::platform::{self, Appointment};
use crate::db::models::token::TokenFamily;
use crate::db::models::{ApiKey, App, AppStatus, Organization, RetiredKey};
use crate::domain::{AppId, KeyId, UserRef};
use crate::error::AppError;
use crate::routes::extract::{CurrentAdmin, FullAdmin};
use crate::routes::form::{Button, Query, RawForm};
use crate::routes::page::{self, Layout, Nav, Problem};
use crate::services::{self, OpError};
use crate::state::AppState;

/// How many apps a page of the list shows.
const PAGE_SIZE: i64 = 50;

/// One row of the Manage Applications list.
#[derive(Debug)]
struct AppRow {
    name: String,
    status: AppStatus,
    source: &'static str,
    booking_mark: Option<&'static str>,
    keys: i64,
    href: String,
}

impl AppRow {
    fn status_label(&self) -> &'static str {
        match self.status {
            AppStatus::Draft => "Draft",
            AppStatus::Active => "Active",
            AppStatus::Inactive => "Inactive",
        }
    }

    fn status_class(&self) -> &'static str {
        match self.status {
            AppStatus::Draft => "badge-expiring",
            AppStatus::Active => "badge-active",
            AppStatus::Inactive => "badge-inactive",
        }
    }
}

#[derive(Template)]
#[template(path = "apps/index.html")]
struct AppsPage {
    layout: Layout,
    rows: Vec<AppRow>,
    q: String,
    next_page: Option<String>,
    first_page: bool,
}

/// Query of the list: a search term and the cursor.
#[derive(Debug, Deserialize)]
pub struct AppsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: String,
}

/// `GET /apps` — Manage Applications: every app by name, searchable, paginated.
pub async fn apps_index(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    Query(query): Query<AppsQuery>,
) -> Result<HttpResponse, AppError> {
    let q: String = query.q.trim().chars().take(100).collect();
    // The cursor is "<name key>\n<id>" of the last row shown.
    let after = query
        .after
        .split_once('\n')
        .map(|(a, b)| (a.to_owned(), b.to_owned()));
    let org = admin.organization_id.clone();
    let (search, cursor) = (q.clone(), after.clone());
    let (apps, counts) = state
        .read(move |conn| {
            let search = Some(search.as_str()).filter(|s| !s.is_empty());
            let apps = App::list_page(
                conn,
                &org,
                search,
                cursor.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                PAGE_SIZE + 1,
            )?;
            let ids: Vec<&AppId> = apps.iter().map(|a| &a.id).collect();
            let counts = ApiKey::count_by_app(conn, &ids)?;
            Ok((apps, counts))
        })
        .await?;
    let counts: HashMap<AppId, i64> = counts.into_iter().collect();
    let has_more = apps.len() > usize::try_from(PAGE_SIZE).unwrap_or(50);
    let shown: Vec<&App> = apps
        .iter()
        .take(usize::try_from(PAGE_SIZE).unwrap_or(50))
        .collect();
    let next_page = if has_more {
        shown.last().map(|last| {
            let cursor = format!("{}\n{}", last.name_key, last.id);
            format!(
                "/apps?q={}&after={}",
                crate::error::urlencode(&q),
                crate::error::urlencode(&cursor)
            )
        })
    } else {
        None
    };
    let rows = shown
        .into_iter()
        .map(|a| AppRow {
            name: a.name.clone(),
            status: a.status(),
            source: a.source().label(),
            booking_mark: a.source().booking_mark(),
            keys: counts.get(&a.id).copied().unwrap_or(0),
            href: if a.status() == AppStatus::Draft {
                format!("/apps/{}/wizard", a.id)
            } else {
                format!("/apps/{}", a.id)
            },
        })
        .collect();
    page::ok(&AppsPage {
        layout: Layout::new(&session, Some(&admin), Nav::Apps, "Manage Applications")?,
        rows,
        q,
        next_page,
        first_page: after.is_none(),
    })
}

#[derive(Template)]
#[template(path = "apps/show.html")]
struct AppPage {
    layout: Layout,
    app: App,
    chart: crate::routes::usage::UsageChart,
    status: AppStatus,
    source: &'static str,
    booking_mark: Option<&'static str>,
    user_type: &'static str,
    user_type_plural: &'static str,
    apikey_scopes: Vec<String>,
    jwt_scopes: Vec<String>,
    post_login: Vec<String>,
    post_logout: Vec<String>,
    keys: Vec<KeyRow>,
    /// How many keys in service the app has, whatever the search shows.
    key_count: usize,
    /// How many keys are stored (in service or retired, not deleted): the
    /// app can be deleted only without any.
    stored_keys: usize,
    /// Expired, rolled-out and deleted keys, latest ended first.
    retired: Vec<RetiredRow>,
    /// How many days retired keys stay listed.
    retired_days: i32,
    /// The key list's sortable columns.
    sorts: Vec<SortLink>,
    /// The search typed.
    search: String,
    at_limit: bool,
    max_keys: i64,
    bookings: Vec<BookingRow>,
    /// The organization's token lifetimes: access minutes, sign-in days, idle days.
    lifetimes: (i32, i32, i32),
    sign_ins: Vec<SignInRow>,
    /// The hosted sign-in, for its section.
    hosted: HostedSignIn,
}

/// What the app page says of the hosted sign-in (OpenID Connect).
#[derive(Debug)]
struct HostedSignIn {
    /// The discovery document's URL.
    discovery: String,
    /// Whether the app is a public client (PKCE alone, no secret).
    public_client: bool,
    /// A ready authorization URL to the first Post Login Redirect URL, with
    /// a fresh PKCE pair, and that pair's verifier.
    try_it: Option<(String, String)>,
}

impl HostedSignIn {
    /// `public`: the server's URL, where the endpoints are; `issuer`: the
    /// app's organization's, where its discovery document is.
    fn of(app: &App, public: &str, issuer: &str) -> Self {
        let try_it = app
            .post_login_urls()
            .into_iter()
            .next()
            .and_then(|redirect| {
                use base64::Engine;
                use sha2::Digest;
                let verifier = crate::secrets::random_token::<32>();
                let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(sha2::Sha256::digest(verifier.as_bytes()));
                let mut url = url::Url::parse(&format!("{public}/oauth/authorize")).ok()?;
                let scope = format!("openid profile email {}", app.jwt_permissions().to_stored());
                url.query_pairs_mut()
                    .append_pair("response_type", "code")
                    .append_pair("client_id", app.id.as_str())
                    .append_pair("redirect_uri", &redirect)
                    .append_pair("scope", scope.trim())
                    .append_pair("state", &crate::secrets::random_token::<12>())
                    .append_pair("nonce", &crate::secrets::random_token::<12>())
                    .append_pair("code_challenge", &challenge)
                    .append_pair("code_challenge_method", "S256");
                Some((url.to_string(), verifier))
            });
        Self {
            discovery: format!("{issuer}/.well-known/openid-configuration"),
            public_client: app.is_public_client(),
            try_it,
        }
    }
}

/// A recent sign-in of a user through the app.
#[derive(Debug)]
struct SignInRow {
    user: String,
    /// `/staff/<id>/sessions` or `/guests/<id>/sessions`.
    sessions: String,
    at: When,
    last_used: When,
    address: String,
    /// `Active`, `Expired`, or why it was revoked.
    status: String,
    live: bool,
}

/// Words for why a sign-in ended.
fn ended_because(reason: &str) -> &'static str {
    match reason {
        "revoked" => "Signed out",
        "revoked_by_admin" => "Revoked by an admin",
        "reuse_detected" => "Revoked: a refresh token was reused",
        "password_reset" => "Ended by a password reset",
        "password_changed" => "Ended by a password change",
        "user_left" => "Ended: the employee left",
        "user_blocked" => "Ended: the guest was blocked",
        "app_inactivated" => "Ended: the app was inactivated",
        _ => "Revoked",
    }
}

/// An appointment booked with one of the app's keys.
#[derive(Debug)]
struct BookingRow {
    starts: When,
    status: String,
    /// The stored source, for its icon.
    source: String,
    mark: &'static str,
    created: When,
}

/// The mark of an appointment's source, as the console shows it.
pub fn booking_mark(source: &str) -> &'static str {
    match source {
        "mobile" => "Mobile booking",
        "web" => "Web booking",
        "bot" => "Bot booking",
        "api" => "API booking",
        _ => "Front desk",
    }
}

/// `GET /apps/{id}` — an app's page: its details and its keys.
/// How the key list is ordered and filtered (`?sort=…&q=…`).
#[derive(Debug, Default, Deserialize)]
pub struct KeyListQuery {
    /// `name`, `expiry` or `last_used`; anything else, the order of creation.
    #[serde(default)]
    sort: String,
    /// Part of a key's name or description.
    #[serde(default)]
    q: String,
    /// The usage chart's period: `24h`, `7d` or `30d`.
    #[serde(default)]
    range: String,
}

/// The keys in the order asked, those matching the search only.
fn arrange_keys(mut keys: Vec<ApiKey>, query: &KeyListQuery) -> Vec<ApiKey> {
    let q = query.q.trim().to_lowercase();
    if !q.is_empty() {
        keys.retain(|k| {
            k.name.to_lowercase().contains(&q) || k.description.to_lowercase().contains(&q)
        });
    }
    match query.sort.as_str() {
        "name" => keys.sort_by_key(|k| k.name.to_lowercase()),
        // Soonest expiry first; keys that never expire last.
        "expiry" => keys.sort_by_key(|k| (k.expires_at.is_none(), k.expires_at)),
        // Most recently used first; never used last.
        "last_used" => {
            keys.sort_by_key(|k| (k.last_used_at.is_none(), std::cmp::Reverse(k.last_used_at)))
        }
        _ => {}
    }
    keys
}

/// A key list's column, as its header links to it.
#[derive(Debug)]
struct SortLink {
    label: &'static str,
    href: String,
    /// `aria-sort` of the column sorted by.
    current: bool,
}

pub async fn app_show(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
    Query(list): Query<KeyListQuery>,
) -> Result<HttpResponse, AppError> {
    let (org, id) = (admin.organization_id.clone(), path.into_inner());
    let range = crate::routes::usage::Range::parse(list.range.trim());
    let now = clock::now();
    let (app, (keys, deleted, addresses), bookings, alerts, (organization, sign_ins, usage)) =
        state
            .read(move |conn| {
                let app = App::find(conn, &org, &id)?;
                let (keys, deleted, bookings) = match &app {
                    Some(app) => (
                        ApiKey::list_for_app(conn, &app.id)?,
                        RetiredKey::list_for_app(conn, &app.id)?,
                        Appointment::recent_for_app(conn, &app.id, 10)?,
                    ),
                    None => (Vec::new(), Vec::new(), Vec::new()),
                };
                let ids: Vec<KeyId> = keys.iter().map(|k| k.id.clone()).collect();
                let alerts = alert::for_keys(conn, &ids)?;
                let addresses = KeyAddress::latest_of(conn, &ids)?;
                let mut sign_ins = Vec::new();
                for family in TokenFamily::recent_of_app(conn, &org, &id, 10)? {
                    let user = UserRef::from_subject(&family.subject);
                    let name = match &user {
                        Some(user) => platform::user_name(conn, &org, user)?,
                        None => None,
                    };
                    sign_ins.push((family, user, name));
                }
                let organization = Organization::find_by_id(conn, &org)?;
                let usage = crate::routes::usage::UsageChart::read(
                    conn,
                    &org,
                    crate::db::models::usage::Scope::App(&id),
                    range,
                    now,
                )?;
                Ok((
                    app,
                    (keys, deleted, addresses),
                    bookings,
                    alerts,
                    (organization, sign_ins, usage),
                ))
            })
            .await?;
    let app = app.ok_or(AppError::NotFound)?;
    if app.status() == AppStatus::Draft {
        return Ok(page::see_other(&format!("/apps/{}/wizard", app.id)));
    }
    let zone = admin.zone;
    let title = app.name.clone();
    let chart = crate::routes::usage::UsageChart::draw(
        &usage,
        range,
        now,
        zone,
        format!("/apps/{}", app.id),
    );
    let masks: Masks = keys
        .iter()
        .map(|k| (k.id.clone(), k.masked()))
        .chain(deleted.iter().map(|k| (k.id.clone(), k.masked.clone())))
        .collect();
    let (retired_keys, in_service): (Vec<ApiKey>, Vec<ApiKey>) =
        keys.iter().cloned().partition(|k| k.is_retired(now));
    let mut retired: Vec<RetiredRow> = retired_keys
        .iter()
        .map(|k| RetiredRow::of_key(k, &masks, zone))
        .chain(
            deleted
                .iter()
                .map(|k| RetiredRow::of_deleted(k, &masks, zone)),
        )
        .collect();
    retired.sort_by(|a, b| b.ended.iso.cmp(&a.ended.iso));
    let sign_ins = sign_ins
        .into_iter()
        .map(|(f, user, name)| {
            let (status, live) = match (&f.revoked_reason, f.revoked_at) {
                (Some(reason), Some(_)) => (ended_because(reason).to_owned(), false),
                (_, Some(_)) => ("Revoked".to_owned(), false),
                _ if f.expires_at <= now => ("Expired".to_owned(), false),
                _ => ("Active".to_owned(), true),
            };
            SignInRow {
                user: name.unwrap_or_else(|| "A user no longer here".to_owned()),
                sessions: match &user {
                    Some(UserRef::Employee(id)) => format!("/staff/{id}/sessions"),
                    Some(UserRef::Guest(id)) => format!("/guests/{id}/sessions"),
                    None => String::new(),
                },
                at: zone.when(f.created_at),
                last_used: zone.when(f.last_used_at),
                address: f.client_ip.unwrap_or_default(),
                status,
                live,
            }
        })
        .collect();
    page::ok(&AppPage {
        chart,
        lifetimes: (
            organization.access_token_minutes,
            organization.refresh_token_days,
            organization.refresh_idle_days,
        ),
        sign_ins,
        hosted: HostedSignIn::of(&app, &state.issuer, &organization.issuer(&state.issuer)),
        layout: Layout::new(&session, Some(&admin), Nav::Apps, title)?,
        status: app.status(),
        source: app.source().label(),
        booking_mark: app.source().booking_mark(),
        user_type: app.user_type().label(),
        user_type_plural: app.user_type().plural(),
        apikey_scopes: app.apikey_permissions().strings(),
        jwt_scopes: app.jwt_permissions().strings(),
        post_login: app.post_login_urls(),
        post_logout: app.post_logout_urls(),
        at_limit: i64::try_from(in_service.len()).unwrap_or(i64::MAX)
            >= i64::from(organization.max_keys_per_app),
        max_keys: i64::from(organization.max_keys_per_app),
        key_count: in_service.len(),
        stored_keys: keys.len(),
        retired,
        retired_days: organization.retired_keys_days,
        sorts: [
            ("Name", "name"),
            ("Expires at", "expiry"),
            ("Last used", "last_used"),
        ]
        .into_iter()
        .map(|(label, sort)| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query.append_pair("sort", sort);
            if !list.q.trim().is_empty() {
                query.append_pair("q", list.q.trim());
            }
            SortLink {
                label,
                href: format!("/apps/{}?{}#keys", app.id, query.finish()),
                current: list.sort == sort,
            }
        })
        .collect(),
        search: list.q.trim().to_owned(),
        keys: arrange_keys(in_service, &list)
            .iter()
            .map(|k| KeyRow::from_key(k, now, &alerts, &addresses, &masks, zone))
            .collect(),
        bookings: bookings
            .iter()
            .map(|b| BookingRow {
                starts: zone.when(b.starts_at),
                status: b.status.clone(),
                mark: booking_mark(&b.source),
                source: b.source.clone(),
                created: zone.when(b.created_at),
            })
            .collect(),
        app,
    })
}

#[derive(Template)]
#[template(path = "apps/edit.html")]
struct EditPage {
    layout: Layout,
    app: App,
    details: DetailsForm,
    errors: DetailsErrors,
    families: Vec<FamilyView>,
    scopes_error: Option<String>,
    user_types: [(&'static str, &'static str); 2],
    source_apps: [(&'static str, &'static str); 4],
}

impl EditPage {
    /// The error summary: the details' fields, then the scopes.
    fn problems(&self) -> Vec<Problem> {
        let mut list = self.errors.problems();
        list.extend(Problem::list([("scopes", self.scopes_error.as_deref())]));
        list
    }
}

fn edit_page(
    session: &Session,
    admin: &FullAdmin,
    app: App,
    details: DetailsForm,
    errors: DetailsErrors,
    families: Vec<FamilyView>,
    scopes_error: Option<String>,
) -> Result<EditPage, AppError> {
    Ok(EditPage {
        layout: Layout::new(
            session,
            Some(admin),
            Nav::Apps,
            format!("Edit {}", app.name),
        )?,
        app,
        details,
        errors,
        families,
        scopes_error,
        user_types: USER_TYPES,
        source_apps: SOURCE_APPS,
    })
}

async fn load_finished(state: &AppState, admin: &CurrentAdmin, id: AppId) -> Result<App, AppError> {
    let org = admin.organization_id.clone();
    let app = state
        .read(move |conn| App::find(conn, &org, &id))
        .await?
        .ok_or(AppError::NotFound)?;
    if app.status() == AppStatus::Draft {
        return Err(AppError::Conflict(
            "Finish this app's setup first.".to_owned(),
        ));
    }
    Ok(app)
}

/// `GET /apps/{id}/edit`.
pub async fn app_edit_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
) -> Result<HttpResponse, AppError> {
    let app = load_finished(&state, &admin, path.into_inner()).await?;
    let details = DetailsForm::from_app(&app);
    let families = scopes::families(&app.apikey_permissions(), &app.jwt_permissions());
    page::ok(&edit_page(
        &session,
        &admin,
        app,
        details,
        DetailsErrors::default(),
        families,
        None,
    )?)
}

/// `POST /apps/{id}/edit` — saves details and scopes; narrowing the scopes narrows the keys.
pub async fn app_update(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
    form: RawForm,
) -> Result<HttpResponse, AppError> {
    let app = load_finished(&state, &admin, path.into_inner()).await?;
    let (mut details, scopes_form, button) = (
        form.parse::<DetailsForm>()?,
        form.parse::<ScopesForm>()?,
        form.parse::<Button>()?.op,
    );
    let mut errors = DetailsErrors::default();
    let (checked_apikey, checked_jwt) = scopes_form.checked();
    let families = scopes::families(&checked_apikey, &checked_jwt);
    if details::apply_list_op(&mut details, Op::parse(&button), &mut errors) {
        let status = if errors.any() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        return page::render(
            status,
            &edit_page(&session, &admin, app, details, errors, families, None)?,
        );
    }
    let parsed_scopes = scopes_form.parse();
    let parsed_details = details::parse(&details);
    let (parsed, (apikey, jwt)) = match (parsed_details, parsed_scopes) {
        (Ok(d), Ok(s)) => (d, s),
        (d, s) => {
            let errors = d.err().unwrap_or_default();
            let page = edit_page(&session, &admin, app, details, errors, families, s.err())?;
            return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let (org, actor, app_id) = (admin.organization_id.clone(), admin.actor(), app.id.clone());
    let result = state
        .op(move |conn| {
            services::apps::update_details(conn, &org, &actor, &app_id, &parsed)?;
            services::apps::update_scopes(conn, &org, &actor, &app_id, &apikey, &jwt)
        })
        .await;
    match result {
        Ok(()) => {
            page::flash(&session, "success", "The application was saved.");
            Ok(page::see_other(&format!("/apps/{}", app.id)))
        }
        Err(OpError::NameTaken) => {
            let errors = DetailsErrors {
                name: Some(OpError::NameTaken.to_string()),
                ..DetailsErrors::default()
            };
            page::render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &edit_page(&session, &admin, app, details, errors, families, None)?,
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /apps/{id}/activate` and `/inactivate`.
pub async fn app_set_active(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(AppId, String)>,
) -> Result<HttpResponse, AppError> {
    let (app_id, verb) = path.into_inner();
    let active = match verb.as_str() {
        "activate" => true,
        "inactivate" => false,
        _ => return Err(AppError::NotFound),
    };
    let (org, actor, id) = (admin.organization_id.clone(), admin.actor(), app_id.clone());
    state
        .op(move |conn| services::apps::set_active(conn, &org, &actor, &id, active))
        .await?;
    page::flash(
        &session,
        "success",
        if active {
            "The application is active again; its active keys work."
        } else {
            "The application is inactive: none of its keys work now."
        },
    );
    Ok(page::see_other(&format!("/apps/{app_id}")))
}

/// `POST /apps/{id}/delete` — deletes an app without keys, or discards a draft.
pub async fn app_delete(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
) -> Result<HttpResponse, AppError> {
    let app_id = path.into_inner();
    let (org, actor, id) = (admin.organization_id.clone(), admin.actor(), app_id.clone());
    match state
        .op(move |conn| services::apps::delete(conn, &org, &actor, &id))
        .await
    {
        Ok(app) => {
            page::flash(
                &session,
                "success",
                format!("The application “{}” was deleted.", app.name),
            );
            Ok(page::see_other("/apps"))
        }
        Err(OpError::AppHasKeys) => {
            page::flash(&session, "error", OpError::AppHasKeys.to_string());
            Ok(page::see_other(&format!("/apps/{app_id}")))
        }
        Err(e) => Err(e.into()),
    }
}
