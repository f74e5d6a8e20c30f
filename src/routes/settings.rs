//! Settings: the organization, its features, the key policy, the Expiry of API keys
//! alert, and a test email. Everyone signed in reads them; full-access admins change
//! them, each change audited.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::db::models::platform::Employee;
use crate::db::models::{Organization, alert};
use crate::domain::RateLimits;
use crate::domain::restrictions::RateField;
use crate::domain::settings::KeyPolicy;
use crate::domain::settings::{Thresholds, parse_lifetime, parse_time_zone};
use crate::domain::{EmployeeId, Name};
use crate::error::AppError;
use crate::routes::extract::{CurrentAdmin, FullAdmin};
use crate::routes::form::Form;
use crate::routes::page::{self, Layout, Nav, Problem};
use crate::services::{self, OpError};
use crate::state::AppState;

/// What the forms show: the stored values, or what was just typed.
#[derive(Debug, Default, Clone)]
struct Values {
    name: String,
    time_zone: String,
    default_days: String,
    max_days: String,
    rate_per_second: String,
    rate_per_minute: String,
    retired_days: String,
    alerts_enabled: bool,
    thresholds: String,
    recipients: Vec<String>,
    access_minutes: String,
    refresh_days: String,
    idle_days: String,
    grace_seconds: String,
    usage_minutes_hours: String,
    usage_hours_days: String,
    usage_days_days: String,
    log_sample_percent: String,
    log_retention_days: String,
    log_max_rows: String,
}

impl Values {
    fn from_org(org: &Organization, recipients: &[EmployeeId]) -> Self {
        Self {
            name: org.name.clone(),
            time_zone: org.time_zone.clone(),
            default_days: org
                .key_default_lifetime_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
            max_days: org
                .key_max_lifetime_days
                .map(|d| d.to_string())
                .unwrap_or_default(),
            rate_per_second: org
                .key_default_rate_per_second
                .map(|d| d.to_string())
                .unwrap_or_default(),
            rate_per_minute: org
                .key_default_rate_per_minute
                .map(|d| d.to_string())
                .unwrap_or_default(),
            retired_days: org.retired_keys_days.to_string(),
            alerts_enabled: org.alerts_enabled,
            thresholds: Thresholds::from_stored(&org.alert_thresholds).to_string(),
            recipients: recipients.iter().map(ToString::to_string).collect(),
            access_minutes: org.access_token_minutes.to_string(),
            refresh_days: org.refresh_token_days.to_string(),
            idle_days: org.refresh_idle_days.to_string(),
            grace_seconds: org.refresh_grace_seconds.to_string(),
            usage_minutes_hours: org.usage_minutes_hours.to_string(),
            usage_hours_days: org.usage_hours_days.to_string(),
            usage_days_days: org.usage_days_days.to_string(),
            log_sample_percent: org.usage_settings().log_sample_percent(),
            log_retention_days: org.log_retention_days.to_string(),
            log_max_rows: org.log_max_rows.to_string(),
        }
    }

    fn is_recipient(&self, id: &EmployeeId) -> bool {
        self.recipients.iter().any(|r| id == r.as_str())
    }
}

/// Messages beside the fields.
#[derive(Debug, Default)]
struct Errors {
    name: Option<String>,
    time_zone: Option<String>,
    default_days: Option<String>,
    max_days: Option<String>,
    rate_per_second: Option<String>,
    rate_per_minute: Option<String>,
    retired_days: Option<String>,
    thresholds: Option<String>,
    recipients: Option<String>,
    access_minutes: Option<String>,
    refresh_days: Option<String>,
    idle_days: Option<String>,
    grace_seconds: Option<String>,
    usage_minutes_hours: Option<String>,
    usage_hours_days: Option<String>,
    usage_days_days: Option<String>,
    log_sample_percent: Option<String>,
    log_retention_days: Option<String>,
    log_max_rows: Option<String>,
}

impl Errors {
    fn any(&self) -> bool {
        [
            &self.name,
            &self.time_zone,
            &self.default_days,
            &self.max_days,
            &self.rate_per_second,
            &self.rate_per_minute,
            &self.retired_days,
            &self.thresholds,
            &self.recipients,
            &self.access_minutes,
            &self.refresh_days,
            &self.idle_days,
            &self.grace_seconds,
            &self.usage_minutes_hours,
            &self.usage_hours_days,
            &self.usage_days_days,
            &self.log_sample_percent,
            &self.log_retention_days,
            &self.log_max_rows,
        ]
        .iter()
        .any(|e| e.is_some())
    }

    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("org-name", self.name.as_deref()),
            ("time_zone", self.time_zone.as_deref()),
            ("default_days", self.default_days.as_deref()),
            ("max_days", self.max_days.as_deref()),
            ("rate_per_second", self.rate_per_second.as_deref()),
            ("rate_per_minute", self.rate_per_minute.as_deref()),
            ("retired_days", self.retired_days.as_deref()),
            ("thresholds", self.thresholds.as_deref()),
            ("recipients", self.recipients.as_deref()),
            ("access_minutes", self.access_minutes.as_deref()),
            ("refresh_days", self.refresh_days.as_deref()),
            ("idle_days", self.idle_days.as_deref()),
            ("grace_seconds", self.grace_seconds.as_deref()),
            ("usage_minutes_hours", self.usage_minutes_hours.as_deref()),
            ("usage_hours_days", self.usage_hours_days.as_deref()),
            ("usage_days_days", self.usage_days_days.as_deref()),
            ("log_sample_percent", self.log_sample_percent.as_deref()),
            ("log_retention_days", self.log_retention_days.as_deref()),
            ("log_max_rows", self.log_max_rows.as_deref()),
        ])
    }
}

#[derive(Template)]
#[template(path = "settings/index.html")]
struct SettingsPage {
    layout: Layout,
    org: Organization,
    values: Values,
    errors: Errors,
    staff: Vec<Employee>,
    mail: String,
    signing_key: Option<crate::db::models::token::SigningKey>,
    /// The time zone picker's choices, by region.
    zones: &'static [(&'static str, Vec<&'static str>)],
    /// The organization's time zone, for the times the page shows.
    zone: crate::clock::Zone,
}

impl SettingsPage {
    /// Whether the picker lists the zone in the form (a legacy alias such as
    /// `US/Eastern` is kept as an option of its own, not lost).
    fn zone_listed(&self) -> bool {
        self.zones
            .iter()
            .any(|(_, zones)| zones.contains(&self.values.time_zone.as_str()))
    }
}

/// The settings page. `typed` lays what was typed into a refused form over the
/// saved values; with errors beside its fields the answer is 422.
async fn render(
    session: &Session,
    state: &AppState,
    admin: &CurrentAdmin,
    typed: impl FnOnce(Values) -> Values,
    errors: Errors,
) -> Result<HttpResponse, AppError> {
    let org_id = admin.organization_id.clone();
    let (org, staff, recipients, signing_key) = state
        .read(move |conn| {
            Ok((
                Organization::find_by_id(conn, &org_id)?,
                Employee::list_all(conn, &org_id)?,
                alert::recipient_ids(conn, &org_id)?,
                crate::db::models::token::SigningKey::active(conn, &org_id)?,
            ))
        })
        .await?;
    let status = if errors.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = SettingsPage {
        layout: Layout::new(session, Some(admin), Nav::Settings, "Settings")?,
        values: typed(Values::from_org(&org, &recipients)),
        org,
        errors,
        staff,
        mail: state.mailer.description().to_owned(),
        signing_key,
        zones: crate::clock::Zone::choices(),
        zone: admin.zone,
    };
    page::render(status, &page)
}

/// `GET /settings`.
pub async fn settings_index(
    session: Session,
    state: web::Data<AppState>,
    admin: CurrentAdmin,
) -> Result<HttpResponse, AppError> {
    render(&session, &state, &admin, |saved| saved, Errors::default()).await
}

fn done(session: &Session, message: &str) -> HttpResponse {
    page::flash(session, "success", message);
    page::see_other("/settings")
}

/// The admin security form.
#[derive(Debug, Deserialize)]
pub struct SecurityForm {
    require_two_factor: Option<String>,
}

/// `POST /settings/security` — whether every admin must sign in with a
/// second factor.
pub async fn security_update(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    Form(form): Form<SecurityForm>,
) -> Result<HttpResponse, AppError> {
    let on = form.require_two_factor.is_some();
    let (org, actor) = (admin.organization_id.clone(), admin.actor());
    state
        .op(move |conn| {
            services::two_factor::set_required(conn, &org, on, &actor, crate::clock::now())
        })
        .await?;
    Ok(done(
        &session,
        if on {
            "Two-factor sign-in is required: admins without a second factor must add one before anything else."
        } else {
            "Two-factor sign-in is optional."
        },
    ))
}

/// The organization form.
#[derive(Debug, Deserialize)]
pub struct OrganizationForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    time_zone: String,
}

/// `POST /settings/organization` — name and time zone.
pub async fn organization_update(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    Form(form): Form<OrganizationForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = Errors::default();
    let name = Name::parse(&form.name)
        .map_err(|e| errors.name = Some(e.to_string()))
        .ok();
    let zone = parse_time_zone(&form.time_zone)
        .map_err(|e| errors.time_zone = Some(e.to_string()))
        .ok();
    let (Some(name), Some(zone)) = (name, zone) else {
        let typed = |saved| Values {
            name: form.name,
            time_zone: form.time_zone,
            ..saved
        };
        return render(&session, &state, &admin, typed, errors).await;
    };
    let (org, actor) = (admin.organization_id.clone(), admin.actor());
    state
        .op(move |conn| services::organization::update_profile(conn, &org, &actor, &name, &zone))
        .await?;
    Ok(done(&session, "The organization was saved."))
}

/// The usage and request log form.
#[derive(Debug, Deserialize)]
pub struct UsageForm {
    #[serde(default)]
    usage_minutes_hours: String,
    #[serde(default)]
    usage_hours_days: String,
    #[serde(default)]
    usage_days_days: String,
    #[serde(default)]
    log_sample_percent: String,
    #[serde(default)]
    log_retention_days: String,
    #[serde(default)]
    log_max_rows: String,
}

/// `POST /settings/usage`: how long usage and the request log are kept, and
/// how much of the allowed traffic the log samples.
pub async fn usage_update(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    Form(form): Form<UsageForm>,
) -> Result<HttpResponse, AppError> {
    let parsed = crate::domain::usage::UsageSettings::parse(
        &form.usage_minutes_hours,
        &form.usage_hours_days,
        &form.usage_days_days,
        &form.log_sample_percent,
        &form.log_retention_days,
        &form.log_max_rows,
    );
    let settings = match parsed {
        Ok(settings) => settings,
        Err(problems) => {
            let mut errors = Errors::default();
            for (field, e) in problems {
                let slot = match field {
                    "usage_minutes_hours" => &mut errors.usage_minutes_hours,
                    "usage_hours_days" => &mut errors.usage_hours_days,
                    "usage_days_days" => &mut errors.usage_days_days,
                    "log_sample_percent" => &mut errors.log_sample_percent,
                    "log_retention_days" => &mut errors.log_retention_days,
                    _ => &mut errors.log_max_rows,
                };
                *slot = Some(e.to_string());
            }
            let typed = |values: Values| Values {
                usage_minutes_hours: form.usage_minutes_hours,
                usage_hours_days: form.usage_hours_days,
                usage_days_days: form.usage_days_days,
                log_sample_percent: form.log_sample_percent,
                log_retention_days: form.log_retention_days,
                log_max_rows: form.log_max_rows,
                ..values
            };
            return render(&session, &state, &admin, typed, errors).await;
        }
    };
    let (org, actor) = (admin.organization_id.clone(), admin.actor());
    state
        .op(move |conn| services::usage::update_settings(conn, &org, &actor, &settings))
        .await?;
    Ok(done(
        &session,
        "The usage and request log settings were saved.",
    ))
}

/// The key policy form.
#[derive(Debug, Deserialize)]
pub struct PolicyForm {
    #[serde(default)]
    default_days: String,
    #[serde(default)]
    max_days: String,
    #[serde(default)]
    rate_per_second: String,
    #[serde(default)]
    rate_per_minute: String,
    #[serde(default)]
    retired_days: String,
}

/// `POST /settings/policy` — default and maximum key lifetimes, the rate
/// limits new keys start with, how long retired keys stay listed.
pub async fn policy_update(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    Form(form): Form<PolicyForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = Errors::default();
    let default_days =
        parse_lifetime(&form.default_days).map_err(|e| errors.default_days = Some(e.to_string()));
    let max_days =
        parse_lifetime(&form.max_days).map_err(|e| errors.max_days = Some(e.to_string()));
    let rate_limits =
        RateLimits::parse(&form.rate_per_second, &form.rate_per_minute).map_err(|(field, e)| {
            match field {
                RateField::PerSecond => errors.rate_per_second = Some(e.to_string()),
                RateField::PerMinute => errors.rate_per_minute = Some(e.to_string()),
            }
        });
    // Empty (a script that predates the field) keeps the current retention.
    let retired_days = match form.retired_days.trim() {
        "" => Ok(None),
        raw => crate::domain::settings::parse_bounded(raw, 1..=3650, "days")
            .map(Some)
            .map_err(|e| errors.retired_days = Some(e.to_string())),
    };
    let typed = |values: Values| Values {
        default_days: form.default_days.clone(),
        max_days: form.max_days.clone(),
        rate_per_second: form.rate_per_second.clone(),
        rate_per_minute: form.rate_per_minute.clone(),
        retired_days: form.retired_days.clone(),
        ..values
    };
    let (Ok(default_days), Ok(max_days), Ok(rate_limits), Ok(retired_days)) =
        (default_days, max_days, rate_limits, retired_days)
    else {
        return render(&session, &state, &admin, typed, errors).await;
    };
    let policy = KeyPolicy {
        default_days,
        max_days,
        rate_limits,
        retired_days,
    };
    let (org, actor) = (admin.organization_id.clone(), admin.actor());
    match state
        .op(move |conn| services::organization::update_policy(conn, &org, &actor, &policy))
        .await
    {
        Ok(()) => Ok(done(&session, "The key policy was saved.")),
        Err(e @ OpError::Invalid { .. }) => {
            let message = e.to_string();
            let errors = Errors {
                default_days: Some(message),
                ..Errors::default()
            };
            render(&session, &state, &admin, typed, errors).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The alert form.
#[derive(Debug, Deserialize)]
pub struct AlertsForm {
    alerts_enabled: Option<String>,
    #[serde(default)]
    thresholds: String,
    #[serde(default)]
    recipients: Vec<String>,
}

/// `POST /settings/alerts` — the Expiry of API keys alert.
pub async fn alerts_update(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    Form(form): Form<AlertsForm>,
) -> Result<HttpResponse, AppError> {
    let enabled = form.alerts_enabled.is_some();
    let typed = |values: Values| Values {
        alerts_enabled: enabled,
        thresholds: form.thresholds.clone(),
        recipients: form.recipients.clone(),
        ..values
    };
    let thresholds = match Thresholds::parse(&form.thresholds) {
        Ok(t) => t,
        Err(e) => {
            let errors = Errors {
                thresholds: Some(e.to_string()),
                ..Errors::default()
            };
            return render(&session, &state, &admin, typed, errors).await;
        }
    };
    let (org, actor, recipients) = (
        admin.organization_id.clone(),
        admin.actor(),
        form.recipients
            .iter()
            .map(|r| EmployeeId::from(r.as_str()))
            .collect::<Vec<_>>(),
    );
    match state
        .op(move |conn| {
            services::organization::update_alerts(
                conn,
                &org,
                &actor,
                enabled,
                &thresholds,
                &recipients,
            )
        })
        .await
    {
        Ok(()) => Ok(done(&session, "The Expiry of API keys alert was saved.")),
        Err(e @ OpError::Invalid { .. }) => {
            let message = e.to_string();
            let errors = Errors {
                recipients: Some(message),
                ..Errors::default()
            };
            render(&session, &state, &admin, typed, errors).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /settings/test-email` — sends a test email to the signed-in admin.
pub async fn test_email(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
) -> Result<HttpResponse, AppError> {
    let link = state.settings.url_for("/settings");
    let email = crate::email::messages::test_email(&admin.email, &admin.email, &link)?;
    match state.mailer.send(&email).await {
        Ok(()) => {
            page::flash(
                &session,
                "success",
                format!(
                    "A test email was sent to {} through the {}.",
                    admin.email,
                    state.mailer.description()
                ),
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "test email failed");
            page::flash(
                &session,
                "error",
                format!("The test email could not be sent: {e}"),
            );
        }
    }
    Ok(page::see_other("/settings"))
}

/// `POST /settings/signing-key` — full-access admins replace the key that signs
/// access tokens; the old one stays published until its tokens have expired.
pub async fn signing_key_rotate(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
) -> Result<HttpResponse, AppError> {
    let (org, actor, sealing) = (
        admin.organization_id.clone(),
        admin.actor(),
        state.sealing_key.clone(),
    );
    let key = state
        .op(move |conn| services::signing_keys::rotate(conn, &org, &actor, &sealing))
        .await?;
    Ok(done(
        &session,
        &format!(
            "A new signing key ({}) signs access tokens from now on. The previous one stays published until its tokens have expired.",
            key.kid
        ),
    ))
}

/// The token lifetimes form.
#[derive(Debug, Deserialize)]
pub struct TokensForm {
    #[serde(default)]
    access_minutes: String,
    #[serde(default)]
    refresh_days: String,
    #[serde(default)]
    idle_days: String,
    #[serde(default)]
    grace_seconds: String,
}

/// `POST /settings/tokens` — how long access and refresh tokens live.
pub async fn tokens_update(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    Form(form): Form<TokensForm>,
) -> Result<HttpResponse, AppError> {
    let parsed = crate::domain::settings::TokenLifetimes::parse(
        &form.access_minutes,
        &form.refresh_days,
        &form.idle_days,
        &form.grace_seconds,
    );
    let lifetimes = match parsed {
        Ok(l) => l,
        Err([access, refresh, idle, grace]) => {
            let text = |e: Option<crate::domain::Invalid>| e.map(|e| e.to_string());
            let errors = Errors {
                access_minutes: text(access),
                refresh_days: text(refresh),
                idle_days: text(idle),
                grace_seconds: text(grace),
                ..Errors::default()
            };
            let typed = |values: Values| Values {
                access_minutes: form.access_minutes.clone(),
                refresh_days: form.refresh_days.clone(),
                idle_days: form.idle_days.clone(),
                grace_seconds: form.grace_seconds.clone(),
                ..values
            };
            return render(&session, &state, &admin, typed, errors).await;
        }
    };
    let (org, actor) = (admin.organization_id.clone(), admin.actor());
    let changed = state
        .op(move |conn| services::signing_keys::update_lifetimes(conn, &org, &actor, &lifetimes))
        .await?;
    Ok(done(
        &session,
        if changed {
            "The token lifetimes were saved. They apply to tokens issued from now on."
        } else {
            "Nothing changed."
        },
    ))
}
