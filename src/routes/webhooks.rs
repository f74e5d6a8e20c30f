//! Settings → Webhooks (full-access admins): the endpoints that are told
//! about key and app events, their signing secrets (shown once), and each
//! endpoint's recent deliveries with **Resend** and **Send test event**.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::clock::{self, When};
use crate::db::models::webhook::{WebhookDelivery, WebhookEndpoint};
use crate::domain::webhook::{EventSet, EventType, WebhookUrl};
use crate::domain::{Description, EndpointId};
use crate::error::AppError;
use crate::routes::extract::FullAdmin;
use crate::routes::form::Form;
use crate::routes::page::{self, Layout, Nav, Problem};
use crate::services::OpError;
use crate::services::webhooks::{self as service, EndpointFields};
use crate::state::AppState;

/// How many deliveries an endpoint's page lists.
const RECENT_DELIVERIES: i64 = 50;

/// The session slot (and sealing context) where a new signing secret waits
/// for the one page view that shows it.
fn secret_slot(id: &EndpointId) -> String {
    format!("webhook-secret:{id}")
}

fn endpoint_path(id: &EndpointId) -> String {
    format!("/settings/webhooks/{id}")
}

/// An endpoint as the list shows it.
#[derive(Debug)]
struct EndpointRow {
    endpoint: WebhookEndpoint,
    events: usize,
}

#[derive(Template)]
#[template(path = "webhooks/index.html")]
struct IndexPage {
    layout: Layout,
    endpoints: Vec<EndpointRow>,
    max: usize,
}

/// `GET /settings/webhooks`.
pub async fn webhooks_index(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
) -> Result<HttpResponse, AppError> {
    let org = admin.organization_id.clone();
    let endpoints = state
        .read(move |conn| WebhookEndpoint::list(conn, &org))
        .await?
        .into_iter()
        .map(|endpoint| EndpointRow {
            events: EventSet::from_stored(&endpoint.events).iter().count(),
            endpoint,
        })
        .collect();
    page::ok(&IndexPage {
        layout: Layout::new(&session, Some(&admin), Nav::Settings, "Webhooks")?,
        endpoints,
        max: service::MAX_ENDPOINTS,
    })
}

/// The endpoint form.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct EndpointForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    events: Vec<String>,
    active: Option<String>,
}

impl EndpointForm {
    fn from_endpoint(endpoint: &WebhookEndpoint) -> Self {
        Self {
            url: endpoint.url.clone(),
            description: endpoint.description.clone(),
            events: EventSet::from_stored(&endpoint.events)
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
            active: endpoint.active.then(|| "on".to_owned()),
        }
    }
}

/// Messages beside the fields.
#[derive(Debug, Default)]
struct Errors {
    url: Option<String>,
    description: Option<String>,
    events: Option<String>,
}

impl Errors {
    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("url", self.url.as_deref()),
            ("description", self.description.as_deref()),
            ("events", self.events.as_deref()),
        ])
    }
}

/// One event of the catalog as a checkbox.
#[derive(Debug)]
struct EventChoice {
    name: &'static str,
    description: &'static str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "webhooks/form.html")]
struct FormPage {
    layout: Layout,
    editing: Option<WebhookEndpoint>,
    form: EndpointForm,
    errors: Errors,
    choices: Vec<EventChoice>,
    loopback: bool,
}

fn form_page(
    session: &Session,
    admin: &FullAdmin,
    editing: Option<WebhookEndpoint>,
    form: EndpointForm,
    errors: Errors,
    loopback: bool,
) -> Result<FormPage, AppError> {
    let title = if editing.is_some() {
        "Edit webhook endpoint"
    } else {
        "Add webhook endpoint"
    };
    let choices = EventType::SUBSCRIBABLE
        .iter()
        .map(|e| EventChoice {
            name: e.as_str(),
            description: e.description(),
            checked: form.events.iter().any(|n| n == e.as_str()),
        })
        .collect();
    Ok(FormPage {
        layout: Layout::new(session, Some(admin), Nav::Settings, title)?,
        editing,
        form,
        errors,
        choices,
        loopback,
    })
}

/// Parses the form, every field's error at once, and checks where the URL
/// leads now (its host name resolved).
async fn parse(state: &AppState, form: &EndpointForm) -> Result<EndpointFields, Errors> {
    let mut errors = Errors::default();
    let url = WebhookUrl::parse(&form.url, state.outbound.allows_loopback())
        .map_err(|e| errors.url = Some(e.to_string()))
        .ok();
    let description = Description::parse(&form.description)
        .map_err(|e| errors.description = Some(e.to_string()))
        .ok();
    let events = EventSet::parse(form.events.iter().map(String::as_str))
        .map_err(|e| errors.events = Some(e.to_string()))
        .ok();
    if let Some(url) = &url
        && let Err(e) = service::check_destination(&state.outbound, url).await
    {
        errors.url = Some(e.to_string());
    }
    match (url, description, events) {
        (Some(url), Some(description), Some(events)) if errors.url.is_none() => {
            Ok(EndpointFields {
                url,
                description,
                events,
                active: form.active.is_some(),
            })
        }
        _ => Err(errors),
    }
}

/// A refusal of the service shown beside its field, if it has one.
fn field_error(e: &OpError) -> Option<Errors> {
    let mut errors = Errors::default();
    match e.field() {
        Some("url") => errors.url = Some(e.to_string()),
        Some("description") => errors.description = Some(e.to_string()),
        Some("events") => errors.events = Some(e.to_string()),
        _ => return None,
    }
    Some(errors)
}

/// `GET /settings/webhooks/new`.
pub async fn webhook_new_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
) -> Result<HttpResponse, AppError> {
    let form = EndpointForm {
        active: Some("on".to_owned()),
        ..EndpointForm::default()
    };
    let loopback = state.outbound.allows_loopback();
    page::ok(&form_page(
        &session,
        &admin,
        None,
        form,
        Errors::default(),
        loopback,
    )?)
}

/// `POST /settings/webhooks` — registers the endpoint; its secret waits,
/// sealed, in the session for the endpoint's page, which shows it once.
pub async fn webhook_create(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    Form(form): Form<EndpointForm>,
) -> Result<HttpResponse, AppError> {
    let loopback = state.outbound.allows_loopback();
    let fields = match parse(&state, &form).await {
        Ok(fields) => fields,
        Err(errors) => {
            let page = form_page(&session, &admin, None, form, errors, loopback)?;
            return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let (org, actor, sealing) = (
        admin.organization_id.clone(),
        admin.actor(),
        state.sealing_key.clone(),
    );
    match state
        .op(move |conn| service::create(conn, &org, &actor, &fields, &sealing))
        .await
    {
        Ok((endpoint, secret)) => {
            page::hold_once(
                &session,
                &state.sealing_key,
                &secret_slot(&endpoint.id),
                &SecretString::from(secret),
            )?;
            Ok(page::see_other(&endpoint_path(&endpoint.id)))
        }
        Err(e) => match field_error(&e) {
            Some(errors) => {
                let page = form_page(&session, &admin, None, form, errors, loopback)?;
                page::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
            }
            None => Err(e.into()),
        },
    }
}

async fn load(
    state: &AppState,
    admin: &FullAdmin,
    id: EndpointId,
) -> Result<WebhookEndpoint, AppError> {
    let org = admin.organization_id.clone();
    state
        .read(move |conn| WebhookEndpoint::find(conn, &org, &id))
        .await?
        .ok_or(AppError::NotFound)
}

/// A delivery as the endpoint's page shows it.
#[derive(Debug)]
struct DeliveryRow {
    delivery: WebhookDelivery,
    created: When,
    next: Option<When>,
}

impl DeliveryRow {
    fn finished(&self) -> bool {
        service::is_finished(&self.delivery.status)
    }
}

#[derive(Template)]
#[template(path = "webhooks/show.html")]
struct ShowPage {
    layout: Layout,
    endpoint: WebhookEndpoint,
    events: Vec<EventType>,
    deliveries: Vec<DeliveryRow>,
    /// The new signing secret, on the one view that shows it.
    secret: Option<SecretString>,
    /// Until when the previous secret still signs, after a roll.
    previous_until: Option<When>,
    failing_since: Option<When>,
}

impl ShowPage {
    fn secret(&self) -> &str {
        self.secret.as_ref().map_or("", |s| s.expose_secret())
    }
}

/// `GET /settings/webhooks/{id}` — the endpoint, its recent deliveries, and
/// its new secret on the first view after it was made.
pub async fn webhook_show(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<EndpointId>,
) -> Result<HttpResponse, AppError> {
    let endpoint = load(&state, &admin, path.into_inner()).await?;
    let id = endpoint.id.clone();
    let deliveries = state
        .read(move |conn| WebhookDelivery::recent(conn, &id, RECENT_DELIVERIES))
        .await?;
    let now = clock::now();
    let zone = admin.zone;
    let deliveries = deliveries
        .into_iter()
        .map(|delivery| DeliveryRow {
            created: zone.when_seconds(delivery.created_at),
            next: (delivery.status == "pending")
                .then(|| zone.when_seconds(delivery.next_attempt_at)),
            delivery,
        })
        .collect();
    let secret = page::take_once(&session, &state.sealing_key, &secret_slot(&endpoint.id));
    page::ok(&ShowPage {
        layout: Layout::new(&session, Some(&admin), Nav::Settings, "Webhook endpoint")?,
        events: EventSet::from_stored(&endpoint.events).iter().collect(),
        deliveries,
        secret,
        previous_until: endpoint
            .previous_secret_until
            .filter(|t| *t > now)
            .map(|t| zone.when(t)),
        failing_since: endpoint.failing_since.map(|t| zone.when(t)),
        endpoint,
    })
}

/// `GET /settings/webhooks/{id}/edit`.
pub async fn webhook_edit_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<EndpointId>,
) -> Result<HttpResponse, AppError> {
    let endpoint = load(&state, &admin, path.into_inner()).await?;
    let form = EndpointForm::from_endpoint(&endpoint);
    let loopback = state.outbound.allows_loopback();
    page::ok(&form_page(
        &session,
        &admin,
        Some(endpoint),
        form,
        Errors::default(),
        loopback,
    )?)
}

/// `POST /settings/webhooks/{id}/edit`.
pub async fn webhook_update(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<EndpointId>,
    Form(form): Form<EndpointForm>,
) -> Result<HttpResponse, AppError> {
    let endpoint = load(&state, &admin, path.into_inner()).await?;
    let loopback = state.outbound.allows_loopback();
    let fields = match parse(&state, &form).await {
        Ok(fields) => fields,
        Err(errors) => {
            let page = form_page(&session, &admin, Some(endpoint), form, errors, loopback)?;
            return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let (org, actor, id) = (
        admin.organization_id.clone(),
        admin.actor(),
        endpoint.id.clone(),
    );
    match state
        .op(move |conn| service::update(conn, &org, &actor, &id, &fields))
        .await
    {
        Ok(saved) => {
            page::flash(&session, "success", "The endpoint was saved.");
            Ok(page::see_other(&endpoint_path(&saved.id)))
        }
        Err(e) => match field_error(&e) {
            Some(errors) => {
                let page = form_page(&session, &admin, Some(endpoint), form, errors, loopback)?;
                page::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
            }
            None => Err(e.into()),
        },
    }
}

#[derive(Template)]
#[template(path = "webhooks/delete.html")]
struct DeletePage {
    layout: Layout,
    endpoint: WebhookEndpoint,
}

/// `GET /settings/webhooks/{id}/delete` — the confirmation.
pub async fn webhook_delete_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<EndpointId>,
) -> Result<HttpResponse, AppError> {
    let endpoint = load(&state, &admin, path.into_inner()).await?;
    page::ok(&DeletePage {
        layout: Layout::new(
            &session,
            Some(&admin),
            Nav::Settings,
            "Delete webhook endpoint",
        )?,
        endpoint,
    })
}

/// `POST /settings/webhooks/{id}/delete`.
pub async fn webhook_delete(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<EndpointId>,
) -> Result<HttpResponse, AppError> {
    let endpoint = load(&state, &admin, path.into_inner()).await?;
    let (org, actor, id) = (
        admin.organization_id.clone(),
        admin.actor(),
        endpoint.id.clone(),
    );
    state
        .op(move |conn| service::delete(conn, &org, &actor, &id))
        .await?;
    page::flash(
        &session,
        "success",
        format!("The endpoint {} was deleted.", endpoint.url),
    );
    Ok(page::see_other("/settings/webhooks"))
}

/// `POST /settings/webhooks/{id}/test` — a `webhook.test` event for it.
pub async fn webhook_test(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<EndpointId>,
) -> Result<HttpResponse, AppError> {
    let endpoint = load(&state, &admin, path.into_inner()).await?;
    let (org, actor, id) = (
        admin.organization_id.clone(),
        admin.actor(),
        endpoint.id.clone(),
    );
    match state
        .op(move |conn| service::send_test(conn, &org, &actor, &id))
        .await
    {
        Ok(()) => page::flash(
            &session,
            "success",
            "A test event is on its way. Its delivery shows below in a few seconds.",
        ),
        Err(e @ OpError::Conflict { .. }) => page::flash(&session, "error", e.to_string()),
        Err(e) => return Err(e.into()),
    }
    Ok(page::see_other(&endpoint_path(&endpoint.id)))
}

/// `POST /settings/webhooks/{id}/deliveries/{delivery}/resend`.
pub async fn webhook_resend(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(EndpointId, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, delivery) = path.into_inner();
    let endpoint = load(&state, &admin, id).await?;
    let (org, actor, id) = (
        admin.organization_id.clone(),
        admin.actor(),
        endpoint.id.clone(),
    );
    match state
        .op(move |conn| service::resend(conn, &org, &actor, &id, &delivery))
        .await
    {
        Ok(()) => page::flash(&session, "success", "The event is sent again."),
        Err(e @ OpError::Conflict { .. }) => page::flash(&session, "error", e.to_string()),
        Err(e) => return Err(e.into()),
    }
    Ok(page::see_other(&endpoint_path(&endpoint.id)))
}

/// The grace a rolled secret keeps signing: the choices of the form.
const GRACE_CHOICES: &[(&str, &str, i64)] = &[
    ("0", "None: the current secret stops signing now", 0),
    ("1h", "1 hour", 3600),
    ("24h", "24 hours", 86_400),
    ("7d", "7 days", 7 * 86_400),
];

#[derive(Template)]
#[template(path = "webhooks/roll.html")]
struct RollPage {
    layout: Layout,
    endpoint: WebhookEndpoint,
    choices: &'static [(&'static str, &'static str, i64)],
    error: Option<String>,
}

/// `GET /settings/webhooks/{id}/roll`.
pub async fn webhook_roll_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<EndpointId>,
) -> Result<HttpResponse, AppError> {
    let endpoint = load(&state, &admin, path.into_inner()).await?;
    page::ok(&RollPage {
        layout: Layout::new(&session, Some(&admin), Nav::Settings, "Roll signing secret")?,
        endpoint,
        choices: GRACE_CHOICES,
        error: None,
    })
}

/// The roll form.
#[derive(Debug, Deserialize)]
pub struct RollForm {
    #[serde(default)]
    grace: String,
}

/// `POST /settings/webhooks/{id}/roll` — a new secret, shown once on the
/// endpoint's page; the current one signs beside it for the grace chosen.
pub async fn webhook_roll(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<EndpointId>,
    Form(form): Form<RollForm>,
) -> Result<HttpResponse, AppError> {
    let endpoint = load(&state, &admin, path.into_inner()).await?;
    let Some(&(_, _, seconds)) = GRACE_CHOICES.iter().find(|(v, _, _)| *v == form.grace) else {
        let page = RollPage {
            layout: Layout::new(&session, Some(&admin), Nav::Settings, "Roll signing secret")?,
            endpoint,
            choices: GRACE_CHOICES,
            error: Some("Choose how long the current secret keeps signing.".to_owned()),
        };
        return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let (org, actor, id, sealing) = (
        admin.organization_id.clone(),
        admin.actor(),
        endpoint.id.clone(),
        state.sealing_key.clone(),
    );
    let secret = state
        .op(move |conn| {
            service::roll_secret(
                conn,
                &org,
                &actor,
                &id,
                time::Duration::seconds(seconds),
                &sealing,
            )
        })
        .await?;
    page::hold_once(
        &session,
        &state.sealing_key,
        &secret_slot(&endpoint.id),
        &SecretString::from(secret),
    )?;
    Ok(page::see_other(&endpoint_path(&endpoint.id)))
}
