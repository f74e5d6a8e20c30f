//! The operator API (`/api/v1/operator/…`): what the operator's
//! Organizations console does, for the platform's own scripts (billing,
//! provisioning). Documents are JSON:API-like, errors the same JSON:API error
//! documents as the management API.
//!
//! A request authenticates with an operator API token (`Authorization: Bearer
//! kwo_…`, `services::operator_tokens::authenticate`); a read-only token may
//! only read. Every change goes through `services::operators`, the console's
//! own functions, so the same rules refuse it with the same codes, and lands in
//! the operators' trail and the organization's own, naming the token.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde_json::{Map, Value, json};

use super::JsonApiBody;
use super::error::ApiError;
use super::manage::{BearerRequest, answer, attributes, bearer_request, iso, text, unauthorized};
use crate::clock;
use crate::db::models::organization::Features;
use crate::db::models::{Organization, Role};
use crate::domain::settings::parse_time_zone;
use crate::domain::tenant::{MAX_APPS, MAX_KEYS_PER_APP, MAX_RATE_PER_SECOND, Slug};
use crate::domain::{EmailAddress, Name, OrgId};
use crate::routes::operator::{OrgRow, glance, issuer};
use crate::services::admin_tokens::TokenRefusal;
use crate::services::operator_tokens::OperatorCaller;
use crate::services::operators::{NewTenant, OperatorActor};
use crate::services::{self, OpError};
use crate::state::AppState;

/// One route of the operator API.
#[derive(Debug)]
pub struct OperatorRoute {
    pub method: Method,
    /// Path under `/api`, with `{id}` parameters.
    pub path: &'static str,
    /// Whether it changes anything (a read-only token is refused).
    pub write: bool,
    /// One line for the documentation.
    pub summary: &'static str,
    /// The handler.
    pub handler: fn(actix_web::Route) -> actix_web::Route,
}

/// Every route of the operator API.
pub static ROUTES: &[OperatorRoute] = &[
    OperatorRoute {
        method: Method::GET,
        path: "/api/v1/operator/organizations",
        write: false,
        summary: "List the organizations by name, with their subscription and usage at a glance",
        handler: |r| r.to(list),
    },
    OperatorRoute {
        method: Method::POST,
        path: "/api/v1/operator/organizations",
        write: true,
        summary: "Create an organization and email its first admin an invitation",
        handler: |r| r.to(create),
    },
    OperatorRoute {
        method: Method::GET,
        path: "/api/v1/operator/organizations/{id}",
        write: false,
        summary: "Read an organization",
        handler: |r| r.to(read),
    },
    OperatorRoute {
        method: Method::PATCH,
        path: "/api/v1/operator/organizations/{id}",
        write: true,
        summary: "Change an organization's subscription: external_connectivity and the limits",
        handler: |r| r.to(update),
    },
    OperatorRoute {
        method: Method::POST,
        path: "/api/v1/operator/organizations/{id}/suspend",
        write: true,
        summary: "Suspend an organization: every key and token of it gets 402 within a second",
        handler: |r| r.to(suspend),
    },
    OperatorRoute {
        method: Method::POST,
        path: "/api/v1/operator/organizations/{id}/resume",
        write: true,
        summary: "Resume a suspended organization",
        handler: |r| r.to(resume),
    },
];

/// Organizations per page, by default and at most.
const PAGE_SIZE: (i64, i64) = (50, 200);

/// Whether each method of a path writes, kept as the resource's data.
#[derive(Debug)]
struct RouteWrites(Vec<(Method, bool)>);

/// Registers every route (paths relative to the `/api` scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut by_path: std::collections::BTreeMap<&'static str, Vec<&'static OperatorRoute>> =
        std::collections::BTreeMap::new();
    for route in ROUTES {
        by_path.entry(route.path).or_default().push(route);
    }
    for (path, routes) in by_path {
        let writes = RouteWrites(routes.iter().map(|r| (r.method.clone(), r.write)).collect());
        let mut resource = web::resource(path.strip_prefix("/api").unwrap_or(path))
            .app_data(writes)
            .default_service(web::to(method_not_allowed));
        for route in routes {
            resource = resource.route((route.handler)(web::route().method(route.method.clone())));
            if route.method == Method::GET {
                resource = resource.route((route.handler)(web::route().method(Method::HEAD)));
            }
        }
        cfg.service(resource);
    }
}

/// 405 with the path's methods in `Allow` (RFC 9110 §15.5.6).
async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allow = req
        .app_data::<RouteWrites>()
        .map(|RouteWrites(methods)| super::allowed(methods.iter().map(|(m, _)| m)))
        .unwrap_or_default();
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
        "This path does not accept that method.",
    )
    .with_allow(allow))
}

/// The operator API token of the request, checked for the route.
#[derive(Debug)]
pub struct OperatorApi {
    pub caller: OperatorCaller,
    pub actor: OperatorActor,
}

impl FromRequest for OperatorApi {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(ApiError::internal)?;
            let method = if req.method() == Method::HEAD {
                Method::GET
            } else {
                req.method().clone()
            };
            let write = req
                .app_data::<RouteWrites>()
                .and_then(|RouteWrites(w)| w.iter().find(|(m, _)| *m == method).map(|(_, w)| *w))
                .ok_or_else(ApiError::internal)?;
            let BearerRequest {
                token,
                ip,
                user_agent,
            } = bearer_request(
                &req,
                &state,
                "Send an operator API token: Authorization: Bearer kwo_…",
            )?;
            let digest_key = state.digest_key.clone();
            let address = ip.clone();
            let checked = state
                .db
                .run(move |conn| {
                    services::operator_tokens::authenticate(
                        conn,
                        &token,
                        write,
                        &digest_key,
                        address.as_deref(),
                        clock::now(),
                    )
                })
                .await?;
            match checked {
                Ok(caller) => Ok(OperatorApi {
                    actor: caller.actor(ip, user_agent),
                    caller,
                }),
                Err(TokenRefusal::Invalid) => Err(unauthorized(
                    "invalid_token",
                    "The operator API token is not valid.",
                )),
                Err(TokenRefusal::Expired) => Err(unauthorized(
                    "token_expired",
                    "The operator API token has expired.",
                )),
                // RFC 6750 §3.1: a valid token without the access the request needs.
                Err(TokenRefusal::Forbidden) => Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    "Forbidden",
                    "This token may only read: changes need a read-and-change token.",
                )
                .with_bearer_error("insufficient_scope", Some("write"))),
            }
        })
    }
}

fn resource(state: &AppState, org: &Organization, glance: &OrgRow) -> Value {
    json!({
        "type": "organizations",
        "id": org.id,
        "attributes": {
            "name": org.name,
            "slug": org.slug,
            "time_zone": org.time_zone,
            "issuer": issuer(state, org),
            "external_connectivity": org.external_connectivity,
            "max_apps": org.max_apps,
            "max_keys_per_app": org.max_keys_per_app,
            "max_rate_per_second": org.max_rate_per_second,
            "suspended": org.suspended_at.is_some(),
            "suspended_at": iso(org.suspended_at),
            "created_at": iso(Some(org.created_at)),
        },
        "meta": {
            "apps": glance.apps,
            "keys_in_service": glance.keys,
            "requests_24h": glance.requests,
            "refused_24h": glance.refused,
        },
        "links": { "self": format!("/api/v1/operator/organizations/{}", org.id) },
    })
}

async fn load(state: &AppState, id: OrgId) -> Result<Organization, ApiError> {
    state
        .read(move |conn| Organization::find(conn, &id))
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn document(state: &AppState, org: Organization) -> Result<Value, ApiError> {
    let row = glance(state, vec![org.clone()])
        .await?
        .pop()
        .ok_or_else(ApiError::internal)?;
    Ok(json!({ "data": resource(state, &org, &row) }))
}

/// `GET /api/v1/operator/organizations`: `filter[q]` (in the name or slug),
/// `page[size]` (1 to 200, 50 by default) and `page[after]` (the last id of
/// the page before, from `links.next`).
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    _operator: OperatorApi,
) -> Result<HttpResponse, ApiError> {
    let query: Vec<(String, String)> = serde_html_form::from_str(req.query_string())
        .map_err(|_| ApiError::bad_parameter("query", "The query string could not be read."))?;
    let (mut search, mut size, mut after) = (String::new(), PAGE_SIZE.0, None::<OrgId>);
    for (name, value) in &query {
        match name.as_str() {
            "filter[q]" => search = value.trim().to_lowercase().chars().take(100).collect(),
            "page[size]" => {
                size = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=PAGE_SIZE.1).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_parameter(name, "page[size] must be from 1 to 200.")
                    })?;
            }
            "page[after]" => after = Some(OrgId::from(value.as_str())),
            other => {
                return Err(ApiError::bad_parameter(
                    other,
                    format!(
                        "Unknown parameter {}.",
                        other.chars().take(40).collect::<String>()
                    ),
                ));
            }
        }
    }
    let text = search.clone();
    let found = state
        .read(move |conn| {
            let cursor = match &after {
                None => None,
                Some(id) => match Organization::find(conn, id)? {
                    Some(org) => Some((org.name, org.id)),
                    None => return Ok(None),
                },
            };
            let cursor = cursor.as_ref().map(|(n, i)| (n.as_str(), i));
            Organization::page(conn, Some(&text), cursor, size + 1).map(Some)
        })
        .await?;
    let Some(mut orgs) = found else {
        return Err(ApiError::bad_parameter(
            "page[after]",
            "page[after] must be an organization id from links.next.",
        ));
    };
    let more = orgs.len() > size as usize;
    orgs.truncate(size as usize);
    let next = more
        .then(|| orgs.last().map(|o| o.id.to_string()))
        .flatten();
    let rows = glance(&state, orgs.clone()).await?;
    let data: Vec<Value> = orgs
        .iter()
        .zip(&rows)
        .map(|(org, row)| resource(&state, org, row))
        .collect();
    let mut links = Map::new();
    if let Some(last) = next {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if !search.is_empty() {
            query.append_pair("filter[q]", &search);
        }
        query.append_pair("page[size]", &size.to_string());
        query.append_pair("page[after]", &last);
        links.insert(
            "next".to_owned(),
            format!("/api/v1/operator/organizations?{}", query.finish()).into(),
        );
    }
    Ok(answer(
        StatusCode::OK,
        &json!({ "data": data, "links": links }),
    ))
}

/// A limit attribute: a whole number in `range`, or null where `optional`
/// (no limit). Absent keeps `current`.
fn limit(
    attrs: &Map<String, Value>,
    name: &str,
    range: std::ops::RangeInclusive<i32>,
    optional: bool,
    current: Option<i32>,
    problems: &mut Vec<(String, String)>,
) -> Option<i32> {
    let refuse = |problems: &mut Vec<(String, String)>| {
        problems.push((
            format!("/data/attributes/{name}"),
            format!(
                "{name} must be a whole number from {} to {}{}.",
                range.start(),
                range.end(),
                if optional {
                    ", or null for no limit"
                } else {
                    ""
                }
            ),
        ));
        current
    };
    match attrs.get(name) {
        None => current,
        Some(Value::Null) if optional => None,
        Some(Value::Number(n)) => match n.as_i64().and_then(|n| i32::try_from(n).ok()) {
            Some(n) if range.contains(&n) => Some(n),
            _ => refuse(problems),
        },
        Some(_) => refuse(problems),
    }
}

/// The subscription attributes over `current`; each bad one is a problem.
fn features(
    attrs: &Map<String, Value>,
    current: &Features,
    problems: &mut Vec<(String, String)>,
) -> Features {
    let external_connectivity = match attrs.get("external_connectivity") {
        None => current.external_connectivity,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            problems.push((
                "/data/attributes/external_connectivity".to_owned(),
                "external_connectivity must be true or false.".to_owned(),
            ));
            current.external_connectivity
        }
    };
    Features {
        external_connectivity,
        max_apps: limit(
            attrs,
            "max_apps",
            MAX_APPS,
            true,
            current.max_apps,
            problems,
        ),
        max_keys_per_app: limit(
            attrs,
            "max_keys_per_app",
            MAX_KEYS_PER_APP,
            false,
            Some(current.max_keys_per_app),
            problems,
        )
        .unwrap_or(current.max_keys_per_app),
        max_rate_per_second: limit(
            attrs,
            "max_rate_per_second",
            MAX_RATE_PER_SECOND,
            true,
            current.max_rate_per_second,
            problems,
        ),
    }
}

/// Refuses attributes this document may not carry, each at its pointer.
fn only(attrs: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    let unknown: Vec<(String, String)> = attrs
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| {
            let k: String = k.chars().take(40).collect();
            (
                format!("/data/attributes/{k}"),
                format!("{k} is not an attribute that can be set here."),
            )
        })
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(unknown))
    }
}

/// `POST /api/v1/operator/organizations`: `name`, `slug`, `time_zone` (IANA,
/// `UTC` by default), `first_admin_email`, and the subscription
/// (`external_connectivity`, `max_apps`, `max_keys_per_app` — 20 by default
/// —, `max_rate_per_second`). The first admin is emailed a full-access
/// invitation; `meta.invitation_sent` says whether it went.
pub async fn create(
    state: web::Data<AppState>,
    operator: OperatorApi,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    let attrs = attributes(&body.0, "organizations")?;
    only(
        &attrs,
        &[
            "name",
            "slug",
            "time_zone",
            "first_admin_email",
            "external_connectivity",
            "max_apps",
            "max_keys_per_app",
            "max_rate_per_second",
        ],
    )?;
    let mut problems = Vec::new();
    let mut field = |name: &str, default: &str| {
        text(&attrs, name, default)
            .map_err(|p| problems.push(p))
            .ok()
    };
    let (name, slug, zone, email) = (
        field("name", ""),
        field("slug", ""),
        field("time_zone", "UTC"),
        field("first_admin_email", ""),
    );
    let mut check =
        |raw: Option<String>, name: &str, parse: &dyn Fn(&str) -> Result<(), String>| {
            if let Some(raw) = &raw
                && let Err(message) = parse(raw)
            {
                problems.push((format!("/data/attributes/{name}"), message));
            }
            raw
        };
    let name = check(name, "name", &|s| {
        Name::parse(s).map(drop).map_err(|e| e.to_string())
    });
    let slug = check(slug, "slug", &|s| {
        Slug::parse(s).map(drop).map_err(|e| e.to_string())
    });
    let zone = check(zone, "time_zone", &|s| {
        parse_time_zone(s).map(drop).map_err(|e| e.to_string())
    });
    let email = check(email, "first_admin_email", &|s| {
        EmailAddress::parse(s).map(drop).map_err(|e| e.to_string())
    });
    // A paid feature is off until the operator grants it, as in the console,
    // where the box starts unticked.
    let defaults = Features {
        external_connectivity: false,
        max_apps: None,
        max_keys_per_app: crate::domain::tenant::DEFAULT_KEYS_PER_APP,
        max_rate_per_second: None,
    };
    let features = features(&attrs, &defaults, &mut problems);
    let parsed = (|| {
        Some(NewTenant {
            name: Name::parse(name.as_deref()?).ok()?,
            slug: Slug::parse(slug.as_deref()?).ok()?,
            time_zone: parse_time_zone(zone.as_deref()?).ok()?,
            first_admin: EmailAddress::parse(email.as_deref()?).ok()?,
            features,
        })
    })();
    let Some(tenant) = parsed.filter(|_| problems.is_empty()) else {
        return Err(ApiError::validation(problems));
    };
    let actor = operator.actor.clone();
    let (org, link) = state
        .op(move |conn| {
            services::operators::create_organization(conn, &tenant, &actor, clock::now())
        })
        .await
        .map_err(|e| match e.field() {
            // The service names the console's field; the API's is this one.
            Some("email") => ApiError::from(e).at_pointer("/data/attributes/first_admin_email"),
            _ => ApiError::from(e),
        })?;
    let sent = crate::routes::admins::send_admin_link(&state, &link, false, Role::Full).await;
    if let Err(e) = &sent {
        tracing::warn!(error = %e, "a first admin's invitation could not be sent");
    }
    let mut doc = document(&state, org).await?;
    doc["meta"] = json!({ "invitation_sent": sent.is_ok(), "first_admin_email": link.email });
    Ok(answer(StatusCode::CREATED, &doc))
}

/// `GET /api/v1/operator/organizations/{id}`.
pub async fn read(
    state: web::Data<AppState>,
    _operator: OperatorApi,
    path: web::Path<OrgId>,
) -> Result<HttpResponse, ApiError> {
    let org = load(&state, path.into_inner()).await?;
    Ok(answer(StatusCode::OK, &document(&state, org).await?))
}

/// `PATCH /api/v1/operator/organizations/{id}`: the subscription's
/// attributes; those absent keep their value. Lowering a limit below what
/// the organization holds takes nothing away: it holds for new apps and
/// keys.
pub async fn update(
    state: web::Data<AppState>,
    operator: OperatorApi,
    path: web::Path<OrgId>,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    let org = load(&state, path.into_inner()).await?;
    let attrs = attributes(&body.0, "organizations")?;
    if let Some(id) = body.0.pointer("/data/id")
        && id.as_str() != Some(org.id.as_str())
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "id_mismatch",
            "Id mismatch",
            "data.id must be the id in the path.",
        )
        .at_pointer("/data/id"));
    }
    only(
        &attrs,
        &[
            "external_connectivity",
            "max_apps",
            "max_keys_per_app",
            "max_rate_per_second",
        ],
    )?;
    let mut problems = Vec::new();
    let features = features(&attrs, &org.features(), &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    let (id, actor) = (org.id.clone(), operator.actor.clone());
    let org = state
        .op(move |conn| {
            services::operators::set_features(conn, &id, &features, &actor)?;
            Organization::find(conn, &id)?.ok_or(OpError::NotFound)
        })
        .await?;
    Ok(answer(StatusCode::OK, &document(&state, org).await?))
}

async fn suspension(
    state: &AppState,
    operator: &OperatorApi,
    id: OrgId,
    suspend: bool,
) -> Result<HttpResponse, ApiError> {
    let actor = operator.actor.clone();
    let org = state
        .op(move |conn| {
            services::operators::set_suspended(conn, &id, suspend, &actor, clock::now())?;
            Organization::find(conn, &id)?.ok_or(OpError::NotFound)
        })
        .await?;
    Ok(answer(StatusCode::OK, &document(state, org).await?))
}

/// `POST /api/v1/operator/organizations/{id}/suspend`.
pub async fn suspend(
    state: web::Data<AppState>,
    operator: OperatorApi,
    path: web::Path<OrgId>,
) -> Result<HttpResponse, ApiError> {
    suspension(&state, &operator, path.into_inner(), true).await
}

/// `POST /api/v1/operator/organizations/{id}/resume`.
pub async fn resume(
    state: web::Data<AppState>,
    operator: OperatorApi,
    path: web::Path<OrgId>,
) -> Result<HttpResponse, ApiError> {
    suspension(&state, &operator, path.into_inner(), false).await
}
