//! The Manage Applications wizard: Details → Scopes → Secrets → Generate API Key →
//! Finish. The draft lives in the database from the first Next, so it survives a
//! restart; each POST checks the draft is at that step, so a step posted out of
//! order is refused and a double-submitted one changes nothing twice.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::details::{self, DetailsErrors, DetailsForm, Op, SOURCE_APPS, USER_TYPES};
use super::scopes::{self, FamilyView, ScopesForm};
use crate::db::models::{App, AppStatus, WizardStep};
use crate::domain::AppId;
use crate::domain::key_token::generate_app_secret;
use crate::domain::scopes::PermissionSet;
use crate::domain::{Description, Name};
use crate::error::AppError;
use crate::routes::extract::{CurrentAdmin, FullAdmin};
use crate::routes::form::{Button, Form, RawForm};
use crate::routes::page::{self, Layout, Nav, Problem};
use crate::secrets::random_token;
use crate::services::keys::KeyFields;
use crate::services::{self, OpError};
use crate::state::AppState;

fn wizard_url(app_id: &AppId, step: &str) -> String {
    format!("/apps/{app_id}/wizard/{step}")
}

/// Where a draft should be shown: its current step.
fn current_step_url(app: &App) -> String {
    match (app.status(), app.wizard_step()) {
        (AppStatus::Draft, WizardStep::Scopes) => wizard_url(&app.id, "scopes"),
        (AppStatus::Draft, WizardStep::Secrets) => wizard_url(&app.id, "secrets"),
        (AppStatus::Draft, WizardStep::Key) => wizard_url(&app.id, "key"),
        (AppStatus::Draft, WizardStep::Finish) => wizard_url(&app.id, "finish"),
        _ => format!("/apps/{}", app.id),
    }
}

async fn load_draft(
    state: &AppState,
    admin: &CurrentAdmin,
    app_id: AppId,
) -> Result<App, AppError> {
    let org = admin.organization_id.clone();
    state
        .read(move |conn| App::find(conn, &org, &app_id))
        .await?
        .ok_or(AppError::NotFound)
}

#[derive(Template)]
#[template(path = "apps/wizard_details.html")]
struct DetailsPage {
    layout: Layout,
    step: u8,
    action: String,
    nonce: String,
    app_id: Option<AppId>,
    details: DetailsForm,
    errors: DetailsErrors,
    user_types: [(&'static str, &'static str); 2],
    source_apps: [(&'static str, &'static str); 4],
}

fn details_page(
    session: &Session,
    admin: &FullAdmin,
    app_id: Option<AppId>,
    nonce: String,
    details: DetailsForm,
    errors: DetailsErrors,
) -> Result<DetailsPage, AppError> {
    Ok(DetailsPage {
        layout: Layout::new(session, Some(admin), Nav::Apps, "Add application: Details")?,
        step: 1,
        action: app_id
            .as_ref()
            .map_or_else(|| "/apps/new".to_owned(), |id| wizard_url(id, "details")),
        nonce,
        app_id,
        details,
        errors,
        user_types: USER_TYPES,
        source_apps: SOURCE_APPS,
    })
}

/// `GET /apps/new` — step 1 of a new app.
pub async fn new_app_form(session: Session, admin: FullAdmin) -> Result<HttpResponse, AppError> {
    let page = details_page(
        &session,
        &admin,
        None,
        random_token::<16>(),
        DetailsForm::default(),
        DetailsErrors::default(),
    )?;
    page::ok(&page)
}

/// `POST /apps/new` — step 1's Next: creates the draft.
pub async fn create_draft(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    form: RawForm,
) -> Result<HttpResponse, AppError> {
    let (mut details, Button { op: button, nonce }) =
        (form.parse::<DetailsForm>()?, form.parse::<Button>()?);
    let nonce = if nonce.is_empty() || nonce.len() > 64 {
        random_token::<16>()
    } else {
        nonce
    };
    let mut errors = DetailsErrors::default();
    if details::apply_list_op(&mut details, Op::parse(&button), &mut errors) {
        let status = if errors.any() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        return page::render(
            status,
            &details_page(&session, &admin, None, nonce, details, errors)?,
        );
    }
    let parsed = match details::parse(&details) {
        Ok(parsed) => parsed,
        Err(errors) => {
            return page::render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &details_page(&session, &admin, None, nonce, details, errors)?,
            );
        }
    };
    let (org, actor, n) = (admin.organization_id.clone(), admin.actor(), nonce.clone());
    match state
        .op(move |conn| services::apps::create_draft(conn, &org, &actor, &parsed, &n))
        .await
    {
        Ok(id) => Ok(page::see_other(&wizard_url(&id, "scopes"))),
        Err(OpError::AlreadySubmitted(id)) => {
            Ok(page::see_other(&wizard_url(&AppId::from(id), "scopes")))
        }
        Err(OpError::NameTaken) => {
            let errors = DetailsErrors {
                name: Some(OpError::NameTaken.to_string()),
                ..DetailsErrors::default()
            };
            page::render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &details_page(&session, &admin, None, nonce, details, errors)?,
            )
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /apps/{id}/wizard` — continue a draft where it was left.
pub async fn resume(
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
) -> Result<HttpResponse, AppError> {
    let app = load_draft(&state, &admin, path.into_inner()).await?;
    Ok(page::see_other(&current_step_url(&app)))
}

fn editable_draft(app: &App) -> bool {
    app.status() == AppStatus::Draft && app.wizard_step() <= WizardStep::Key
}

/// `GET /apps/{id}/wizard/details` — back to step 1, with what was saved.
pub async fn draft_details_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
) -> Result<HttpResponse, AppError> {
    let app = load_draft(&state, &admin, path.into_inner()).await?;
    if !editable_draft(&app) {
        return Ok(page::see_other(&current_step_url(&app)));
    }
    let page = details_page(
        &session,
        &admin,
        Some(app.id.clone()),
        String::new(),
        DetailsForm::from_app(&app),
        DetailsErrors::default(),
    )?;
    page::ok(&page)
}

/// `POST /apps/{id}/wizard/details` — step 1 again: saves, on to the scopes.
pub async fn update_draft_details(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
    form: RawForm,
) -> Result<HttpResponse, AppError> {
    let app = load_draft(&state, &admin, path.into_inner()).await?;
    if !editable_draft(&app) {
        return Err(AppError::Conflict(
            "This app's setup is past the Details step.".to_owned(),
        ));
    }
    let (mut details, button) = (form.parse::<DetailsForm>()?, form.parse::<Button>()?.op);
    let mut errors = DetailsErrors::default();
    let id = Some(app.id.clone());
    if details::apply_list_op(&mut details, Op::parse(&button), &mut errors) {
        let status = if errors.any() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        };
        return page::render(
            status,
            &details_page(&session, &admin, id, String::new(), details, errors)?,
        );
    }
    let parsed = match details::parse(&details) {
        Ok(parsed) => parsed,
        Err(errors) => {
            return page::render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &details_page(&session, &admin, id, String::new(), details, errors)?,
            );
        }
    };
    let (org, actor, app_id) = (admin.organization_id.clone(), admin.actor(), app.id.clone());
    match state
        .op(move |conn| services::apps::update_details(conn, &org, &actor, &app_id, &parsed))
        .await
    {
        Ok(()) => Ok(page::see_other(&wizard_url(&app.id, "scopes"))),
        Err(OpError::NameTaken) => {
            let errors = DetailsErrors {
                name: Some(OpError::NameTaken.to_string()),
                ..DetailsErrors::default()
            };
            page::render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &details_page(&session, &admin, id, String::new(), details, errors)?,
            )
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "apps/wizard_scopes.html")]
struct ScopesPage {
    layout: Layout,
    step: u8,
    app: App,
    families: Vec<FamilyView>,
    scopes_error: Option<String>,
}

impl ScopesPage {
    fn problems(&self) -> Vec<Problem> {
        Problem::list([("scopes", self.scopes_error.as_deref())])
    }
}

/// `GET /apps/{id}/wizard/scopes` — step 2.
pub async fn scopes_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
) -> Result<HttpResponse, AppError> {
    let app = load_draft(&state, &admin, path.into_inner()).await?;
    if !editable_draft(&app) {
        return Ok(page::see_other(&current_step_url(&app)));
    }
    page::ok(&ScopesPage {
        layout: Layout::new(&session, Some(&admin), Nav::Apps, "Add application: Scopes")?,
        step: 2,
        families: scopes::families(&app.apikey_permissions(), &app.jwt_permissions()),
        app,
        scopes_error: None,
    })
}

/// `POST /apps/{id}/wizard/scopes` — step 2's Next.
pub async fn save_scopes(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
    Form(form): Form<ScopesForm>,
) -> Result<HttpResponse, AppError> {
    let app = load_draft(&state, &admin, path.into_inner()).await?;
    if form.op == "back" {
        // What is ticked is kept when it could be saved; with nothing
        // ticked, what was saved before stays.
        if let Ok((apikey, jwt)) = form.parse() {
            let (org, actor, app_id) =
                (admin.organization_id.clone(), admin.actor(), app.id.clone());
            state
                .op(move |conn| {
                    services::apps::wizard_scopes_kept(conn, &org, &actor, &app_id, &apikey, &jwt)
                })
                .await?;
        }
        return Ok(page::see_other(&wizard_url(&app.id, "details")));
    }
    let (apikey, jwt) = match form.parse() {
        Ok(sets) => sets,
        Err(message) => {
            let (apikey, jwt) = form.checked();
            return page::render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &ScopesPage {
                    layout: Layout::new(
                        &session,
                        Some(&admin),
                        Nav::Apps,
                        "Add application: Scopes",
                    )?,
                    step: 2,
                    families: scopes::families(&apikey, &jwt),
                    app,
                    scopes_error: Some(message),
                },
            );
        }
    };
    let (org, actor, app_id) = (admin.organization_id.clone(), admin.actor(), app.id.clone());
    state
        .op(move |conn| services::apps::wizard_scopes(conn, &org, &actor, &app_id, &apikey, &jwt))
        .await?;
    secret_due(&session, &app.id)?;
    Ok(page::see_other(&wizard_url(&app.id, "secrets")))
}

#[derive(Template)]
#[template(path = "apps/wizard_secrets.html")]
struct SecretsPage {
    layout: Layout,
    step: u8,
    app: App,
    /// The new secret, shown this once; `None` when the page was opened again.
    secret: Option<SecretString>,
}

impl SecretsPage {
    fn secret_text(&self) -> &str {
        self.secret.as_ref().map_or("", |s| s.expose_secret())
    }
}

/// The session key that lets the next render of an app's Secrets step make a
/// new secret: set only by a POST (Next on the Scopes step, Back or "Generate a
/// new Secret"), so a GET — a reload, a link from another site — changes nothing.
const SECRET_DUE: &str = "wizard_secret_due";

/// `GET /apps/{id}/wizard/secrets` — step 3. Entered by a POST, it makes a new
/// secret and shows it this once (the previous one stops working; only the
/// hash is stored). Opened otherwise, it offers to make a new one.
pub async fn secrets_page(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
) -> Result<HttpResponse, AppError> {
    let app = load_draft(&state, &admin, path.into_inner()).await?;
    if app.status() != AppStatus::Draft
        || !matches!(app.wizard_step(), WizardStep::Secrets | WizardStep::Key)
    {
        return Ok(page::see_other(&current_step_url(&app)));
    }
    let due = session.get::<AppId>(SECRET_DUE).ok().flatten().as_ref() == Some(&app.id);
    let secret = if due {
        session.remove(SECRET_DUE);
        let secret = generate_app_secret();
        let hash = state.hasher.hash(secret.expose_secret()).await?;
        let (org, actor, app_id) = (admin.organization_id.clone(), admin.actor(), app.id.clone());
        state
            .op(move |conn| services::apps::wizard_new_secret(conn, &org, &actor, &app_id, &hash))
            .await?;
        Some(secret)
    } else {
        None
    };
    page::ok(&SecretsPage {
        layout: Layout::new(
            &session,
            Some(&admin),
            Nav::Apps,
            "Add application: Secrets",
        )?,
        step: 3,
        app,
        secret,
    })
}

/// Lets the next render of the app's Secrets step make a new secret.
fn secret_due(session: &Session, app_id: &AppId) -> Result<(), AppError> {
    session
        .insert(SECRET_DUE, app_id)
        .map_err(AppError::internal)
}

#[derive(Template)]
#[template(path = "apps/wizard_secret_back.html")]
struct SecretBackPage {
    layout: Layout,
    app: App,
}

/// `GET /apps/{id}/wizard/secrets/new` — the Key step's Back asks first:
/// going back makes a new Secret, and the one noted stops working.
pub async fn secrets_restart_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
) -> Result<HttpResponse, AppError> {
    let app = load_draft(&state, &admin, path.into_inner()).await?;
    page::ok(&SecretBackPage {
        layout: Layout::new(
            &session,
            Some(&admin),
            Nav::Apps,
            "Add application: make a new Secret?",
        )?,
        app,
    })
}

/// `POST /apps/{id}/wizard/secrets/new` — back to step 3 with a new secret (the
/// Key step's Back, once confirmed, or "Generate a new Secret").
pub async fn secrets_restart(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
) -> Result<HttpResponse, AppError> {
    let app = load_draft(&state, &admin, path.into_inner()).await?;
    if app.status() != AppStatus::Draft
        || !matches!(app.wizard_step(), WizardStep::Secrets | WizardStep::Key)
    {
        return Err(AppError::Conflict(
            "Choose the app's scopes first.".to_owned(),
        ));
    }
    secret_due(&session, &app.id)?;
    Ok(page::see_other(&wizard_url(&app.id, "secrets")))
}

/// `POST /apps/{id}/wizard/secrets` — step 3's Next.
pub async fn secrets_noted(
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
) -> Result<HttpResponse, AppError> {
    let app_id = path.into_inner();
    let (org, id) = (admin.organization_id.clone(), app_id.clone());
    state
        .op(move |conn| services::apps::wizard_secrets_noted(conn, &org, &id))
        .await?;
    Ok(page::see_other(&wizard_url(&app_id, "key")))
}

#[derive(Template)]
#[template(path = "apps/wizard_key.html")]
struct KeyStepPage {
    layout: Layout,
    step: u8,
    app: App,
    key_name: String,
    name_error: Option<String>,
    can_have_keys: bool,
    revealed: Option<SecretString>,
}

impl KeyStepPage {
    fn problems(&self) -> Vec<Problem> {
        Problem::list([("key-name", self.name_error.as_deref())])
    }
}

impl KeyStepPage {
    fn token(&self) -> &str {
        self.revealed.as_ref().map_or("", |t| t.expose_secret())
    }
}

/// `GET /apps/{id}/wizard/key` — step 4.
pub async fn key_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
) -> Result<HttpResponse, AppError> {
    let app = load_draft(&state, &admin, path.into_inner()).await?;
    if app.status() != AppStatus::Draft || app.wizard_step() != WizardStep::Key {
        return Ok(page::see_other(&current_step_url(&app)));
    }
    page::ok(&KeyStepPage {
        layout: Layout::new(
            &session,
            Some(&admin),
            Nav::Apps,
            "Add application: Generate API Key",
        )?,
        step: 4,
        key_name: format!("{} key", app.name)
            .chars()
            .take(Name::MAX_CHARS)
            .collect(),
        can_have_keys: !app.apikey_permissions().is_empty(),
        app,
        name_error: None,
        revealed: None,
    })
}

/// The Generate API Key form.
#[derive(Debug, Deserialize)]
pub struct KeyStepForm {
    #[serde(default)]
    name: String,
}

/// `POST /apps/{id}/wizard/key` — generates the app's first key (with all of its
/// APIKEY permissions); the Finish step it redirects to shows it once.
pub async fn generate_key(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
    Form(form): Form<KeyStepForm>,
) -> Result<HttpResponse, AppError> {
    let app = load_draft(&state, &admin, path.into_inner()).await?;
    if app.status() == AppStatus::Draft && app.wizard_step() == WizardStep::Finish {
        // Submitted twice: the key exists. If its one view has not happened
        // yet (the browser dropped the first answer), the Finish step shows
        // it; else it is never shown again.
        if page::holds(&session, &reveal_slot(&app.id)) {
            return Ok(page::see_other(&wizard_url(&app.id, "finish")));
        }
        page::flash(
            &session,
            "info",
            "The API key was generated already; it is not shown again.",
        );
        return Ok(page::see_other(&wizard_url(&app.id, "finish")));
    }
    let permissions: PermissionSet = app.apikey_permissions();
    let (org, actor, app_id) = (admin.organization_id.clone(), admin.actor(), app.id.clone());
    if permissions.is_empty() {
        // A tokens-only app: no key to make.
        state
            .op(move |conn| services::apps::wizard_key_done(conn, &org, &app_id).map(|_| ()))
            .await?;
        return Ok(page::see_other(&wizard_url(&app.id, "finish")));
    }
    let name = match Name::parse(&form.name) {
        Ok(name) => name,
        Err(e) => {
            let page = KeyStepPage {
                layout: Layout::new(
                    &session,
                    Some(&admin),
                    Nav::Apps,
                    "Add application: Generate API Key",
                )?,
                step: 4,
                key_name: form.name.chars().take(200).collect(),
                can_have_keys: true,
                app,
                name_error: Some(e.to_string()),
                revealed: None,
            };
            return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let fields = KeyFields {
        name,
        description: Description::default(),
        expires_at: None,
        active: true,
        permissions,
        allowed_ips: crate::domain::IpAllowlist::default(),
        rate_limits: crate::domain::RateLimits::default(),
    };
    let digest_key = state.digest_key.clone();
    let token = state
        .op(move |conn| {
            services::apps::wizard_key_done(conn, &org, &app_id)?;
            // The first key follows the key policy's default (or maximum)
            // lifetime and its default rate limits.
            let policy = crate::db::models::Organization::find_by_id(conn, &org)?;
            let fields = KeyFields {
                expires_at: services::keys::default_expiry(&policy, crate::clock::now()),
                rate_limits: services::keys::default_rate_limits(&policy),
                ..fields
            };
            services::keys::create(conn, &org, &actor, &app_id, &fields, None, &digest_key)
                .map(|(_, token)| token)
        })
        .await?;
    // Post/redirect/get: the token waits sealed in the session for the one
    // view of the Finish step that shows it.
    page::hold_once(&session, &state.sealing_key, &reveal_slot(&app.id), &token)?;
    Ok(page::see_other(&wizard_url(&app.id, "finish")))
}

/// Where the wizard's first key waits for the page that shows it.
fn reveal_slot(app_id: &AppId) -> String {
    format!("reveal-first-key:{app_id}")
}

#[derive(Template)]
#[template(path = "apps/wizard_finish.html")]
struct FinishPage {
    layout: Layout,
    step: u8,
    app: App,
}

/// `GET /apps/{id}/wizard/finish` — step 5, for a draft left before Finish.
pub async fn finish_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
) -> Result<HttpResponse, AppError> {
    let app = load_draft(&state, &admin, path.into_inner()).await?;
    if app.status() != AppStatus::Draft || app.wizard_step() != WizardStep::Finish {
        return Ok(page::see_other(&current_step_url(&app)));
    }
    // Right after Generate API Key: the key, this once.
    if let Some(token) = page::take_once(&session, &state.sealing_key, &reveal_slot(&app.id)) {
        return page::ok(&KeyStepPage {
            layout: Layout::new(
                &session,
                Some(&admin),
                Nav::Apps,
                "Add application: Generate API Key",
            )?,
            step: 4,
            key_name: String::new(),
            can_have_keys: true,
            app,
            name_error: None,
            revealed: Some(token),
        });
    }
    page::ok(&FinishPage {
        layout: Layout::new(&session, Some(&admin), Nav::Apps, "Add application: Finish")?,
        step: 5,
        app,
    })
}

/// `POST /apps/{id}/wizard/finish` — the app becomes active; on to its page.
pub async fn finish(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<AppId>,
) -> Result<HttpResponse, AppError> {
    let app_id = path.into_inner();
    let (org, actor, id) = (admin.organization_id.clone(), admin.actor(), app_id.clone());
    state
        .op(move |conn| services::apps::wizard_finish(conn, &org, &actor, &id))
        .await?;
    page::flash(&session, "success", "The application is active.");
    Ok(page::see_other(&format!("/apps/{app_id}")))
}
