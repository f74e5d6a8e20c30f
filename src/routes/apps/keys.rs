//! An app's API keys: New API Key (its token shown once, in the response to Create
//! and nowhere else), Edit API key, the Active switch and Delete API key.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::PrimitiveDateTime;
use time::macros::format_description;

use super::scopes::{self, GroupView};
use crate::clock::{self, Timestamp};
use crate::db::models::{ApiKey, App, AppStatus, Organization};
use crate::domain::scopes::PermissionSet;
use crate::domain::{AppId, KeyId};
use crate::domain::{Description, Name};
use crate::error::AppError;
use crate::routes::extract::FullAdmin;
use crate::routes::form::Form;
use crate::routes::page::{self, Layout, Nav, Problem};
use crate::secrets::random_token;
use crate::services::keys::KeyFields;
use crate::services::{self, OpError};
use crate::state::AppState;

/// The key form as submitted.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    expires_at: String,
    active: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
    #[serde(default)]
    nonce: String,
}

impl KeyForm {
    fn from_key(key: &ApiKey) -> Self {
        Self {
            name: key.name.clone(),
            description: key.description.clone(),
            expires_at: key.expires_at.map(datetime_local).unwrap_or_default(),
            active: key.active.then(|| "on".to_owned()),
            permissions: key.permission_set().strings(),
            nonce: String::new(),
        }
    }

    fn is_active(&self) -> bool {
        self.active.is_some()
    }
}

/// Messages beside the fields.
#[derive(Debug, Default)]
struct KeyErrors {
    name: Option<String>,
    description: Option<String>,
    expires_at: Option<String>,
    permissions: Option<String>,
    form: Option<String>,
}

impl KeyErrors {
    fn any(&self) -> bool {
        self.name.is_some()
            || self.description.is_some()
            || self.expires_at.is_some()
            || self.permissions.is_some()
            || self.form.is_some()
    }

    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("name", self.form.as_deref()),
            ("name", self.name.as_deref()),
            ("description", self.description.as_deref()),
            ("expires_at", self.expires_at.as_deref()),
            ("permissions", self.permissions.as_deref()),
        ])
    }
}

/// The value of a `datetime-local` input for `t` (UTC, the organization's zone).
fn datetime_local(t: Timestamp) -> String {
    t.format(format_description!("[year]-[month]-[day]T[hour]:[minute]"))
        .unwrap_or_default()
}

/// Parses a `datetime-local` value; empty is never.
pub fn parse_expiry(raw: &str) -> Result<Option<Timestamp>, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let with_seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let without = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    PrimitiveDateTime::parse(s, without)
        .or_else(|_| PrimitiveDateTime::parse(s, with_seconds))
        .map(Some)
        .map_err(|_| "Enter a date and time, or leave it empty for Never.".to_owned())
}

/// The form as a key's fields, or every field's error at once. The rules are the
/// services' own (`check_permissions`, `check_expiry`); `check_expiry_at` is
/// `None` when an edit keeps the expiry it had.
fn parse_fields(
    form: &KeyForm,
    app: &App,
    org: &Organization,
    check_expiry_at: Option<Timestamp>,
) -> Result<KeyFields, KeyErrors> {
    let mut errors = KeyErrors::default();
    let name = Name::parse(&form.name)
        .map_err(|e| errors.name = Some(e.to_string()))
        .ok();
    let description = Description::parse(&form.description)
        .map_err(|e| errors.description = Some(e.to_string()))
        .ok();
    let expires_at = match parse_expiry(&form.expires_at) {
        Ok(t) => match check_expiry_at.map(|now| services::keys::check_expiry(org, t, now)) {
            Some(Err(e)) => {
                errors.expires_at = Some(e.to_string());
                None
            }
            _ => Some(t),
        },
        Err(e) => {
            errors.expires_at = Some(e);
            None
        }
    };
    let permissions =
        match PermissionSet::from_submitted(form.permissions.iter().map(String::as_str)) {
            Ok(set) => match services::keys::check_permissions(app, &set) {
                Ok(()) => Some(set),
                Err(e) => {
                    errors.permissions = Some(e.to_string());
                    None
                }
            },
            Err(e) => {
                errors.permissions = Some(e);
                None
            }
        };
    match (name, description, expires_at, permissions) {
        (Some(name), Some(description), Some(expires_at), Some(permissions)) if !errors.any() => {
            Ok(KeyFields {
                name,
                description,
                expires_at,
                active: form.is_active(),
                permissions,
            })
        }
        _ => Err(errors),
    }
}

impl KeyErrors {
    /// A refusal of the services, beside its field; `None` when the form cannot
    /// show it.
    fn from_refusal(e: &OpError) -> Option<Self> {
        let message = Some(e.to_string());
        match (e, e.field()) {
            (_, Some("expires_at")) => Some(Self {
                expires_at: message,
                ..Self::default()
            }),
            (_, Some("permissions")) => Some(Self {
                permissions: message,
                ..Self::default()
            }),
            (OpError::KeyLimit, _) => Some(Self {
                form: message,
                ..Self::default()
            }),
            _ => None,
        }
    }
}

#[derive(Template)]
#[template(path = "keys/form.html")]
struct KeyFormPage {
    layout: Layout,
    view: KeyFormView,
    groups: Vec<GroupView>,
}

/// What the New API Key and Edit API key pages show.
#[derive(Debug)]
struct KeyFormView {
    app: App,
    /// The key being edited; `None` for a new key.
    key_id: Option<KeyId>,
    /// What the edit page says of the key it edits.
    editing: Option<EditedKey>,
    form: KeyForm,
    errors: KeyErrors,
    /// The key policy's maximum lifetime, in days.
    max_days: Option<i32>,
}

/// The key an edit page is about: its mask, when it was made, its last use.
#[derive(Debug)]
struct EditedKey {
    masked: String,
    created: (String, String),
    last_used: Option<(String, String)>,
}

impl EditedKey {
    fn of(key: &ApiKey) -> Self {
        Self {
            masked: key.masked(),
            created: (
                clock::fmt::timestamp(key.created_at),
                clock::fmt::iso(key.created_at),
            ),
            last_used: key
                .last_used_at
                .map(|t| (clock::fmt::timestamp(t), clock::fmt::iso(t))),
        }
    }
}

impl KeyFormView {
    /// The hint below the expiry: the key policy's limit, or Never.
    fn expires_hint(&self) -> String {
        match self.max_days {
            Some(max) => {
                format!("In UTC. Your organization's key policy allows keys of at most {max} days.")
            }
            None => "In UTC. Leave empty for Never.".to_owned(),
        }
    }

    fn render(
        self,
        session: &Session,
        admin: &FullAdmin,
        status: StatusCode,
    ) -> Result<HttpResponse, AppError> {
        let checked = PermissionSet::from_stored(&self.form.permissions.join(" "));
        let title = if self.key_id.is_some() {
            "Edit API key"
        } else {
            "New API Key"
        };
        let page = KeyFormPage {
            layout: Layout::new(session, Some(admin), Nav::Apps, title)?,
            groups: scopes::groups(
                "permissions",
                Some(&self.app.apikey_permissions()),
                &checked,
            ),
            view: self,
        };
        page::render(status, &page)
    }
}

/// The app (finished, not a draft) and its organization, whose key policy applies.
async fn load_app(
    state: &AppState,
    admin: &FullAdmin,
    app_id: AppId,
) -> Result<(App, Organization), AppError> {
    let org = admin.organization_id.clone();
    let (app, org) = state
        .read(move |conn| {
            Ok((
                App::find(conn, &org, &app_id)?,
                Organization::find_by_id(conn, &org)?,
            ))
        })
        .await?;
    let app = app.ok_or(AppError::NotFound)?;
    if app.status() == AppStatus::Draft {
        return Err(AppError::Conflict(
            "Finish this app's setup first.".to_owned(),
        ));
    }
    Ok((app, org))
}

/// `GET /apps/{id}/keys/new`.
pub async fn key_new_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
) -> Result<HttpResponse, AppError> {
    let (app, org) = load_app(&state, &admin, path.into_inner()).await?;
    let app_id = app.id.clone();
    let count = state
        .read(move |conn| ApiKey::count_for_app(conn, &app_id))
        .await?;
    let form = KeyForm {
        active: Some("on".to_owned()),
        expires_at: services::keys::default_expiry(&org, clock::now())
            .map(datetime_local)
            .unwrap_or_default(),
        // Least privilege: a new key starts with nothing ticked.
        permissions: Vec::new(),
        nonce: random_token::<16>(),
        ..KeyForm::default()
    };
    let errors = KeyErrors {
        form: services::keys::check_room(count)
            .err()
            .map(|e| e.to_string()),
        ..KeyErrors::default()
    };
    KeyFormView {
        app,
        key_id: None,
        editing: None,
        form,
        errors,
        max_days: org.key_max_lifetime_days,
    }
    .render(&session, &admin, StatusCode::OK)
}

#[derive(Template)]
#[template(path = "keys/created.html")]
struct CreatedPage {
    layout: Layout,
    app: App,
    key: ApiKey,
    /// The token, on the one view that shows it.
    token: Option<SecretString>,
}

impl CreatedPage {
    fn token(&self) -> &str {
        self.token.as_ref().map_or("", |t| t.expose_secret())
    }
}

/// The session key and sealing context under which a new key's token waits
/// for the one page view that shows it.
fn reveal_slot(key_id: &KeyId) -> String {
    format!("reveal:{key_id}")
}

/// `POST /apps/{id}/keys` — Create: the key's token waits, sealed, in the
/// session for the page the answer redirects to (post/redirect/get, so Back
/// and reload never resubmit the form), which shows it once.
pub async fn key_create(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
    Form(mut form): Form<KeyForm>,
) -> Result<HttpResponse, AppError> {
    let (app, org) = load_app(&state, &admin, path.into_inner()).await?;
    if form.nonce.is_empty() || form.nonce.len() > 64 {
        form.nonce = random_token::<16>();
    }
    let fields = match parse_fields(&form, &app, &org, Some(clock::now())) {
        Ok(fields) => fields,
        Err(errors) => {
            return KeyFormView {
                app,
                key_id: None,
                editing: None,
                form,
                errors,
                max_days: org.key_max_lifetime_days,
            }
            .render(&session, &admin, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let (org_id, actor, app_id, nonce, digest_key) = (
        admin.organization_id.clone(),
        admin.actor(),
        app.id.clone(),
        form.nonce.clone(),
        state.digest_key.clone(),
    );
    let result = state
        .op(move |conn| {
            services::keys::create(
                conn,
                &org_id,
                &actor,
                &app_id,
                &fields,
                Some(&nonce),
                &digest_key,
            )
        })
        .await;
    match result {
        Ok((key, token)) => {
            page::hold_once(&session, &state.sealing_key, &reveal_slot(&key.id), &token)?;
            Ok(page::see_other(&format!(
                "/apps/{}/keys/{}/created",
                app.id, key.id
            )))
        }
        Err(OpError::AlreadySubmitted(_)) => {
            page::flash(
                &session,
                "info",
                "That key was created already; its token is not shown again.",
            );
            Ok(page::see_other(&format!("/apps/{}", app.id)))
        }
        Err(e) => match KeyErrors::from_refusal(&e) {
            Some(errors) => KeyFormView {
                app,
                key_id: None,
                editing: None,
                form,
                errors,
                max_days: org.key_max_lifetime_days,
            }
            .render(&session, &admin, StatusCode::UNPROCESSABLE_ENTITY),
            None => Err(e.into()),
        },
    }
}

async fn load_key(
    state: &AppState,
    admin: &FullAdmin,
    app_id: AppId,
    key_id: KeyId,
) -> Result<(App, ApiKey, Organization), AppError> {
    let (app, org) = load_app(state, admin, app_id).await?;
    let id = app.id.clone();
    let key = state
        .read(move |conn| ApiKey::find(conn, &id, &key_id))
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((app, key, org))
}

/// `GET /apps/{id}/keys/{key}/edit`.
pub async fn key_edit_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(AppId, KeyId)>,
) -> Result<HttpResponse, AppError> {
    let (app_id, key_id) = path.into_inner();
    let (app, key, org) = load_key(&state, &admin, app_id, key_id).await?;
    KeyFormView {
        form: KeyForm::from_key(&key),
        app,
        editing: Some(EditedKey::of(&key)),
        key_id: Some(key.id),
        errors: KeyErrors::default(),
        max_days: org.key_max_lifetime_days,
    }
    .render(&session, &admin, StatusCode::OK)
}

/// `POST /apps/{id}/keys/{key}/edit` — everything but the token.
pub async fn key_update(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(AppId, KeyId)>,
    Form(form): Form<KeyForm>,
) -> Result<HttpResponse, AppError> {
    let (app_id, key_id) = path.into_inner();
    let (app, key, org) = load_key(&state, &admin, app_id, key_id).await?;
    // An expiry left as it was may have passed meanwhile; only a new one must be ahead.
    let unchanged_expiry = parse_expiry(&form.expires_at)
        .ok()
        .flatten()
        .is_some_and(|t| {
            key.expires_at
                .is_some_and(|k| datetime_local(k) == datetime_local(t))
        });
    let check_expiry_at = (!unchanged_expiry).then(clock::now);
    let mut fields = match parse_fields(&form, &app, &org, check_expiry_at) {
        Ok(fields) => fields,
        Err(errors) => {
            return KeyFormView {
                app,
                editing: Some(EditedKey::of(&key)),
                key_id: Some(key.id),
                form,
                errors,
                max_days: org.key_max_lifetime_days,
            }
            .render(&session, &admin, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    if unchanged_expiry {
        fields.expires_at = key.expires_at;
    }
    let (org_id, actor, a_id, k_id) = (
        admin.organization_id.clone(),
        admin.actor(),
        app.id.clone(),
        key.id.clone(),
    );
    match state
        .op(move |conn| services::keys::edit(conn, &org_id, &actor, &a_id, &k_id, &fields))
        .await
    {
        Ok(()) => {
            page::flash(
                &session,
                "success",
                format!("The key “{}” was saved.", form.name.trim()),
            );
            Ok(page::see_other(&format!("/apps/{}", app.id)))
        }
        Err(e) => match KeyErrors::from_refusal(&e) {
            Some(errors) => KeyFormView {
                app,
                editing: Some(EditedKey::of(&key)),
                key_id: Some(key.id),
                form,
                errors,
                max_days: org.key_max_lifetime_days,
            }
            .render(&session, &admin, StatusCode::UNPROCESSABLE_ENTITY),
            None => Err(e.into()),
        },
    }
}

/// `POST /apps/{id}/keys/{key}/activate` and `/inactivate` — effective at once.
pub async fn key_set_active(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(AppId, KeyId, String)>,
) -> Result<HttpResponse, AppError> {
    let (app_id, key_id, verb) = path.into_inner();
    let active = match verb.as_str() {
        "activate" => true,
        "inactivate" => false,
        _ => return Err(AppError::NotFound),
    };
    let (org, actor, a_id) = (admin.organization_id.clone(), admin.actor(), app_id.clone());
    let key = state
        .op(move |conn| services::keys::set_active(conn, &org, &actor, &a_id, &key_id, active))
        .await?;
    let message = if active {
        format!("The key “{}” is active.", key.name)
    } else {
        format!("The key “{}” is inactive: it stopped working.", key.name)
    };
    page::flash(&session, "success", message);
    Ok(page::see_other(&format!("/apps/{app_id}")))
}

#[derive(Template)]
#[template(path = "keys/delete.html")]
struct DeletePage {
    layout: Layout,
    app: App,
    key: ApiKey,
}

/// `GET /apps/{id}/keys/{key}/created` — the new key, its token shown on the
/// first view only; after that (Back, a reload) the page says it was shown.
pub async fn key_created(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(AppId, KeyId)>,
) -> Result<HttpResponse, AppError> {
    let (app_id, key_id) = path.into_inner();
    let (app, key, _) = load_key(&state, &admin, app_id, key_id).await?;
    let token = page::take_once(&session, &state.sealing_key, &reveal_slot(&key.id));
    page::ok(&CreatedPage {
        layout: Layout::new(&session, Some(&admin), Nav::Apps, "API key created")?,
        app,
        key,
        token,
    })
}

/// `GET /apps/{id}/keys/{key}/delete` — the confirmation.
pub async fn key_delete_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(AppId, KeyId)>,
) -> Result<HttpResponse, AppError> {
    let (app_id, key_id) = path.into_inner();
    let (app, key, _) = load_key(&state, &admin, app_id, key_id).await?;
    if let Err(e) = services::keys::check_deletable(&key, crate::clock::now()) {
        page::flash(&session, "error", e.to_string());
        return Ok(page::see_other(&format!("/apps/{}", app.id)));
    }
    page::ok(&DeletePage {
        layout: Layout::new(&session, Some(&admin), Nav::Apps, "Delete API key")?,
        app,
        key,
    })
}

/// `POST /apps/{id}/keys/{key}/delete` — only an inactive or expired key; for good.
pub async fn key_delete(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(AppId, KeyId)>,
) -> Result<HttpResponse, AppError> {
    let (app_id, key_id) = path.into_inner();
    let (org, actor, a_id) = (admin.organization_id.clone(), admin.actor(), app_id.clone());
    match state
        .op(move |conn| services::keys::delete(conn, &org, &actor, &a_id, &key_id))
        .await
    {
        Ok(key) => {
            page::flash(
                &session,
                "success",
                format!("The key “{}” was deleted.", key.name),
            );
            Ok(page::see_other(&format!("/apps/{app_id}")))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_accepts_datetime_local_and_empty() {
        assert_eq!(parse_expiry("").unwrap(), None);
        let t = parse_expiry("2031-02-03T04:05").unwrap().unwrap();
        assert_eq!(datetime_local(t), "2031-02-03T04:05");
        assert!(parse_expiry("2031-02-03T04:05:06").unwrap().is_some());
        for bad in [
            "tomorrow",
            "2031-13-01T00:00",
            "2031-02-03",
            "99999-01-01T00:00",
        ] {
            assert!(parse_expiry(bad).is_err(), "{bad}");
        }
    }
}
