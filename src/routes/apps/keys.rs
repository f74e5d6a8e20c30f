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
use crate::clock::{self, Timestamp, When, Zone};
use crate::db::models::key_address::KeyAddress;
use crate::db::models::{ApiKey, App, AppStatus, Organization, RetiredKey};
use crate::domain::restrictions::RateField;
use crate::domain::scopes::PermissionSet;
use crate::domain::{AppId, IpAllowlist, KeyId, RateLimits};
use crate::domain::{Description, Name};
use crate::error::AppError;
use crate::routes::extract::FullAdmin;
use crate::routes::form::{Form, Query};
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
    /// The expiry chosen: a preset's days, `custom` (then `expires_at`) or
    /// `never`. Empty (a script posting `expires_at` alone) is `custom`.
    #[serde(default)]
    expires_in: String,
    /// The custom expiry, a `datetime-local` value in the organization's zone.
    #[serde(default)]
    expires_at: String,
    active: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
    /// Addresses and CIDR ranges, one per line (or separated by commas).
    #[serde(default)]
    allowed_ips: String,
    /// Requests per second; empty is no limit.
    #[serde(default)]
    rate_per_second: String,
    /// Requests per minute; empty is no limit.
    #[serde(default)]
    rate_per_minute: String,
    #[serde(default)]
    nonce: String,
}

/// A limit as the form shows it: empty for none.
fn limit_text(limit: Option<u32>) -> String {
    limit.map(|n| n.to_string()).unwrap_or_default()
}

impl KeyForm {
    fn from_key(key: &ApiKey, zone: Zone) -> Self {
        Self {
            name: key.name.clone(),
            description: key.description.clone(),
            expires_in: if key.expires_at.is_some() {
                CUSTOM
            } else {
                NEVER
            }
            .to_owned(),
            expires_at: key
                .expires_at
                .map(|t| zone.datetime_local(t))
                .unwrap_or_default(),
            active: key.active.then(|| "on".to_owned()),
            permissions: key.permission_set().strings(),
            allowed_ips: key.allowlist().entries().join("\n"),
            rate_per_second: limit_text(key.rate_limits().per_second),
            rate_per_minute: limit_text(key.rate_limits().per_minute),
            nonce: String::new(),
        }
    }

    /// Whether the allowlist typed lets every address in (`0.0.0.0/0`).
    fn allows_any_address(&self) -> bool {
        IpAllowlist::parse(&self.allowed_ips).is_ok_and(|l| l.has_any_address())
    }

    fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// Whether the custom date decides the expiry.
    fn is_custom(&self) -> bool {
        matches!(self.expires_in.as_str(), "" | CUSTOM)
    }

    /// Whether the form keeps the expiry `current` exactly as it was (an edit
    /// that did not touch it): the same custom date to the minute, or Never.
    fn keeps_expiry(&self, current: Option<Timestamp>, zone: Zone) -> bool {
        match current {
            Some(t) => self.is_custom() && self.expires_at.trim() == zone.datetime_local(t),
            None => {
                self.expires_in == NEVER || (self.is_custom() && self.expires_at.trim().is_empty())
            }
        }
    }
}

/// The expiry presets of the key form, in days, as GitHub and Stripe offer
/// them; those beyond the key policy's maximum are not offered.
/// `(days, form value, label)`.
const PRESETS: [(i64, &str, &str); 5] = [
    (7, "7", "7 days"),
    (30, "30", "30 days"),
    (60, "60", "60 days"),
    (90, "90", "90 days"),
    (365, "365", "1 year"),
];
const CUSTOM: &str = "custom";
const NEVER: &str = "never";

/// The form's first choice for a new key: the key policy's default
/// lifetime (or its maximum) as a preset when it is one, else as a custom
/// date; Never without a policy.
fn policy_choice(org: &Organization, zone: Zone, now: Timestamp) -> (String, String) {
    let days = org
        .key_default_lifetime_days
        .or(org.key_max_lifetime_days)
        .map(i64::from);
    match days {
        None => (NEVER.to_owned(), String::new()),
        Some(d) if PRESETS.iter().any(|(p, _, _)| *p == d) => (d.to_string(), String::new()),
        Some(d) => (
            CUSTOM.to_owned(),
            zone.datetime_local(now + time::Duration::days(d)),
        ),
    }
}

/// The expiry the form chose: a preset counted from `now`, Never, or the
/// custom date read in the organization's zone (empty is Never).
fn chosen_expiry(form: &KeyForm, zone: Zone, now: Timestamp) -> Result<Option<Timestamp>, String> {
    match form.expires_in.as_str() {
        NEVER => Ok(None),
        choice if form.is_custom() => {
            let local = parse_local(&form.expires_at)?;
            if choice == CUSTOM && local.is_none() {
                return Err("Enter the date and time the key expires.".to_owned());
            }
            local
                .map(|l| {
                    zone.instant(l).map_err(|_| {
                        format!(
                            "{} does not exist in {}: the clocks go forward at that time. \
                             Choose another time.",
                            l.format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
                                .unwrap_or_default(),
                            zone.name()
                        )
                    })
                })
                .transpose()
        }
        value => PRESETS
            .iter()
            .find(|(_, v, _)| *v == value)
            .map(|(d, _, _)| Some(now + time::Duration::days(*d)))
            .ok_or_else(|| "Choose one of the expiry options.".to_owned()),
    }
}

/// Messages beside the fields.
#[derive(Debug, Default)]
struct KeyErrors {
    name: Option<String>,
    description: Option<String>,
    expires_at: Option<String>,
    permissions: Option<String>,
    allowed_ips: Option<String>,
    rate_per_second: Option<String>,
    rate_per_minute: Option<String>,
    form: Option<String>,
}

impl KeyErrors {
    fn any(&self) -> bool {
        self.name.is_some()
            || self.description.is_some()
            || self.expires_at.is_some()
            || self.permissions.is_some()
            || self.allowed_ips.is_some()
            || self.rate_per_second.is_some()
            || self.rate_per_minute.is_some()
            || self.form.is_some()
    }

    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("name", self.form.as_deref()),
            ("name", self.name.as_deref()),
            ("description", self.description.as_deref()),
            ("expires_at", self.expires_at.as_deref()),
            ("permissions", self.permissions.as_deref()),
            ("allowed_ips", self.allowed_ips.as_deref()),
            ("rate_per_second", self.rate_per_second.as_deref()),
            ("rate_per_minute", self.rate_per_minute.as_deref()),
        ])
    }
}

/// Parses a `datetime-local` value, a wall-clock time; empty is none.
pub fn parse_local(raw: &str) -> Result<Option<PrimitiveDateTime>, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let with_seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let without = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    PrimitiveDateTime::parse(s, without)
        .or_else(|_| PrimitiveDateTime::parse(s, with_seconds))
        .map(Some)
        .map_err(|_| "Enter a date and time like 2027-01-31 09:00.".to_owned())
}

/// The form as a key's fields, or every field's error at once. The rules are the
/// services' own (`check_permissions`, `check_expiry`); `kept` is the expiry
/// an edit leaves as it was (not checked again: it may have passed meanwhile).
#[expect(
    clippy::result_large_err,
    reason = "built once per submitted form, then rendered"
)]
fn parse_fields(
    form: &KeyForm,
    app: &App,
    org: &Organization,
    zone: Zone,
    kept: Option<Option<Timestamp>>,
) -> Result<KeyFields, KeyErrors> {
    let now = clock::now();
    let mut errors = KeyErrors::default();
    let name = Name::parse(&form.name)
        .map_err(|e| errors.name = Some(e.to_string()))
        .ok();
    let description = Description::parse(&form.description)
        .map_err(|e| errors.description = Some(e.to_string()))
        .ok();
    let expires_at = match kept {
        Some(t) => Some(t),
        None => match chosen_expiry(form, zone, now) {
            Ok(t) => match services::keys::check_expiry(org, t, now) {
                Err(e) => {
                    errors.expires_at = Some(e.to_string());
                    None
                }
                Ok(()) => Some(t),
            },
            Err(e) => {
                errors.expires_at = Some(e);
                None
            }
        },
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
    let allowed_ips = IpAllowlist::parse(&form.allowed_ips)
        .map_err(|e| errors.allowed_ips = Some(e.to_string()))
        .ok();
    let rate_limits = RateLimits::parse(&form.rate_per_second, &form.rate_per_minute)
        .map_err(|(field, e)| match field {
            RateField::PerSecond => errors.rate_per_second = Some(e.to_string()),
            RateField::PerMinute => errors.rate_per_minute = Some(e.to_string()),
        })
        .ok();
    match (
        name,
        description,
        expires_at,
        permissions,
        allowed_ips,
        rate_limits,
    ) {
        (
            Some(name),
            Some(description),
            Some(expires_at),
            Some(permissions),
            Some(allowed_ips),
            Some(rate_limits),
        ) if !errors.any() => Ok(KeyFields {
            name,
            description,
            expires_at,
            active: form.is_active(),
            permissions,
            allowed_ips,
            rate_limits,
        }),
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
            (OpError::KeyLimit(_), _) => Some(Self {
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
    /// The organization's time zone: the custom date is read in it.
    zone: Zone,
}

/// One radio of the expiry choices.
#[derive(Debug)]
struct ExpiryChoice {
    value: &'static str,
    label: &'static str,
    /// When it would expire, if chosen now (`on 2027-01-03`).
    detail: String,
    checked: bool,
}

/// The key an edit page is about: its mask, when it was made, its last use.
#[derive(Debug)]
struct EditedKey {
    masked: String,
    created: When,
    last_used: Option<When>,
    /// The last client addresses, most recent first.
    addresses: Vec<(String, When)>,
}

impl EditedKey {
    fn of(key: &ApiKey, addresses: &[KeyAddress], zone: Zone) -> Self {
        Self {
            masked: key.masked(),
            created: zone.when(key.created_at),
            last_used: key.last_used_at.map(|t| zone.when(t)),
            addresses: addresses
                .iter()
                .map(|a| (a.address.clone(), zone.when(a.last_used_at)))
                .collect(),
        }
    }
}

impl KeyFormView {
    /// The hint of the expiry choices: the zone, and the key policy's limit.
    fn expires_hint(&self) -> String {
        let zone = self.zone.name();
        match self.max_days {
            Some(max) => format!(
                "Times are in {zone}. Your organization's key policy allows keys of at most {max} days."
            ),
            None => format!("Times are in {zone}."),
        }
    }

    /// The presets the key policy allows, then Never where it allows it (a
    /// custom date is the last choice, in the template).
    fn expiry_choices(&self) -> Vec<ExpiryChoice> {
        let now = clock::now();
        let max = self.max_days.map(i64::from);
        let mut list: Vec<ExpiryChoice> = PRESETS
            .iter()
            .filter(|(days, _, _)| max.is_none_or(|m| *days <= m))
            .map(|(days, value, label)| {
                let on = self.zone.when(now + time::Duration::days(*days)).text;
                ExpiryChoice {
                    value,
                    label,
                    detail: format!("on {}", on.split(' ').next().unwrap_or_default()),
                    checked: self.form.expires_in == *value,
                }
            })
            .collect();
        // Never where the policy allows it, and on a key that never expires
        // already (an edit may keep it: the maximum binds new expiries).
        if max.is_none() || self.form.expires_in == NEVER {
            list.push(ExpiryChoice {
                value: NEVER,
                label: "Never",
                detail: "not recommended: a leaked key works until someone deletes it".to_owned(),
                checked: self.form.expires_in == NEVER,
            });
        }
        list
    }

    fn custom_checked(&self) -> bool {
        self.form.is_custom()
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

/// `?from=` on New API Key: the retired key to recreate.
#[derive(Debug, Default, Deserialize)]
pub struct NewKeyQuery {
    #[serde(default)]
    from: Option<KeyId>,
}

/// What Recreate copies of a retired key: its name, description,
/// permissions (those the app still offers) and restrictions.
struct RecreateFrom {
    name: String,
    description: String,
    permissions: PermissionSet,
    allowed_ips: IpAllowlist,
    rate_limits: RateLimits,
}

/// The retired key `id` of `app`: a stored key that expired or was rolled
/// out, or a deleted one. A key still in service is not a retired key.
async fn retired_template(
    state: &AppState,
    app: &App,
    id: KeyId,
) -> Result<Option<RecreateFrom>, AppError> {
    let app_id = app.id.clone();
    let now = clock::now();
    let (stored, deleted) = state
        .read(move |conn| {
            Ok((
                ApiKey::find(conn, &app_id, &id)?,
                RetiredKey::find(conn, &app_id, &id)?,
            ))
        })
        .await?;
    let offered = app.apikey_permissions();
    Ok(match (stored, deleted) {
        (Some(k), _) if k.is_retired(now) => Some(RecreateFrom {
            name: k.name.clone(),
            description: k.description.clone(),
            permissions: k.permission_set().intersection(&offered),
            allowed_ips: k.allowlist(),
            rate_limits: k.rate_limits(),
        }),
        (None, Some(k)) => Some(RecreateFrom {
            permissions: PermissionSet::from_stored(&k.permissions).intersection(&offered),
            allowed_ips: k.allowlist(),
            rate_limits: k.rate_limits(),
            name: k.name,
            description: k.description,
        }),
        _ => None,
    })
}

/// `GET /apps/{id}/keys/new` (`?from=` a retired key: Recreate).
pub async fn key_new_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
    Query(query): Query<NewKeyQuery>,
) -> Result<HttpResponse, AppError> {
    let (app, org) = load_app(&state, &admin, path.into_inner()).await?;
    let app_id = app.id.clone();
    let now = clock::now();
    let count = state
        .read(move |conn| ApiKey::count_in_service(conn, &app_id, now))
        .await?;
    let (expires_in, expires_at) = policy_choice(&org, admin.zone, now);
    let defaults = services::keys::default_rate_limits(&org);
    let mut form = KeyForm {
        active: Some("on".to_owned()),
        expires_in,
        expires_at,
        // Least privilege: a new key starts with nothing ticked.
        permissions: Vec::new(),
        rate_per_second: limit_text(defaults.per_second),
        rate_per_minute: limit_text(defaults.per_minute),
        nonce: random_token::<16>(),
        ..KeyForm::default()
    };
    if let Some(from) = query.from {
        let template = retired_template(&state, &app, from)
            .await?
            .ok_or(AppError::NotFound)?;
        form.name = template.name;
        form.description = template.description;
        form.permissions = template.permissions.strings();
        form.allowed_ips = template.allowed_ips.entries().join("\n");
        form.rate_per_second = limit_text(template.rate_limits.per_second);
        form.rate_per_minute = limit_text(template.rate_limits.per_minute);
    }
    let errors = KeyErrors {
        form: services::keys::check_room(count, org.max_keys_per_app)
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
        zone: admin.zone,
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
    /// The key it replaces, when a roll made it: how long that one works.
    replaces: Option<(ApiKey, Option<When>)>,
}

impl CreatedPage {
    fn token(&self) -> &str {
        self.token.as_ref().map_or("", |t| t.expose_secret())
    }

    fn now(&self) -> Timestamp {
        clock::now()
    }

    /// The grace of the key it replaces, in words.
    fn grace_words(&self) -> String {
        super::key_rows::grace_words(
            self.replaces
                .as_ref()
                .and_then(|(old, _)| old.grace_seconds)
                .unwrap_or(0),
        )
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
    let fields = match parse_fields(&form, &app, &org, admin.zone, None) {
        Ok(fields) => fields,
        Err(errors) => {
            return KeyFormView {
                app,
                key_id: None,
                editing: None,
                form,
                errors,
                max_days: org.key_max_lifetime_days,
                zone: admin.zone,
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
                zone: admin.zone,
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

/// The key's last client addresses.
async fn addresses_of(state: &AppState, key: &ApiKey) -> Result<Vec<KeyAddress>, AppError> {
    let id = key.id.clone();
    Ok(state
        .read(move |conn| KeyAddress::latest(conn, &id))
        .await?)
}

/// A key's own page: what it is, what it may do, where it is used from,
/// and its requests over time.
#[derive(Template)]
#[template(path = "keys/show.html")]
struct KeyPage {
    layout: Layout,
    app: App,
    key: super::key_rows::KeyRow,
    chart: crate::routes::usage::UsageChart,
}

/// `GET /apps/{id}/keys/{key}`.
pub async fn key_show(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(AppId, KeyId)>,
    Query(query): Query<crate::routes::usage::RangeQuery>,
) -> Result<HttpResponse, AppError> {
    let (app_id, key_id) = path.into_inner();
    let (app, key, _) = load_key(&state, &admin, app_id, key_id).await?;
    let range = query.range();
    let now = clock::now();
    let (org, id) = (admin.organization_id.clone(), key.id.clone());
    let related: Vec<KeyId> = [key.rolled_from_id.clone(), key.rolled_to_id.clone()]
        .into_iter()
        .flatten()
        .collect();
    let (usage, addresses, alerts, masks) = state
        .read(move |conn| {
            let usage = crate::routes::usage::UsageChart::read(
                conn,
                &org,
                crate::db::models::usage::Scope::Key(&id),
                range,
                now,
            )?;
            let addresses = KeyAddress::latest(conn, &id)?;
            let alerts = crate::db::models::alert::for_keys(conn, std::slice::from_ref(&id))?;
            let masks: super::key_rows::Masks = ApiKey::find_many(conn, &org, &related)?
                .into_iter()
                .map(|k| (k.id.clone(), k.masked()))
                .chain(
                    RetiredKey::find_many(conn, &org, &related)?
                        .into_iter()
                        .map(|k| (k.id, k.masked)),
                )
                .collect();
            Ok((usage, addresses, alerts, masks))
        })
        .await?;
    let chart = crate::routes::usage::UsageChart::draw(
        &usage,
        range,
        now,
        admin.zone,
        format!("/apps/{}/keys/{}", app.id, key.id),
    );
    let row = super::key_rows::KeyRow::from_key(&key, now, &alerts, &addresses, &masks, admin.zone);
    page::ok(&KeyPage {
        layout: Layout::new(&session, Some(&admin), Nav::Apps, key.name.clone())?,
        app,
        key: row,
        chart,
    })
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
    let addresses = addresses_of(&state, &key).await?;
    KeyFormView {
        form: KeyForm::from_key(&key, admin.zone),
        app,
        editing: Some(EditedKey::of(&key, &addresses, admin.zone)),
        key_id: Some(key.id),
        errors: KeyErrors::default(),
        max_days: org.key_max_lifetime_days,
        zone: admin.zone,
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
    let addresses = addresses_of(&state, &key).await?;
    // An expiry left as it was may have passed meanwhile; only a new one
    // must be ahead (and within the policy).
    let kept = form
        .keeps_expiry(key.expires_at, admin.zone)
        .then_some(key.expires_at);
    let fields = match parse_fields(&form, &app, &org, admin.zone, kept) {
        Ok(fields) => fields,
        Err(errors) => {
            return KeyFormView {
                app,
                editing: Some(EditedKey::of(&key, &addresses, admin.zone)),
                key_id: Some(key.id),
                form,
                errors,
                max_days: org.key_max_lifetime_days,
                zone: admin.zone,
            }
            .render(&session, &admin, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
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
                editing: Some(EditedKey::of(&key, &addresses, admin.zone)),
                key_id: Some(key.id),
                form,
                errors,
                max_days: org.key_max_lifetime_days,
                zone: admin.zone,
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
    let replaces = match key.rolled_from_id.clone() {
        Some(old) => {
            let app_id = app.id.clone();
            state
                .read(move |conn| ApiKey::find(conn, &app_id, &old))
                .await?
                .map(|old| {
                    let until = old.grace_ends_at().map(|t| admin.zone.when(t));
                    (old, until)
                })
        }
        None => None,
    };
    page::ok(&CreatedPage {
        replaces,
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

/// The Roll key form as submitted.
#[derive(Debug, Default, Deserialize)]
pub struct RollForm {
    /// `0`, `1`, `24`, `168` (hours) or `custom` (then `grace_hours`).
    #[serde(default)]
    grace: String,
    #[serde(default)]
    grace_hours: String,
    /// Present: the grace starts at the new key's first use.
    first_use: Option<String>,
}

/// The grace choices of the Roll key page: `(form value, label)`.
const GRACE_CHOICES: [(&str, &str); 4] = [
    ("0", "None: the old key stops now"),
    ("1", "1 hour"),
    ("24", "24 hours"),
    ("168", "7 days"),
];

impl RollForm {
    /// The grace chosen, or why it cannot be read.
    fn grace(&self) -> Result<services::keys::Grace, String> {
        let hours = match self.grace.as_str() {
            "custom" => {
                let max = services::keys::MAX_GRACE_HOURS;
                match self.grace_hours.trim().parse::<i64>() {
                    Ok(h) if (0..=max).contains(&h) => h,
                    _ => {
                        return Err(format!("Enter a whole number of hours from 0 to {max}."));
                    }
                }
            }
            value => match GRACE_CHOICES.iter().find(|(v, _)| *v == value) {
                Some((v, _)) => v.parse::<i64>().unwrap_or(0),
                None => return Err("Choose how long the old key keeps working.".to_owned()),
            },
        };
        Ok(services::keys::Grace {
            duration: time::Duration::hours(hours),
            on_first_use: self.first_use.is_some(),
        })
    }
}

#[derive(Template)]
#[template(path = "keys/roll.html")]
struct RollPage {
    layout: Layout,
    app: App,
    key: ApiKey,
    /// The key's own expiry: the grace never runs past it.
    expires: Option<When>,
    form: RollForm,
    /// Beside the grace choices.
    grace_error: Option<String>,
    /// A refusal of the roll itself.
    form_error: Option<String>,
}

impl RollPage {
    /// The page for `key`, with what was typed and why it was refused.
    fn new(
        session: &Session,
        admin: &FullAdmin,
        app: &App,
        key: &ApiKey,
        form: RollForm,
        grace_error: Option<String>,
        form_error: Option<String>,
    ) -> Result<Self, AppError> {
        Ok(Self {
            layout: Layout::new(session, Some(admin), Nav::Apps, "Roll API key")?,
            // The grace never runs past the key's own expiry (before any roll).
            expires: key.own_expiry().map(|t| admin.zone.when(t)),
            app: app.clone(),
            key: key.clone(),
            form,
            grace_error,
            form_error,
        })
    }

    fn choices(&self) -> Vec<(&'static str, &'static str, bool)> {
        GRACE_CHOICES
            .iter()
            .map(|(v, l)| (*v, *l, self.form.grace == *v))
            .collect()
    }

    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("grace-0", self.form_error.as_deref()),
            ("grace-0", self.grace_error.as_deref()),
        ])
    }

    fn render(self, status: StatusCode) -> Result<HttpResponse, AppError> {
        page::render(status, &self)
    }
}

/// `GET /apps/{id}/keys/{key}/roll` — the grace choice.
pub async fn key_roll_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(AppId, KeyId)>,
) -> Result<HttpResponse, AppError> {
    let (app_id, key_id) = path.into_inner();
    let (app, key, _) = load_key(&state, &admin, app_id, key_id).await?;
    if let Err(e) = services::keys::check_rollable(&key, clock::now()) {
        page::flash(&session, "error", e.to_string());
        return Ok(page::see_other(&format!("/apps/{}", app.id)));
    }
    let form = RollForm {
        grace: "24".to_owned(),
        ..RollForm::default()
    };
    RollPage::new(&session, &admin, &app, &key, form, None, None)?.render(StatusCode::OK)
}

/// `POST /apps/{id}/keys/{key}/roll` — the new key's token waits sealed in
/// the session for the page that shows it once, as a new key's does.
pub async fn key_roll(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(AppId, KeyId)>,
    Form(form): Form<RollForm>,
) -> Result<HttpResponse, AppError> {
    let (app_id, key_id) = path.into_inner();
    let (app, key, _) = load_key(&state, &admin, app_id, key_id).await?;
    let page = |form, grace_error, form_error| {
        RollPage::new(&session, &admin, &app, &key, form, grace_error, form_error)
    };
    let grace = match form.grace() {
        Ok(grace) => grace,
        Err(e) => return page(form, Some(e), None)?.render(StatusCode::UNPROCESSABLE_ENTITY),
    };
    let (org_id, actor, a_id, k_id, digest_key) = (
        admin.organization_id.clone(),
        admin.actor(),
        app.id.clone(),
        key.id.clone(),
        state.digest_key.clone(),
    );
    match state
        .op(move |conn| {
            services::keys::roll(conn, &org_id, &actor, &a_id, &k_id, grace, &digest_key)
        })
        .await
    {
        Ok(rolled) => {
            page::hold_once(
                &session,
                &state.sealing_key,
                &reveal_slot(&rolled.new.id),
                &rolled.token,
            )?;
            Ok(page::see_other(&format!(
                "/apps/{}/keys/{}/created",
                app.id, rolled.new.id
            )))
        }
        Err(e @ (OpError::Conflict { .. } | OpError::KeyLimit(_))) => {
            page(form, None, Some(e.to_string()))?.render(StatusCode::CONFLICT)
        }
        Err(e @ OpError::Invalid { .. }) => {
            page(form, Some(e.to_string()), None)?.render(StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_accepts_datetime_local_and_empty() {
        assert_eq!(parse_local("").unwrap(), None);
        let t = parse_local("2031-02-03T04:05").unwrap().unwrap();
        assert_eq!(Zone::UTC.datetime_local(t), "2031-02-03T04:05");
        assert!(parse_local("2031-02-03T04:05:06").unwrap().is_some());
        for bad in [
            "tomorrow",
            "2031-13-01T00:00",
            "2031-02-03",
            "99999-01-01T00:00",
        ] {
            assert!(parse_local(bad).is_err(), "{bad}");
        }
    }

    fn chose(expires_in: &str, expires_at: &str) -> Result<Option<Timestamp>, String> {
        let form = KeyForm {
            expires_in: expires_in.to_owned(),
            expires_at: expires_at.to_owned(),
            ..KeyForm::default()
        };
        let paris = Zone::named("Europe/Paris").unwrap();
        chosen_expiry(&form, paris, time::macros::datetime!(2027-03-01 12:00))
    }

    #[test]
    fn the_expiry_is_a_preset_never_or_a_date_in_the_organizations_zone() {
        use time::macros::datetime;
        assert_eq!(chose("30", ""), Ok(Some(datetime!(2027-03-31 12:00))));
        assert_eq!(
            chose("365", "2030-01-01T00:00"),
            Ok(Some(datetime!(2028-02-29 12:00)))
        );
        assert_eq!(chose("never", "2030-01-01T00:00"), Ok(None));
        // 09:00 in Paris in winter is 08:00 UTC, in summer 07:00 UTC.
        assert_eq!(
            chose("custom", "2027-03-10T09:00"),
            Ok(Some(datetime!(2027-03-10 08:00)))
        );
        assert_eq!(
            chose("custom", "2027-04-10T09:00"),
            Ok(Some(datetime!(2027-04-10 07:00)))
        );
        // A script that posts the date alone; empty is Never.
        assert_eq!(
            chose("", "2027-04-10T09:00"),
            Ok(Some(datetime!(2027-04-10 07:00)))
        );
        assert_eq!(chose("", ""), Ok(None));
        // The hour the clocks skip is refused with a reason; the repeated
        // hour is its first occurrence.
        let skipped = chose("custom", "2027-03-28T02:30").unwrap_err();
        assert!(
            skipped.contains("does not exist in Europe/Paris"),
            "{skipped}"
        );
        assert_eq!(
            chose("custom", "2027-10-31T02:30"),
            Ok(Some(datetime!(2027-10-31 00:30)))
        );
        assert!(chose("custom", "").unwrap_err().contains("Enter the date"));
        assert!(
            chose("14", "")
                .unwrap_err()
                .contains("Choose one of the expiry options")
        );
    }
}
