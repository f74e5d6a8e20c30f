//! The operator's console: every organization of this server, made with its
//! first admin's invitation, the features and limits of its subscription,
//! suspended and resumed, its usage at a glance, and the operators' trail.
//! Only a signed-in operator reaches these pages ([`CurrentOperator`]); an
//! admin's session gets the sign-in page, like a visitor's.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::admins::send_admin_link;
use super::extract::CurrentOperator;
use super::form::{Form, Query};
use super::page::{self, Layout, Nav, Problem};
use crate::clock::{self, When, Zone};
use crate::db::models::organization::Features;
use crate::db::models::usage::UsageCount;
use crate::db::models::{ApiKey, App, OperatorEvent, Organization, Role};
use crate::domain::settings::parse_time_zone;
use crate::domain::tenant::{
    DEFAULT_KEYS_PER_APP, MAX_APPS, MAX_KEYS_PER_APP, MAX_RATE_PER_SECOND, Slug, parse_limit,
};
use crate::domain::usage::Outcome;
use crate::domain::{EmailAddress, Name, OrgId};
use crate::error::AppError;
use crate::services::{self, OpError};
use crate::state::AppState;

/// Where an operator lands after signing in.
pub const HOME: &str = "/operator/organizations";

/// Organizations per page of the list.
const PAGE: i64 = 50;

/// One organization at a glance: its counts and the last 24 hours' usage.
pub(crate) struct OrgRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) slug: String,
    pub(crate) external_connectivity: bool,
    pub(crate) suspended: bool,
    pub(crate) apps: i64,
    pub(crate) keys: i64,
    pub(crate) requests: i64,
    pub(crate) refused: i64,
}

#[derive(Template)]
#[template(path = "operator/organizations.html")]
struct OrganizationsPage {
    layout: Layout,
    operator: CurrentOperator,
    rows: Vec<OrgRow>,
    search: String,
    next: Option<String>,
    total: i64,
}

/// The list's query: a search and where the page starts.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    /// The last organization of the page before: `<name>\n<id>`.
    after: Option<String>,
}

fn layout(session: &Session, title: &str) -> Result<Layout, AppError> {
    Layout::new(session, None, Nav::None, title)
}

/// Each organization's counts at a glance: apps, keys in service, and the
/// last 24 hours' requests and refusals.
pub(crate) async fn glance(
    state: &AppState,
    orgs: Vec<Organization>,
) -> Result<Vec<OrgRow>, crate::db::DbError> {
    let ids: Vec<OrgId> = orgs.iter().map(|o| o.id.clone()).collect();
    let now = clock::now();
    let since = (now.assume_utc().unix_timestamp() - 24 * 3600).div_euclid(3600) * 3600;
    let (apps, keys, usage) = state
        .read(move |conn| {
            Ok((
                App::counts_by_org(conn, &ids)?,
                ApiKey::counts_in_service_by_org(conn, &ids, now)?,
                UsageCount::organizations_totals(conn, &ids, since)?,
            ))
        })
        .await?;
    let count = |list: &[(OrgId, i64)], id: &OrgId| {
        list.iter().find(|(o, _)| o == id).map_or(0, |(_, n)| *n)
    };
    Ok(orgs
        .into_iter()
        .map(|o| {
            let mine = usage.iter().filter(|(id, ..)| *id == o.id);
            let (mut requests, mut refused) = (0, 0);
            for (_, outcome, n) in mine {
                requests += n;
                if Outcome::parse(outcome).is_some_and(Outcome::is_refused) {
                    refused += n;
                }
            }
            OrgRow {
                apps: count(&apps, &o.id),
                keys: count(&keys, &o.id),
                requests,
                refused,
                id: o.id.to_string(),
                name: o.name,
                slug: o.slug,
                external_connectivity: o.external_connectivity,
                suspended: o.suspended_at.is_some(),
            }
        })
        .collect())
}

/// `GET /operator` and `GET /operator/organizations`.
pub async fn organizations(
    session: Session,
    state: web::Data<AppState>,
    operator: CurrentOperator,
    Query(query): Query<ListQuery>,
) -> Result<HttpResponse, AppError> {
    let search: String = query
        .q
        .unwrap_or_default()
        .trim()
        .chars()
        .take(100)
        .collect();
    let after = query.after.and_then(|a| {
        a.split_once('\n')
            .map(|(n, i)| (n.to_owned(), OrgId::from(i)))
    });
    let (text, cursor) = (search.clone(), after.clone());
    let (orgs, total) = state
        .read(move |conn| {
            let cursor = cursor.as_ref().map(|(n, i)| (n.as_str(), i));
            Ok((
                Organization::page(conn, Some(&text), cursor, PAGE + 1)?,
                Organization::count(conn)?,
            ))
        })
        .await?;
    let mut orgs = orgs;
    let next = (orgs.len() > PAGE as usize).then(|| {
        orgs.truncate(PAGE as usize);
        orgs.last()
            .map(|o| format!("{}\n{}", o.name, o.id))
            .unwrap_or_default()
    });
    let rows = glance(&state, orgs).await?;
    page::ok(&OrganizationsPage {
        layout: layout(&session, "Organizations")?,
        operator,
        rows,
        search,
        next,
        total,
    })
}

/// The new organization form, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct NewOrgForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    email: String,
    external_connectivity: Option<String>,
    #[serde(default)]
    max_apps: String,
    #[serde(default)]
    max_keys_per_app: String,
    #[serde(default)]
    max_rate_per_second: String,
}

/// Each field's message.
#[derive(Debug, Default)]
struct OrgErrors {
    name: Option<String>,
    slug: Option<String>,
    time_zone: Option<String>,
    email: Option<String>,
    max_apps: Option<String>,
    max_keys_per_app: Option<String>,
    max_rate_per_second: Option<String>,
}

impl OrgErrors {
    fn problems(&self) -> Vec<Problem> {
        [
            ("org-name", &self.name),
            ("slug", &self.slug),
            ("time_zone", &self.time_zone),
            ("email", &self.email),
            ("max_apps", &self.max_apps),
            ("max_keys_per_app", &self.max_keys_per_app),
            ("max_rate_per_second", &self.max_rate_per_second),
        ]
        .into_iter()
        .filter_map(|(target, e)| {
            e.as_ref().map(|m| Problem {
                target,
                message: m.clone(),
            })
        })
        .collect()
    }

    fn any(&self) -> bool {
        !self.problems().is_empty()
    }

    /// Puts a service's refusal beside its field.
    fn place(&mut self, e: &OpError) -> bool {
        let message = Some(e.to_string());
        match e.field() {
            Some("slug") => self.slug = message,
            Some("email") => self.email = message,
            Some("max_apps") => self.max_apps = message,
            Some("max_keys_per_app") => self.max_keys_per_app = message,
            Some("max_rate_per_second") => self.max_rate_per_second = message,
            _ => return false,
        }
        true
    }
}

/// The features and limits as typed, parsed; each refusal beside its field.
fn parse_features(
    connectivity: bool,
    max_apps: &str,
    max_keys: &str,
    max_rate: &str,
    errors: &mut OrgErrors,
) -> Option<Features> {
    let apps = parse_limit(max_apps, MAX_APPS, true)
        .map_err(|e| errors.max_apps = Some(e.to_string()))
        .ok();
    let keys = parse_limit(max_keys, MAX_KEYS_PER_APP, false)
        .map_err(|e| errors.max_keys_per_app = Some(e.to_string()))
        .ok()
        .flatten();
    let rate = parse_limit(max_rate, MAX_RATE_PER_SECOND, true)
        .map_err(|e| errors.max_rate_per_second = Some(e.to_string()))
        .ok();
    Some(Features {
        external_connectivity: connectivity,
        max_apps: apps?,
        max_keys_per_app: keys?,
        max_rate_per_second: rate?,
    })
}

#[derive(Template)]
#[template(path = "operator/new.html")]
struct NewOrgPage {
    layout: Layout,
    operator: CurrentOperator,
    form: NewOrgForm,
    errors: OrgErrors,
    problems: Vec<Problem>,
    zones: &'static [(&'static str, Vec<&'static str>)],
}

fn new_page(
    session: &Session,
    operator: CurrentOperator,
    form: NewOrgForm,
    errors: OrgErrors,
) -> Result<NewOrgPage, AppError> {
    Ok(NewOrgPage {
        layout: layout(session, "New organization")?,
        operator,
        problems: errors.problems(),
        form,
        errors,
        zones: Zone::choices(),
    })
}

/// `GET /operator/organizations/new`.
pub async fn new_form(
    session: Session,
    operator: CurrentOperator,
) -> Result<HttpResponse, AppError> {
    let form = NewOrgForm {
        time_zone: "UTC".to_owned(),
        external_connectivity: Some("on".to_owned()),
        max_keys_per_app: DEFAULT_KEYS_PER_APP.to_string(),
        ..NewOrgForm::default()
    };
    page::ok(&new_page(&session, operator, form, OrgErrors::default())?)
}

/// `POST /operator/organizations`: makes the organization and emails its
/// first admin an invitation.
pub async fn create(
    session: Session,
    state: web::Data<AppState>,
    operator: CurrentOperator,
    Form(form): Form<NewOrgForm>,
) -> Result<HttpResponse, AppError> {
    let mut errors = OrgErrors::default();
    let name = Name::parse(&form.name)
        .map_err(|e| errors.name = Some(e.to_string()))
        .ok();
    let slug = Slug::parse(&form.slug)
        .map_err(|e| errors.slug = Some(e.to_string()))
        .ok();
    let zone = parse_time_zone(&form.time_zone)
        .map_err(|e| errors.time_zone = Some(e.to_string()))
        .ok();
    let email = EmailAddress::parse(&form.email)
        .map_err(|e| errors.email = Some(e.to_string()))
        .ok();
    let features = parse_features(
        form.external_connectivity.is_some(),
        &form.max_apps,
        &form.max_keys_per_app,
        &form.max_rate_per_second,
        &mut errors,
    );
    let (Some(name), Some(slug), Some(time_zone), Some(first_admin), Some(features), false) =
        (name, slug, zone, email, features, errors.any())
    else {
        return page::render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &new_page(&session, operator, form, errors)?,
        );
    };
    let tenant = services::operators::NewTenant {
        name,
        slug,
        time_zone,
        first_admin,
        features,
    };
    let actor = operator.actor.clone();
    let made = state
        .op(move |conn| {
            services::operators::create_organization(conn, &tenant, &actor, clock::now())
        })
        .await;
    match made {
        Ok((org, link)) => {
            match send_admin_link(&state, &link, false, Role::Full).await {
                Ok(()) => page::flash(
                    &session,
                    "success",
                    format!(
                        "{} was created. {} was sent an invitation to be its first admin; its link works once, for 24 hours.",
                        org.name, link.email
                    ),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "a first admin's invitation could not be sent");
                    page::flash(
                        &session,
                        "error",
                        format!(
                            "{} was created, but the invitation could not be sent: {e}. Its admins page can invite again once an admin exists; ask for a new operator invitation.",
                            org.name
                        ),
                    );
                }
            }
            Ok(page::see_other(&format!(
                "/operator/organizations/{}",
                org.id
            )))
        }
        Err(e) => {
            if errors.place(&e) {
                return page::render(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &new_page(&session, operator, form, errors)?,
                );
            }
            Err(e.into())
        }
    }
}

/// One record of the operators' trail, as shown.
struct EventRow {
    when: When,
    actor: String,
    action: String,
    organization: Option<String>,
    changes: String,
}

fn event_rows(events: Vec<OperatorEvent>) -> Vec<EventRow> {
    events
        .into_iter()
        .map(|e| EventRow {
            when: Zone::UTC.when(e.occurred_at),
            actor: e.actor_label,
            action: crate::db::models::Action::parse(&e.action)
                .map_or(e.action.clone(), |a| a.label().to_owned()),
            organization: e.organization_label,
            changes: e.changes,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "operator/organization.html")]
struct OrganizationPage {
    layout: Layout,
    operator: CurrentOperator,
    org: Organization,
    row: OrgRow,
    issuer: String,
    created: When,
    suspended: Option<When>,
    values: FeaturesForm,
    errors: OrgErrors,
    problems: Vec<Problem>,
    events: Vec<EventRow>,
}

/// The features form, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct FeaturesForm {
    external_connectivity: Option<String>,
    #[serde(default)]
    max_apps: String,
    #[serde(default)]
    max_keys_per_app: String,
    #[serde(default)]
    max_rate_per_second: String,
}

impl FeaturesForm {
    fn of(f: &Features) -> Self {
        let limit = |n: Option<i32>| n.map(|n| n.to_string()).unwrap_or_default();
        Self {
            external_connectivity: f.external_connectivity.then(|| "on".to_owned()),
            max_apps: limit(f.max_apps),
            max_keys_per_app: f.max_keys_per_app.to_string(),
            max_rate_per_second: limit(f.max_rate_per_second),
        }
    }
}

/// An organization's issuer: the server's own for the first organization of
/// an upgraded server, `<public URL>/o/<slug>` for the others.
pub(crate) fn issuer(state: &AppState, org: &Organization) -> String {
    org.issuer(&state.issuer)
}

async fn organization_page(
    session: &Session,
    state: &AppState,
    operator: CurrentOperator,
    id: OrgId,
    values: Option<FeaturesForm>,
    errors: OrgErrors,
) -> Result<OrganizationPage, AppError> {
    let lookup = id.clone();
    let (org, events) = state
        .read(move |conn| {
            let org = Organization::find(conn, &lookup)?;
            let events = OperatorEvent::page(conn, Some(&lookup), None, 20)?;
            Ok((org, events))
        })
        .await?;
    let org = org.ok_or(AppError::NotFound)?;
    let row = glance(state, vec![org.clone()])
        .await?
        .pop()
        .ok_or(AppError::NotFound)?;
    let issuer = issuer(state, &org);
    Ok(OrganizationPage {
        layout: layout(session, &org.name)?,
        operator,
        issuer,
        created: Zone::UTC.when(org.created_at),
        suspended: org.suspended_at.map(|t| Zone::UTC.when(t)),
        values: values.unwrap_or_else(|| FeaturesForm::of(&org.features())),
        problems: errors.problems(),
        errors,
        events: event_rows(events),
        row,
        org,
    })
}

/// `GET /operator/organizations/{id}`.
pub async fn show(
    session: Session,
    state: web::Data<AppState>,
    operator: CurrentOperator,
    path: web::Path<OrgId>,
) -> Result<HttpResponse, AppError> {
    let page = organization_page(
        &session,
        &state,
        operator,
        path.into_inner(),
        None,
        OrgErrors::default(),
    )
    .await?;
    page::ok(&page)
}

/// `POST /operator/organizations/{id}/features`.
pub async fn features_update(
    session: Session,
    state: web::Data<AppState>,
    operator: CurrentOperator,
    path: web::Path<OrgId>,
    Form(form): Form<FeaturesForm>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    let mut errors = OrgErrors::default();
    let features = parse_features(
        form.external_connectivity.is_some(),
        &form.max_apps,
        &form.max_keys_per_app,
        &form.max_rate_per_second,
        &mut errors,
    );
    let Some(features) = features.filter(|_| !errors.any()) else {
        let page = organization_page(&session, &state, operator, id, Some(form), errors).await?;
        return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    };
    let (org, actor) = (id.clone(), operator.actor.clone());
    let changed = state
        .op(move |conn| services::operators::set_features(conn, &org, &features, &actor))
        .await;
    match changed {
        Ok(changed) => {
            page::flash(
                &session,
                "success",
                if changed {
                    "The subscription's features were saved."
                } else {
                    "Nothing changed."
                },
            );
            Ok(page::see_other(&format!("/operator/organizations/{id}")))
        }
        Err(e) => {
            if errors.place(&e) {
                let page =
                    organization_page(&session, &state, operator, id, Some(form), errors).await?;
                return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
            }
            Err(e.into())
        }
    }
}

/// `POST /operator/organizations/{id}/{verb:suspend|resume}`.
pub async fn suspension(
    session: Session,
    state: web::Data<AppState>,
    operator: CurrentOperator,
    path: web::Path<(OrgId, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, verb) = path.into_inner();
    let suspend = verb == "suspend";
    let (org, actor) = (id.clone(), operator.actor.clone());
    let changed = state
        .op(move |conn| {
            services::operators::set_suspended(conn, &org, suspend, &actor, clock::now())
        })
        .await?;
    page::flash(
        &session,
        "success",
        match (changed, suspend) {
            (false, _) => "Nothing changed.",
            (true, true) => {
                "The organization is suspended: its keys and tokens are answered with 402 until it is resumed."
            }
            (true, false) => "The organization is resumed: its keys and tokens work again.",
        },
    );
    Ok(page::see_other(&format!("/operator/organizations/{id}")))
}

#[derive(Template)]
#[template(path = "operator/audit.html")]
struct AuditPage {
    layout: Layout,
    operator: CurrentOperator,
    events: Vec<EventRow>,
}

/// `GET /operator/audit`: the operators' trail, newest first.
pub async fn audit(
    session: Session,
    state: web::Data<AppState>,
    operator: CurrentOperator,
) -> Result<HttpResponse, AppError> {
    let events = state
        .read(|conn| OperatorEvent::page(conn, None, None, 200))
        .await?;
    page::ok(&AuditPage {
        layout: layout(&session, "Operator audit")?,
        operator,
        events: event_rows(events),
    })
}
