//! `/api`: the credential check for reverse proxies (v1), the OAuth endpoints
//! of app users' tokens (v1), the platform's JSON:API (v2) and the OpenAPI
//! document. No session here: only the `Authorization` header (or, at the
//! OAuth endpoints, the app's credentials) authenticates.
//!
//! [`routes()`] is the one list of every route: it registers the handlers, gives
//! each the permission the credential check demands, and generates the OpenAPI
//! document, so none of the three can disagree.

pub mod error;
pub mod etag;
pub mod manage;
pub mod me;
pub mod oauth;
pub mod openapi;
pub mod operator;
pub mod resources;
pub mod v1;
pub mod v2;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode, header};
use actix_web::web::{Bytes, BytesMut};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::Value;

use self::error::{ApiError, JSON_API};
use self::resources::ToResource;
use crate::auth::Grant;
use crate::db::models::platform::{
    Appointment, Employee, Guest, Installment, Payment, Service, WorkingHours,
};
use crate::domain::scopes::{Action, Permission};
use crate::state::AppState;

/// What an operation does, for its documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// List a collection.
    List,
    /// Read one.
    Read,
    /// Create one.
    Create,
    /// Change one.
    Update,
    /// Cancel one.
    Cancel,
    /// The reverse proxy check.
    AuthCheck,
    /// The token endpoint (RFC 6749 §3.2).
    Token,
    /// Token revocation (RFC 7009).
    Revoke,
    /// Token introspection (RFC 7662).
    Introspect,
    /// A signed-in user changes their password.
    PasswordChange,
    /// This document.
    OpenApi,
}

/// One route of `/api`.
#[derive(Debug)]
pub struct ApiRoute {
    /// HTTP method.
    pub method: Method,
    /// Path, with `{id}` parameters.
    pub path: &'static str,
    /// The JSON:API resource type.
    pub resource: &'static str,
    /// What it does.
    pub kind: Kind,
    /// The permission the credential must hold, if fixed.
    pub permission: Option<Permission>,
    /// One line for the documentation.
    pub summary: &'static str,
    /// The handler, on a route that matches the method (and HEAD for a GET).
    pub handler: fn(actix_web::Route) -> actix_web::Route,
}

const fn p(resource: &'static str, action: Action) -> Option<Permission> {
    Some(Permission::new_unchecked(resource, action))
}

macro_rules! collection {
    ($path:literal, $item:literal, $resource:literal, $model:ty, $label:literal) => {
        [
            ApiRoute {
                method: Method::GET,
                path: $path,
                resource: $resource,
                kind: Kind::List,
                permission: p($resource, Action::Read),
                summary: concat!("List ", $label),
                handler: |r| r.to(v2::list::<$model>),
            },
            ApiRoute {
                method: Method::GET,
                path: $item,
                resource: $resource,
                kind: Kind::Read,
                permission: p($resource, Action::Read),
                summary: concat!("Read one of the ", $label),
                handler: |r| r.to(v2::read::<$model>),
            },
        ]
    };
}

const SERVICES: [ApiRoute; 2] = collection!(
    "/api/v2/services",
    "/api/v2/services/{id}",
    "services",
    Service,
    "services"
);
const EMPLOYEES: [ApiRoute; 2] = collection!(
    "/api/v2/employees",
    "/api/v2/employees/{id}",
    "employees",
    Employee,
    "employees"
);
const GUESTS: [ApiRoute; 2] = collection!(
    "/api/v2/guests",
    "/api/v2/guests/{id}",
    "guests",
    Guest,
    "guests"
);
const WORKING_HOURS: [ApiRoute; 2] = collection!(
    "/api/v2/working_hours",
    "/api/v2/working_hours/{id}",
    "working_hours",
    WorkingHours,
    "working hours"
);
const APPOINTMENTS: [ApiRoute; 2] = collection!(
    "/api/v2/appointments",
    "/api/v2/appointments/{id}",
    "appointments",
    Appointment,
    "appointments"
);
const INSTALLMENTS: [ApiRoute; 2] = collection!(
    "/api/v2/installments",
    "/api/v2/installments/{id}",
    "installments",
    Installment,
    "installments"
);
const PAYMENTS: [ApiRoute; 2] = collection!(
    "/api/v2/payments",
    "/api/v2/payments/{id}",
    "payments",
    Payment,
    "payments"
);

const OTHERS: [ApiRoute; 13] = [
    ApiRoute {
        method: Method::POST,
        path: "/api/v1/tokens",
        resource: "tokens",
        kind: Kind::Token,
        permission: None,
        summary: "Get a token pair with a user's password, or a new pair with a refresh token (OAuth 2.0 token endpoint)",
        handler: |r| r.to(oauth::token),
    },
    ApiRoute {
        method: Method::POST,
        path: "/api/v1/tokens/revoke",
        resource: "tokens",
        kind: Kind::Revoke,
        permission: None,
        summary: "Revoke a refresh token (its whole sign-in) or an access token (RFC 7009)",
        handler: |r| r.to(oauth::revoke),
    },
    ApiRoute {
        method: Method::POST,
        path: "/api/v1/tokens/introspect",
        resource: "tokens",
        kind: Kind::Introspect,
        permission: None,
        summary: "Whether a token is active now, and what it carries (RFC 7662)",
        handler: |r| r.to(oauth::introspect),
    },
    ApiRoute {
        method: Method::POST,
        path: "/api/v1/users/me/password",
        resource: "users",
        kind: Kind::PasswordChange,
        permission: None,
        summary: "Change the signed-in user's password; their other sign-ins end",
        handler: |r| r.to(me::password_change),
    },
    ApiRoute {
        method: Method::GET,
        path: "/api/v1/auth/check",
        resource: "auth-checks",
        kind: Kind::AuthCheck,
        permission: None,
        summary: "Check that a request's credential holds a permission (for reverse proxies)",
        handler: |r| r.to(v1::auth_check),
    },
    ApiRoute {
        method: Method::GET,
        path: "/api/openapi.json",
        resource: "openapi",
        kind: Kind::OpenApi,
        permission: None,
        summary: "This OpenAPI document",
        handler: |r| r.to(openapi::document),
    },
    ApiRoute {
        method: Method::GET,
        path: "/api/v2/available_slots",
        resource: "available_slots",
        kind: Kind::List,
        permission: p("available_slots", Action::Read),
        summary: "List the free slots of a service on a date (filter[service], filter[date])",
        handler: |r| r.to(v2::slots_list),
    },
    ApiRoute {
        method: Method::GET,
        path: "/api/v2/available_slots/{id}",
        resource: "available_slots",
        kind: Kind::Read,
        permission: p("available_slots", Action::Read),
        summary: "Read a free slot (404 once it is taken)",
        handler: |r| r.to(v2::slot_read),
    },
    ApiRoute {
        method: Method::POST,
        path: "/api/v2/appointments",
        resource: "appointments",
        kind: Kind::Create,
        permission: p("appointments", Action::Create),
        summary: "Book an appointment (marked with the key's Source App)",
        handler: |r| r.to(v2::appointment_create),
    },
    ApiRoute {
        method: Method::PATCH,
        path: "/api/v2/appointments/{id}",
        resource: "appointments",
        kind: Kind::Update,
        permission: p("appointments", Action::Update),
        summary: "Move an appointment, change its employee or notes",
        handler: |r| r.to(v2::appointment_update),
    },
    ApiRoute {
        method: Method::POST,
        path: "/api/v2/appointments/{id}/cancel",
        resource: "appointments",
        kind: Kind::Cancel,
        permission: p("appointments", Action::Delete),
        summary: "Cancel an appointment: it stays, with status cancelled (again is harmless)",
        handler: |r| r.to(v2::appointment_cancel),
    },
    ApiRoute {
        method: Method::POST,
        path: "/api/v2/guests",
        resource: "guests",
        kind: Kind::Create,
        permission: p("guests", Action::Create),
        summary: "Add a guest",
        handler: |r| r.to(v2::guest_create),
    },
    ApiRoute {
        method: Method::PATCH,
        path: "/api/v2/guests/{id}",
        resource: "guests",
        kind: Kind::Update,
        permission: p("guests", Action::Update),
        summary: "Change a guest's details",
        handler: |r| r.to(v2::guest_update),
    },
];

/// Every `/api` route.
pub fn routes() -> impl Iterator<Item = &'static ApiRoute> {
    OTHERS
        .iter()
        .chain(SERVICES.iter())
        .chain(EMPLOYEES.iter())
        .chain(GUESTS.iter())
        .chain(WORKING_HOURS.iter())
        .chain(APPOINTMENTS.iter())
        .chain(INSTALLMENTS.iter())
        .chain(PAYMENTS.iter())
}

/// The permissions of one path's methods, kept as the resource's data: a request
/// finds its route's permission among at most a few methods, never by scanning
/// the route table.
#[derive(Debug)]
struct MethodPermissions(Vec<(Method, Option<Permission>)>);

/// Registers every route, one resource per path, answering 405 for other methods.
/// Paths are relative to the `/api` scope this is configured in.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut by_path: BTreeMap<&'static str, Vec<&'static ApiRoute>> = BTreeMap::new();
    for route in routes() {
        by_path.entry(route.path).or_default().push(route);
    }
    for (path, routes) in by_path {
        let permissions = MethodPermissions(
            routes
                .iter()
                .map(|r| (r.method.clone(), r.permission))
                .collect(),
        );
        let mut resource = web::resource(path.strip_prefix("/api").unwrap_or(path))
            .app_data(permissions)
            .default_service(web::to(method_not_allowed));
        for route in routes {
            resource = resource.route((route.handler)(web::route().method(route.method.clone())));
            // HEAD answers wherever GET does (RFC 9110 §9.3.2).
            if route.method == Method::GET {
                resource = resource.route((route.handler)(web::route().method(Method::HEAD)));
            }
        }
        cfg.service(resource);
    }
    manage::configure(cfg);
    operator::configure(cfg);
}

/// 405 with the path's methods in `Allow` (RFC 9110 §15.5.6).
async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allow = req
        .app_data::<MethodPermissions>()
        .map(|MethodPermissions(methods)| allowed(methods.iter().map(|(m, _)| m)))
        .unwrap_or_default();
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
        "This path does not accept that method.",
    )
    .with_allow(allow))
}

/// The `Allow` value of a path with these methods: HEAD beside GET.
pub fn allowed<'a>(methods: impl Iterator<Item = &'a Method>) -> String {
    let mut names: Vec<&str> = Vec::new();
    for m in methods {
        names.push(m.as_str());
        if *m == Method::GET {
            names.push("HEAD");
        }
    }
    names.join(", ")
}

/// `/api` paths that match no route (a TRACE anywhere is 405: no path takes it).
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.method() == Method::TRACE {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method not allowed",
            "No path accepts TRACE.",
        )
        .with_allow(String::new()));
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "Not found",
        "There is no API route at this path.",
    ))
}

/// The permission the matched route demands.
fn route_permission(req: &HttpRequest) -> Option<Permission> {
    let MethodPermissions(methods) = req.app_data::<MethodPermissions>()?;
    let method = if req.method() == Method::HEAD {
        &Method::GET
    } else {
        req.method()
    };
    methods
        .iter()
        .find(|(m, _)| m == method)
        .and_then(|(_, permission)| *permission)
}

/// A request whose credential holds its route's permission.
#[derive(Debug)]
pub struct Authorized(pub std::sync::Arc<Grant>);

impl FromRequest for Authorized {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            crate::routes::middleware::check_path(req.path()).map_err(|why| {
                let mut detail = format!("{why}.");
                detail[..1].make_ascii_uppercase();
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_path",
                    "Invalid path",
                    detail,
                )
            })?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(ApiError::unavailable)?;
            let Some(permission) = route_permission(&req) else {
                tracing::error!("an /api route without a permission asked for authorization");
                return Err(ApiError::not_found());
            };
            authorize(&req, &state, Some(permission))
                .await
                .map(|verified| Authorized(verified.grant))
        })
    }
}

/// The kind of credential a request carries, as the metrics label it.
fn credential_kind(headers: &actix_web::http::header::HeaderMap) -> &'static str {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return "none";
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("apikey") {
        "api_key"
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if rest.trim_start().starts_with("kw_") {
            "api_key"
        } else {
            "access_token"
        }
    } else {
        "other"
    }
}

/// The credential check of a request: `verify`, with what its answer needs
/// put on the request (a limited key's windows for the RateLimit fields, the
/// credential's usage cell for the counts and the request log), whether it
/// passed or not.
pub async fn authorize(
    req: &HttpRequest,
    state: &AppState,
    permission: Option<crate::domain::scopes::Permission>,
) -> Result<crate::auth::Verified, ApiError> {
    let client = crate::auth::client_ip(req, &state.settings.trusted_proxies);
    let result = state
        .verifier
        .verify(req.headers(), permission, client)
        .await;
    let count = |outcome: &'static str| {
        if let Some(metrics) = &state.metrics {
            metrics.auth_decision(credential_kind(req.headers()), outcome);
        }
    };
    let mut extensions = actix_web::HttpMessage::extensions_mut(req);
    match result {
        Ok(mut verified) => {
            count("allowed");
            if let Some(rate) = verified.rate.take() {
                extensions.insert(rate);
            }
            if let Some(usage) = verified.usage.take() {
                extensions.insert(usage);
            }
            Ok(verified)
        }
        Err(mut refused) => {
            if let Some(usage) = refused.usage.take() {
                extensions.insert(usage);
            }
            let error = ApiError::from(refused.denial);
            count(error.code());
            Err(error)
        }
    }
}

/// A JSON:API document response.
pub fn document(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, JSON_API))
        .body(body.to_string())
}

/// The query parameters, strictly decoded (UTF-8, no control characters).
pub fn query_pairs(req: &HttpRequest) -> Result<Vec<(String, String)>, ApiError> {
    crate::routes::middleware::decode_form(req.query_string().as_bytes()).map_err(|why| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "Invalid query string",
            format!("The query string is invalid: {why}."),
        )
    })
}

/// The one value of the query parameter `name`, if sent. The rule for every
/// surface (forms, queries, JSON bodies): a known field sent twice is a 400,
/// never a silent choice between the two.
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, ApiError> {
    let mut values = pairs
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::bad_parameter(
            name,
            format!("{name} is sent more than once; send it once."),
        ));
    }
    Ok(first)
}

/// Whether `s` can be an id: 1 to `max` characters, none of them a control
/// character (as the OpenAPI document's id schemas say).
pub fn is_id(s: &str, max: usize) -> bool {
    !s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

/// `page[size]` and `page[after]`.
#[derive(Debug, Clone)]
pub struct Page {
    /// How many items, 1 to 100 (25 by default).
    pub size: i64,
    /// The id after which to start.
    pub after: Option<String>,
}

impl Page {
    /// Most items per page.
    pub const MAX: i64 = 100;

    /// Reads the page parameters.
    pub fn from_query(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        let size = match param(pairs, "page[size]")? {
            None => 25,
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=Self::MAX).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_parameter(
                        "page[size]",
                        "page[size] must be a whole number from 1 to 100.",
                    )
                })?,
        };
        let after = match param(pairs, "page[after]")? {
            None => None,
            Some(v) if !is_id(v, 200) => {
                return Err(ApiError::bad_parameter(
                    "page[after]",
                    "page[after] must be the id of the last item of the previous page.",
                ));
            }
            Some(v) => Some(v.to_owned()),
        };
        Ok(Page { size, after })
    }
}

/// A collection document with `self`, `first` and `next` links. `items` is
/// the page read with one more row than asked for: that row says whether a
/// next page exists and is not shown. Serialized straight into the body.
pub fn collection<T: ToResource>(
    path: &str,
    page: &Page,
    items: &[T],
    extra_query: &str,
) -> HttpResponse {
    let size = usize::try_from(page.size).unwrap_or(25);
    let more = items.len() > size;
    let items = &items[..items.len().min(size)];
    let link = |after| PageLink {
        path,
        size: page.size,
        after,
        extra_query,
    };
    let next = items
        .last()
        .filter(|_| more)
        .map(|last| link(Some(last.id())));
    document_of(
        StatusCode::OK,
        &Collection {
            jsonapi: VERSION,
            data: Resources(items),
            links: CollectionLinks {
                this: link(page.after.as_deref()),
                first: link(None),
                next,
            },
            meta: Meta {
                page: PageMeta { size: page.size },
            },
        },
    )
}

/// A single-resource document; a `201 Created` names it in `Location`.
pub fn single<T: ToResource>(status: StatusCode, item: &T) -> HttpResponse {
    let mut response = document_of(
        status,
        &Single {
            jsonapi: VERSION,
            data: item.resource(),
        },
    );
    if status == StatusCode::CREATED
        && let Ok(value) = header::HeaderValue::from_str(&item.location())
    {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A JSON:API document response of a serializable document, written straight
/// into the body.
pub fn document_of(status: StatusCode, body: &impl serde::Serialize) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(bytes) => HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, JSON_API))
            .body(bytes),
        // Only a map with non-string keys or a failing Serialize impl can
        // fail, and no document here has either.
        Err(e) => {
            tracing::error!(error = %e, "a document could not be serialized");
            actix_web::ResponseError::error_response(&ApiError::internal())
        }
    }
}

/// `{"version": "1.1"}`: the JSON:API version every document declares.
#[derive(serde::Serialize)]
struct Version {
    version: &'static str,
}

const VERSION: Version = Version { version: "1.1" };

#[derive(serde::Serialize)]
struct Single<D> {
    jsonapi: Version,
    data: D,
}

#[derive(serde::Serialize)]
#[serde(bound = "")]
struct Collection<'a, T: ToResource> {
    jsonapi: Version,
    data: Resources<'a, T>,
    links: CollectionLinks<'a>,
    meta: Meta,
}

/// The page's resource objects, as an array.
struct Resources<'a, T>(&'a [T]);

impl<T: ToResource> serde::Serialize for Resources<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ToResource::resource))
    }
}

#[derive(serde::Serialize)]
struct CollectionLinks<'a> {
    #[serde(rename = "self")]
    this: PageLink<'a>,
    first: PageLink<'a>,
    next: Option<PageLink<'a>>,
}

#[derive(serde::Serialize)]
struct Meta {
    page: PageMeta,
}

#[derive(serde::Serialize)]
struct PageMeta {
    size: i64,
}

/// A page's link: the collection's path with the page's query.
struct PageLink<'a> {
    path: &'a str,
    size: i64,
    after: Option<&'a str>,
    extra_query: &'a str,
}

impl std::fmt::Display for PageLink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}?page%5Bsize%5D={}", self.path, self.size)?;
        if let Some(after) = self.after {
            write!(f, "&page%5Bafter%5D={}", crate::error::urlencode(after))?;
        }
        if !self.extra_query.is_empty() {
            write!(f, "&{}", self.extra_query)?;
        }
        Ok(())
    }
}

impl serde::Serialize for PageLink<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The most a request document may weigh.
pub const MAX_BODY: usize = 64 * 1024;

const TWICE: &str = "member sent twice";

/// Parses JSON, refusing an object with a member twice: RFC 8259 §4 leaves the
/// meaning open, and serde_json would keep the last one silently.
pub fn strict_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

    struct Strict(Value);
    impl<'de> serde::Deserialize<'de> for Strict {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(StrictVisitor).map(Strict)
        }
    }
    struct StrictVisitor;
    impl<'de> Visitor<'de> for StrictVisitor {
        type Value = Value;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(Strict(v)) = seq.next_element()? {
                items.push(v);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut object = serde_json::Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if object.contains_key(&key) {
                    return Err(de::Error::custom(TWICE));
                }
                let Strict(value) = map.next_value()?;
                object.insert(key, value);
            }
            Ok(Value::Object(object))
        }
    }
    serde_json::from_slice::<Strict>(bytes).map(|Strict(v)| v)
}

/// A JSON:API request document.
#[derive(Debug)]
pub struct JsonApiBody(pub Value);

impl FromRequest for JsonApiBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let media = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        let mut payload = payload.take();
        Box::pin(async move {
            if !matches!(
                media.as_deref(),
                Some("application/vnd.api+json" | "application/json")
            ) {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "Unsupported media type",
                    "Send the document as application/vnd.api+json.",
                ));
            }
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_body",
                        "Invalid body",
                        "The body could not be read.",
                    )
                })?;
                if body.len() + chunk.len() > MAX_BODY {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "Payload too large",
                        "The document is larger than 64 KiB.",
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            let body: Bytes = body.freeze();
            let value = strict_json(&body).map_err(|e| {
                let twice = e.to_string().contains(TWICE);
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    if twice { "duplicate_member" } else { "invalid_json" },
                    if twice { "Duplicate member" } else { "Invalid JSON" },
                    if twice {
                        format!(
                            "A member of an object is sent twice (line {}, column {}); send it once.",
                            e.line(),
                            e.column()
                        )
                    } else {
                        format!(
                            "The body is not valid JSON (line {}, column {}).",
                            e.line(),
                            e.column()
                        )
                    },
                )
            })?;
            Ok(JsonApiBody(value))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_member_sent_twice_is_refused_at_any_depth() {
        assert!(strict_json(br#"{"a":1,"a":2}"#).is_err());
        assert!(strict_json(br#"{"data":{"attributes":{"notes":"x","notes":"y"}}}"#).is_err());
        assert!(strict_json(br#"[{"a":1},{"a":2}]"#).is_ok());
        assert_eq!(
            strict_json(br#"{"a":[1,2.5,"x",null,true],"b":{}}"#).unwrap(),
            serde_json::json!({"a":[1,2.5,"x",null,true],"b":{}})
        );
    }

    proptest! {
        #[test]
        fn strict_parsing_agrees_with_serde_json_on_valid_documents(value in any::<Vec<(String, i64)>>()) {
            let object: serde_json::Map<String, Value> =
                value.into_iter().map(|(k, v)| (k, Value::from(v))).collect();
            let text = Value::Object(object.clone()).to_string();
            prop_assert_eq!(strict_json(text.as_bytes()).unwrap(), Value::Object(object));
        }
    }
}
