//! The management API (`/api/v1/manage/…`): what the console's API keys
//! section, staff and alert settings do, for scripts and infrastructure as
//! code. Documents are JSON:API-like (`{"data": {"type", "id",
//! "attributes"}}`), errors the same JSON:API error documents as `/api/v2`.
//!
//! A request authenticates with an admin API token (`Authorization: Bearer
//! kwa_…`, `services::admin_tokens::authenticate`), which must hold the
//! route's scope; every change goes through the same `services` function as
//! the console's, so the same rules refuse it with the same codes, and is
//! audited as the token's admin, through the token. A POST may carry an
//! `Idempotency-Key`: a retry with the same key and body gets the first
//! answer again instead of making a second app or key.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::JsonApiBody;
use super::error::ApiError;
use crate::clock::{self, Timestamp};
use crate::db::models::admin_token::{self as idempotency, Idempotent};
use crate::db::models::{Actor, ApiKey, App, AuditEvent, AuditFilter};
use crate::domain::manage::{Area, ManageScope};
use crate::domain::{AppId, KeyId};
use crate::services::admin_tokens::{Caller, TokenRefusal};
use crate::services::{self, OpError};
use crate::state::AppState;

/// JSON:API's media type, which the answers carry.
const MEDIA: &str = "application/vnd.api+json";

/// One route of the management API.
#[derive(Debug)]
pub struct ManageRoute {
    pub method: Method,
    /// Path under `/api`, with `{id}` parameters.
    pub path: &'static str,
    /// The scope the token must hold.
    pub scope: ManageScope,
    /// One line for the documentation.
    pub summary: &'static str,
    /// The handler.
    pub handler: fn(actix_web::Route) -> actix_web::Route,
}

const fn scope(area: Area, write: bool) -> ManageScope {
    ManageScope::new(area, write)
}

/// Every route of the management API.
pub static ROUTES: &[ManageRoute] = &[
    ManageRoute {
        method: Method::GET,
        path: "/api/v1/manage/apps",
        scope: scope(Area::Apps, false),
        summary: "List the apps",
        handler: |r| r.to(apps_list),
    },
    ManageRoute {
        method: Method::POST,
        path: "/api/v1/manage/apps",
        scope: scope(Area::Apps, true),
        summary: "Create an app, active, with its details and scopes; its secret is in the answer's meta, once",
        handler: |r| r.to(app_create),
    },
    ManageRoute {
        method: Method::GET,
        path: "/api/v1/manage/apps/{id}",
        scope: scope(Area::Apps, false),
        summary: "Read an app",
        handler: |r| r.to(app_read),
    },
    ManageRoute {
        method: Method::PATCH,
        path: "/api/v1/manage/apps/{id}",
        scope: scope(Area::Apps, true),
        summary: "Change an app's details or scopes",
        handler: |r| r.to(app_update),
    },
    ManageRoute {
        method: Method::DELETE,
        path: "/api/v1/manage/apps/{id}",
        scope: scope(Area::Apps, true),
        summary: "Delete an app without keys",
        handler: |r| r.to(app_delete),
    },
    ManageRoute {
        method: Method::POST,
        path: "/api/v1/manage/apps/{id}/activate",
        scope: scope(Area::Apps, true),
        summary: "Activate an app",
        handler: |r| r.to(app_activate),
    },
    ManageRoute {
        method: Method::POST,
        path: "/api/v1/manage/apps/{id}/inactivate",
        scope: scope(Area::Apps, true),
        summary: "Inactivate an app: none of its keys or tokens work",
        handler: |r| r.to(app_inactivate),
    },
    ManageRoute {
        method: Method::GET,
        path: "/api/v1/manage/apps/{id}/keys",
        scope: scope(Area::Keys, false),
        summary: "List an app's keys",
        handler: |r| r.to(keys_list),
    },
    ManageRoute {
        method: Method::POST,
        path: "/api/v1/manage/apps/{id}/keys",
        scope: scope(Area::Keys, true),
        summary: "Create a key; its token is in the answer's meta, once",
        handler: |r| r.to(key_create),
    },
    ManageRoute {
        method: Method::GET,
        path: "/api/v1/manage/apps/{id}/keys/{key}",
        scope: scope(Area::Keys, false),
        summary: "Read a key (never its token)",
        handler: |r| r.to(key_read),
    },
    ManageRoute {
        method: Method::PATCH,
        path: "/api/v1/manage/apps/{id}/keys/{key}",
        scope: scope(Area::Keys, true),
        summary: "Change a key",
        handler: |r| r.to(key_update),
    },
    ManageRoute {
        method: Method::DELETE,
        path: "/api/v1/manage/apps/{id}/keys/{key}",
        scope: scope(Area::Keys, true),
        summary: "Delete an inactive or expired key",
        handler: |r| r.to(key_delete),
    },
    ManageRoute {
        method: Method::POST,
        path: "/api/v1/manage/apps/{id}/keys/{key}/roll",
        scope: scope(Area::Keys, true),
        summary: "Roll a key: a new key (token in meta, once) replaces it after a grace period",
        handler: |r| r.to(key_roll),
    },
    ManageRoute {
        method: Method::POST,
        path: "/api/v1/manage/apps/{id}/keys/{key}/activate",
        scope: scope(Area::Keys, true),
        summary: "Activate a key",
        handler: |r| r.to(key_activate),
    },
    ManageRoute {
        method: Method::POST,
        path: "/api/v1/manage/apps/{id}/keys/{key}/inactivate",
        scope: scope(Area::Keys, true),
        summary: "Inactivate a key",
        handler: |r| r.to(key_inactivate),
    },
    ManageRoute {
        method: Method::GET,
        path: "/api/v1/manage/audit",
        scope: scope(Area::Audit, false),
        summary: "Read the audit trail, newest first, filtered and paginated",
        handler: |r| r.to(audit_list),
    },
    ManageRoute {
        method: Method::GET,
        path: "/api/v1/manage/staff",
        scope: scope(Area::Staff, false),
        summary: "List the staff",
        handler: |r| r.to(staff_list),
    },
    ManageRoute {
        method: Method::POST,
        path: "/api/v1/manage/staff",
        scope: scope(Area::Staff, true),
        summary: "Add an employee",
        handler: |r| r.to(staff_create),
    },
    ManageRoute {
        method: Method::GET,
        path: "/api/v1/manage/staff/{id}",
        scope: scope(Area::Staff, false),
        summary: "Read an employee",
        handler: |r| r.to(staff_read),
    },
    ManageRoute {
        method: Method::PATCH,
        path: "/api/v1/manage/staff/{id}",
        scope: scope(Area::Staff, true),
        summary: "Change an employee's name or email, or mark them left (active false) or back",
        handler: |r| r.to(staff_update),
    },
    ManageRoute {
        method: Method::GET,
        path: "/api/v1/manage/settings/alerts",
        scope: scope(Area::Settings, false),
        summary: "Read the Expiry of API keys alert settings",
        handler: |r| r.to(alerts_read),
    },
    ManageRoute {
        method: Method::PATCH,
        path: "/api/v1/manage/settings/alerts",
        scope: scope(Area::Settings, true),
        summary: "Change the Expiry of API keys alert settings",
        handler: |r| r.to(alerts_update),
    },
];

/// The scopes of one path's methods, kept as the resource's data.
#[derive(Debug)]
struct RouteScopes(Vec<(Method, ManageScope)>);

/// Registers every route (paths relative to the `/api` scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut by_path: std::collections::BTreeMap<&'static str, Vec<&'static ManageRoute>> =
        std::collections::BTreeMap::new();
    for route in ROUTES {
        by_path.entry(route.path).or_default().push(route);
    }
    for (path, routes) in by_path {
        let scopes = RouteScopes(routes.iter().map(|r| (r.method.clone(), r.scope)).collect());
        let mut resource = web::resource(path.strip_prefix("/api").unwrap_or(path))
            .app_data(scopes)
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

/// The admin API token of the request, checked for the route's scope.
#[derive(Debug)]
pub struct Manager {
    pub caller: Caller,
    pub actor: Actor,
}

pub(super) fn unauthorized(code: &'static str, detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        code,
        "Unauthorized",
        detail.to_owned(),
    )
    .with_bearer_error("invalid_token", None)
}

/// What a token-authenticated request brings: its Bearer token (RFC 6750
/// §2.1), the client's address and its user agent, for the audit record.
pub(super) struct BearerRequest {
    pub token: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Reads [`BearerRequest`]; 401 `missing_credentials` with `hint` when the
/// Authorization header has no Bearer token.
pub(super) fn bearer_request(
    req: &HttpRequest,
    state: &AppState,
    hint: &str,
) -> Result<BearerRequest, ApiError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_owned())
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_credentials",
                "Unauthorized",
                hint.to_owned(),
            )
            .with_bearer_error("invalid_request", None)
        })?;
    let ip = crate::auth::client_ip(req, &state.settings.trusted_proxies).map(|ip| ip.to_string());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(256).collect::<String>());
    Ok(BearerRequest {
        token,
        ip,
        user_agent,
    })
}

impl FromRequest for Manager {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(ApiError::internal)?;
            let wanted = req
                .app_data::<RouteScopes>()
                .and_then(|RouteScopes(s)| {
                    let method = if req.method() == Method::HEAD {
                        Method::GET
                    } else {
                        req.method().clone()
                    };
                    s.iter().find(|(m, _)| *m == method).map(|(_, s)| *s)
                })
                .ok_or_else(ApiError::internal)?;
            let BearerRequest {
                token,
                ip,
                user_agent,
            } = bearer_request(
                &req,
                &state,
                "Send an admin API token: Authorization: Bearer kwa_…",
            )?;
            let digest_key = state.digest_key.clone();
            let address = ip.clone();
            let checked = state
                .db
                .run(move |conn| {
                    services::admin_tokens::authenticate(
                        conn,
                        &token,
                        wanted,
                        &digest_key,
                        address.as_deref(),
                        clock::now(),
                    )
                })
                .await?;
            match checked {
                Ok(caller) => Ok(Manager {
                    actor: caller.actor(ip, user_agent),
                    caller,
                }),
                Err(TokenRefusal::Invalid) => Err(unauthorized(
                    "invalid_token",
                    &TokenRefusal::Invalid.to_string(),
                )),
                Err(TokenRefusal::Expired) => Err(unauthorized(
                    "token_expired",
                    &TokenRefusal::Expired.to_string(),
                )),
                Err(TokenRefusal::Forbidden) => Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    "Forbidden",
                    format!(
                        "This needs the {} scope{}.",
                        wanted.as_str(),
                        if wanted.needs_full_access() {
                            " and a full-access admin"
                        } else {
                            ""
                        }
                    ),
                )
                .with_bearer_error("insufficient_scope", Some(wanted.as_str()))),
            }
        })
    }
}

impl Manager {
    fn org(&self) -> crate::domain::OrgId {
        self.caller.admin.organization_id.clone()
    }
}

/// A JSON:API answer.
pub(super) fn answer(status: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(MEDIA)
        .body(body.to_string())
}

/// Runs a POST once per `Idempotency-Key` (when the request has one): the
/// first answer (a refusal included, but not a server failure) is kept
/// sealed for a day, and a retry with the same key and body gets it again
/// with `Idempotent-Replayed: true`; the same key with another body is
/// refused.
async fn once<F, Fut>(
    req: &HttpRequest,
    state: &AppState,
    manager: &Manager,
    body: &Value,
    run: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: Future<Output = Result<(StatusCode, Value), ApiError>>,
{
    let key = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str() {
            Ok(k)
                if !k.is_empty()
                    && k.len() <= 255
                    && k.bytes().all(|b| (0x21..0x7f).contains(&b)) =>
            {
                Some(k.to_owned())
            }
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_idempotency_key",
                    "Invalid header",
                    "An Idempotency-Key is 1 to 255 visible ASCII characters.",
                )
                .at_header("Idempotency-Key"));
            }
        },
    };
    let Some(key) = key else {
        return run(None)
            .await
            .map(|(status, value)| answer(status, &value));
    };
    let token_id = manager.caller.token.id.clone();
    let hash =
        crate::secrets::sha256_hex(format!("{} {}\n{}", req.method(), req.path(), body).as_bytes());
    let context = format!("idempotency:{token_id}:{key}");
    let (t, k, h) = (token_id.clone(), key.clone(), hash.clone());
    let found = state
        .db
        .run(move |conn| {
            crate::db::write_tx(conn, |conn| {
                idempotency::begin_idempotent(conn, &t, &k, &h, clock::now())
            })
            .map_err(crate::db::DbError::from)
        })
        .await?;
    match found {
        Idempotent::Replay(status, sealed) => {
            let body = state
                .sealing_key
                .open(&sealed, &context)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(ApiError::internal)?;
            return Ok(
                HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
                    .content_type(MEDIA)
                    .insert_header(("Idempotent-Replayed", "true"))
                    .body(body),
            );
        }
        Idempotent::Mismatch => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "Idempotency-Key reused",
                "This Idempotency-Key was sent with another request. Use a new key for a new request.",
            )
            .at_header("Idempotency-Key"));
        }
        Idempotent::InProgress => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_use",
                "Request in progress",
                "The first request with this Idempotency-Key is still running. Retry in a moment.",
            )
            .at_header("Idempotency-Key"));
        }
        Idempotent::Fresh => {}
    }
    // The services' own nonce makes a create safe even if this process dies
    // before the answer is kept: a retry then finds what the first made.
    let nonce = format!(
        "idem-{}",
        &crate::secrets::sha256_hex(context.as_bytes())[..40]
    );
    let result = run(Some(nonce)).await;
    let kept = match &result {
        Ok((status, value)) => Some((status.as_u16(), value.to_string())),
        Err(e) if e.status().is_client_error() => {
            Some((e.status().as_u16(), e.document().to_string()))
        }
        Err(_) => None,
    };
    let (t, k, sealing) = (token_id, key, state.sealing_key.clone());
    state
        .db
        .run(move |conn| {
            match kept {
                Some((status, text)) => idempotency::complete_idempotent(
                    conn,
                    &t,
                    &k,
                    status,
                    &sealing.seal(text.as_bytes(), &context),
                ),
                None => idempotency::release_idempotent(conn, &t, &k),
            }
            .map_err(crate::db::DbError::from)
        })
        .await?;
    result.map(|(status, value)| answer(status, &value))
}

/// The attributes of a request document (`data.attributes`), or a 400.
pub(super) fn attributes(
    body: &Value,
    kind: &str,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    let data = body.get("data").ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_document",
            "Invalid document",
            "Send {\"data\": {\"type\": …, \"attributes\": {…}}}.",
        )
        .at_pointer("/data")
    })?;
    if data.get("type").and_then(Value::as_str) != Some(kind) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "type_mismatch",
            "Type mismatch",
            format!("data.type must be \"{kind}\"."),
        )
        .at_pointer("/data/type"));
    }
    match data.get("attributes") {
        None => Ok(serde_json::Map::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_document",
            "Invalid document",
            "data.attributes must be an object.",
        )
        .at_pointer("/data/attributes")),
    }
}

/// A text attribute (absent is `default`), or a 422 at its pointer.
pub(super) fn text(
    attrs: &serde_json::Map<String, Value>,
    name: &str,
    default: &str,
) -> Result<String, (String, String)> {
    match attrs.get(name) {
        None | Some(Value::Null) => Ok(default.to_owned()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err((
            format!("/data/attributes/{name}"),
            format!("{name} must be a string."),
        )),
    }
}

/// A list of strings (absent is `default`), or a 422 at its pointer.
fn strings(
    attrs: &serde_json::Map<String, Value>,
    name: &str,
    default: Vec<String>,
) -> Result<Vec<String>, (String, String)> {
    match attrs.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                (
                    format!("/data/attributes/{name}"),
                    format!("{name} must be a list of strings."),
                )
            }),
        Some(_) => Err((
            format!("/data/attributes/{name}"),
            format!("{name} must be a list of strings."),
        )),
    }
}

pub(super) fn iso(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| clock::fmt::iso(t).into())
}

fn app_resource(app: &App) -> Value {
    json!({
        "type": "apps",
        "id": app.id,
        "attributes": {
            "name": app.name,
            "uri": app.uri,
            "description": app.description,
            "login_user_type": app.login_user_type,
            "source_app": app.source_app,
            "post_login_redirect_urls": app.post_login_urls(),
            "post_logout_redirect_urls": app.post_logout_urls(),
            "apikey_scopes": app.apikey_permissions().strings(),
            "jwt_scopes": app.jwt_permissions().strings(),
            "status": app.status,
            "secret_generated_at": iso(app.secret_generated_at),
            "created_at": iso(Some(app.created_at)),
        },
        "links": { "self": format!("/api/v1/manage/apps/{}", app.id) },
    })
}

fn key_resource(app_id: &AppId, key: &ApiKey, now: Timestamp) -> Value {
    let rates = key.rate_limits();
    json!({
        "type": "keys",
        "id": key.id,
        "attributes": {
            "name": key.name,
            "description": key.description,
            "masked": key.masked(),
            "status": status_name(key.status(now)),
            "active": key.active,
            "expires_at": iso(key.expires_at),
            "permissions": key.permission_set().strings(),
            "allowed_ips": key.allowlist().entries(),
            "rate_per_second": rates.per_second,
            "rate_per_minute": rates.per_minute,
            "last_used_at": iso(key.last_used_at),
            "created_at": iso(Some(key.created_at)),
        },
        "links": { "self": format!("/api/v1/manage/apps/{app_id}/keys/{}", key.id) },
    })
}

async fn load_app(state: &AppState, manager: &Manager, id: AppId) -> Result<App, ApiError> {
    let org = manager.org();
    state
        .read(move |conn| App::find(conn, &org, &id))
        .await?
        .ok_or_else(ApiError::not_found)
}

/// `GET /api/v1/manage/apps`.
pub async fn apps_list(
    state: web::Data<AppState>,
    manager: Manager,
) -> Result<HttpResponse, ApiError> {
    let org = manager.org();
    let apps = state
        .read(move |conn| App::list_page(conn, &org, None, None, 1000))
        .await?;
    let data: Vec<Value> = apps.iter().map(app_resource).collect();
    Ok(answer(StatusCode::OK, &json!({ "data": data })))
}

/// `GET /api/v1/manage/apps/{id}`.
pub async fn app_read(
    state: web::Data<AppState>,
    manager: Manager,
    path: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    let app = load_app(&state, &manager, path.into_inner()).await?;
    Ok(answer(
        StatusCode::OK,
        &json!({ "data": app_resource(&app) }),
    ))
}

/// 405 with the path's methods in `Allow` (RFC 9110 §15.5.6).
async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let allow = req
        .app_data::<RouteScopes>()
        .map(|RouteScopes(methods)| super::allowed(methods.iter().map(|(m, _)| m)))
        .unwrap_or_default();
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
        "This path does not accept that method.",
    )
    .with_allow(allow))
}

/// The pointer of an app detail's field.
fn detail_problems(errors: &crate::routes::apps::details::DetailsErrors) -> Vec<(String, String)> {
    [
        ("name", &errors.name),
        ("uri", &errors.uri),
        ("description", &errors.description),
        ("login_user_type", &errors.login_user_type),
        ("source_app", &errors.source_app),
        ("post_login_redirect_urls", &errors.post_login),
        ("post_logout_redirect_urls", &errors.post_logout),
    ]
    .into_iter()
    .filter_map(|(field, e)| {
        e.as_ref()
            .map(|e| (format!("/data/attributes/{field}"), e.clone()))
    })
    .collect()
}

/// An app's details from a document; `current` fills what it leaves out.
fn parse_details(
    attrs: &serde_json::Map<String, Value>,
    current: Option<&App>,
) -> Result<crate::db::models::AppDetails, ApiError> {
    use crate::routes::apps::details::{DetailsForm, parse};
    let base = current.map(DetailsForm::from_app).unwrap_or_default();
    let mut problems = Vec::new();
    let mut take = |name: &str, default: &str| {
        text(attrs, name, default).unwrap_or_else(|p| {
            problems.push(p);
            String::new()
        })
    };
    let mut form = DetailsForm {
        name: take("name", &base.name),
        uri: take("uri", &base.uri),
        description: take("description", &base.description),
        login_user_type: take("login_user_type", &base.login_user_type),
        source_app: take("source_app", &base.source_app),
        ..DetailsForm::default()
    };
    for (name, target, default) in [
        (
            "post_login_redirect_urls",
            &mut form.post_login_redirect_urls,
            base.post_login_redirect_urls.clone(),
        ),
        (
            "post_logout_redirect_urls",
            &mut form.post_logout_redirect_urls,
            base.post_logout_redirect_urls.clone(),
        ),
    ] {
        match strings(attrs, name, default) {
            Ok(list) => *target = list,
            Err(p) => problems.push(p),
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    parse(&form).map_err(|errors| ApiError::validation(detail_problems(&errors)))
}

/// An app's two scope lists from a document; `current` fills what it leaves out.
fn parse_scopes(
    attrs: &serde_json::Map<String, Value>,
    current: Option<&App>,
) -> Result<
    (
        crate::domain::scopes::PermissionSet,
        crate::domain::scopes::PermissionSet,
    ),
    ApiError,
> {
    use crate::domain::scopes::PermissionSet;
    let mut problems = Vec::new();
    let mut set = |name: &str, current: Option<PermissionSet>| {
        let default = current.map(|s| s.strings()).unwrap_or_default();
        match strings(attrs, name, default) {
            Ok(list) => PermissionSet::from_submitted(list.iter().map(String::as_str))
                .unwrap_or_else(|e| {
                    problems.push((format!("/data/attributes/{name}"), e));
                    PermissionSet::default()
                }),
            Err(p) => {
                problems.push(p);
                PermissionSet::default()
            }
        }
    };
    let apikey = set("apikey_scopes", current.map(App::apikey_permissions));
    let jwt = set("jwt_scopes", current.map(App::jwt_permissions));
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    Ok((apikey, jwt))
}

/// `POST /api/v1/manage/apps` — the wizard's steps in one transaction: the
/// app is created active, with its scopes and a new secret (in `meta`, once).
pub async fn app_create(
    req: HttpRequest,
    state: web::Data<AppState>,
    manager: Manager,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    once(&req, &state, &manager, &body.0, |nonce| async {
        let attrs = attributes(&body.0, "apps")?;
        let details = parse_details(&attrs, None)?;
        let (apikey, jwt) = parse_scopes(&attrs, None)?;
        services::apps::check_scopes(&apikey, &jwt)?;
        let secret = crate::domain::key_token::generate_app_secret();
        let hash = state
            .hasher
            .hash(secret.expose_secret())
            .await
            .map_err(|_| ApiError::unavailable())?;
        let (org, actor) = (manager.org(), manager.actor.clone());
        let nonce = nonce.unwrap_or_else(crate::secrets::random_token::<16>);
        let app = state
            .op(move |conn| {
                let id = services::apps::create_draft(conn, &org, &actor, &details, &nonce)?;
                services::apps::wizard_scopes(conn, &org, &actor, &id, &apikey, &jwt)?;
                services::apps::wizard_new_secret(conn, &org, &actor, &id, &hash)?;
                services::apps::wizard_secrets_noted(conn, &org, &id)?;
                services::apps::wizard_key_done(conn, &org, &id)?;
                services::apps::wizard_finish(conn, &org, &actor, &id)?;
                services::apps::load(conn, &org, &id)
            })
            .await
            .map_err(already_made)?;
        Ok((
            StatusCode::CREATED,
            json!({ "data": app_resource(&app), "meta": { "secret": secret.expose_secret() } }),
        ))
    })
    .await
}

/// A create retried after its first answer was lost: what the first made
/// exists, and its secret or token was shown once.
fn already_made(e: OpError) -> ApiError {
    match e {
        OpError::AlreadySubmitted(id) => ApiError::new(
            StatusCode::CONFLICT,
            "already_submitted",
            "Already created",
            format!(
                "This request was carried out already (it made {id}); what it returned once is not shown again."
            ),
        ),
        other => other.into(),
    }
}

/// `PATCH /api/v1/manage/apps/{id}` — details and scopes, each optional.
pub async fn app_update(
    state: web::Data<AppState>,
    manager: Manager,
    path: web::Path<AppId>,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    let app = load_app(&state, &manager, path.into_inner()).await?;
    let attrs = attributes(&body.0, "apps")?;
    let details = parse_details(&attrs, Some(&app))?;
    let (apikey, jwt) = parse_scopes(&attrs, Some(&app))?;
    let (org, actor, id) = (manager.org(), manager.actor.clone(), app.id.clone());
    let app = state
        .op(move |conn| {
            services::apps::update_details(conn, &org, &actor, &id, &details)?;
            services::apps::update_scopes(conn, &org, &actor, &id, &apikey, &jwt)?;
            services::apps::load(conn, &org, &id)
        })
        .await?;
    Ok(answer(
        StatusCode::OK,
        &json!({ "data": app_resource(&app) }),
    ))
}

async fn app_set_active(
    state: web::Data<AppState>,
    manager: Manager,
    id: AppId,
    active: bool,
) -> Result<HttpResponse, ApiError> {
    let app = load_app(&state, &manager, id).await?;
    let (org, actor, id) = (manager.org(), manager.actor.clone(), app.id.clone());
    let app = state
        .op(move |conn| {
            services::apps::set_active(conn, &org, &actor, &id, active)?;
            services::apps::load(conn, &org, &id)
        })
        .await?;
    Ok(answer(
        StatusCode::OK,
        &json!({ "data": app_resource(&app) }),
    ))
}

/// `POST /api/v1/manage/apps/{id}/activate`.
pub async fn app_activate(
    state: web::Data<AppState>,
    manager: Manager,
    path: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    app_set_active(state, manager, path.into_inner(), true).await
}

/// `POST /api/v1/manage/apps/{id}/inactivate`.
pub async fn app_inactivate(
    state: web::Data<AppState>,
    manager: Manager,
    path: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    app_set_active(state, manager, path.into_inner(), false).await
}

/// `DELETE /api/v1/manage/apps/{id}` — only an app without keys.
pub async fn app_delete(
    state: web::Data<AppState>,
    manager: Manager,
    path: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    let app = load_app(&state, &manager, path.into_inner()).await?;
    let (org, actor, id) = (manager.org(), manager.actor.clone(), app.id.clone());
    state
        .op(move |conn| services::apps::delete(conn, &org, &actor, &id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

fn status_name(status: crate::db::models::KeyStatus) -> &'static str {
    use crate::db::models::KeyStatus;
    match status {
        KeyStatus::Active => "active",
        KeyStatus::Inactive => "inactive",
        KeyStatus::Expired => "expired",
        KeyStatus::RolledOut => "rolled_out",
    }
}

async fn load_key(
    state: &AppState,
    manager: &Manager,
    app_id: AppId,
    key_id: KeyId,
) -> Result<(App, ApiKey), ApiError> {
    let app = load_app(state, manager, app_id).await?;
    let id = app.id.clone();
    let key = state
        .read(move |conn| ApiKey::find(conn, &id, &key_id))
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((app, key))
}

/// `GET /api/v1/manage/apps/{id}/keys`.
pub async fn keys_list(
    state: web::Data<AppState>,
    manager: Manager,
    path: web::Path<AppId>,
) -> Result<HttpResponse, ApiError> {
    let app = load_app(&state, &manager, path.into_inner()).await?;
    let id = app.id.clone();
    let keys = state
        .read(move |conn| ApiKey::list_for_app(conn, &id))
        .await?;
    let now = clock::now();
    let data: Vec<Value> = keys.iter().map(|k| key_resource(&app.id, k, now)).collect();
    Ok(answer(StatusCode::OK, &json!({ "data": data })))
}

/// `GET /api/v1/manage/apps/{id}/keys/{key}`.
pub async fn key_read(
    state: web::Data<AppState>,
    manager: Manager,
    path: web::Path<(AppId, KeyId)>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, key_id) = path.into_inner();
    let (app, key) = load_key(&state, &manager, app_id, key_id).await?;
    Ok(answer(
        StatusCode::OK,
        &json!({ "data": key_resource(&app.id, &key, clock::now()) }),
    ))
}

/// A key's fields from a document; `current` (an edit) fills what it leaves
/// out, the key policy's defaults fill a new key's.
fn parse_key_fields(
    attrs: &serde_json::Map<String, Value>,
    current: Option<&ApiKey>,
    org: &crate::db::models::Organization,
    now: Timestamp,
) -> Result<services::keys::KeyFields, ApiError> {
    use crate::domain::restrictions::RateField;
    use crate::domain::{Description, IpAllowlist, Name, RateLimits};
    let mut problems: Vec<(String, String)> = Vec::new();
    let at = |name: &str| format!("/data/attributes/{name}");
    let name = text(attrs, "name", current.map_or("", |k| k.name.as_str()))
        .map_err(|p| problems.push(p))
        .ok()
        .and_then(|s| {
            Name::parse(&s)
                .map_err(|e| problems.push((at("name"), e.to_string())))
                .ok()
        });
    let description = text(
        attrs,
        "description",
        current.map_or("", |k| k.description.as_str()),
    )
    .map_err(|p| problems.push(p))
    .ok()
    .and_then(|s| {
        Description::parse(&s)
            .map_err(|e| problems.push((at("description"), e.to_string())))
            .ok()
    });
    let expires_at = match attrs.get("expires_at") {
        None => Ok(current.map_or_else(|| services::keys::default_expiry(org, now), |k| k.own_expiry())),
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map(|t| Some(clock::from_offset(t)))
            .map_err(|_| (at("expires_at"), "expires_at must be an RFC 3339 date and time, such as 2027-01-31T12:00:00Z, or null for never.".to_owned())),
        Some(_) => Err((at("expires_at"), "expires_at must be a string or null.".to_owned())),
    }
    .map_err(|p| problems.push(p))
    .ok();
    let active = match attrs.get("active") {
        None => Some(current.is_none_or(|k| k.active)),
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            problems.push((at("active"), "active must be true or false.".to_owned()));
            None
        }
    };
    let permissions = strings(
        attrs,
        "permissions",
        current
            .map(|k| k.permission_set().strings())
            .unwrap_or_default(),
    )
    .map_err(|p| problems.push(p))
    .ok()
    .and_then(|list| {
        crate::domain::scopes::PermissionSet::from_submitted(list.iter().map(String::as_str))
            .map_err(|e| problems.push((at("permissions"), e)))
            .ok()
    });
    let allowed_ips = strings(
        attrs,
        "allowed_ips",
        current.map(|k| k.allowlist().entries()).unwrap_or_default(),
    )
    .map_err(|p| problems.push(p))
    .ok()
    .and_then(|list| {
        IpAllowlist::parse(&list.join(" "))
            .map_err(|e| problems.push((at("allowed_ips"), e.to_string())))
            .ok()
    });
    let defaults = current.map_or_else(
        || services::keys::default_rate_limits(org),
        ApiKey::rate_limits,
    );
    let mut rate = |name: &str, default: Option<u32>| match attrs.get(name) {
        None => Some(default.map(|n| n.to_string()).unwrap_or_default()),
        Some(Value::Null) => Some(String::new()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            problems.push((at(name), format!("{name} must be a whole number or null.")));
            None
        }
    };
    let per_second = rate("rate_per_second", defaults.per_second);
    let per_minute = rate("rate_per_minute", defaults.per_minute);
    let rate_limits = match (per_second, per_minute) {
        (Some(s), Some(m)) => RateLimits::parse(&s, &m)
            .map_err(|(field, e)| {
                let name = match field {
                    RateField::PerSecond => "rate_per_second",
                    RateField::PerMinute => "rate_per_minute",
                };
                problems.push((at(name), e.to_string()));
            })
            .ok(),
        _ => None,
    };
    match (
        name,
        description,
        expires_at,
        active,
        permissions,
        allowed_ips,
        rate_limits,
    ) {
        (
            Some(name),
            Some(description),
            Some(expires_at),
            Some(active),
            Some(permissions),
            Some(allowed_ips),
            Some(rate_limits),
        ) if problems.is_empty() => Ok(services::keys::KeyFields {
            name,
            description,
            expires_at,
            active,
            permissions,
            allowed_ips,
            rate_limits,
        }),
        _ => Err(ApiError::validation(problems)),
    }
}

async fn organization(
    state: &AppState,
    manager: &Manager,
) -> Result<crate::db::models::Organization, ApiError> {
    let org = manager.org();
    Ok(state
        .read(move |conn| crate::db::models::Organization::find_by_id(conn, &org))
        .await?)
}

/// `POST /api/v1/manage/apps/{id}/keys` — the token is in `meta`, once.
pub async fn key_create(
    req: HttpRequest,
    state: web::Data<AppState>,
    manager: Manager,
    path: web::Path<AppId>,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    let app = load_app(&state, &manager, path.into_inner()).await?;
    once(&req, &state, &manager, &body.0, |nonce| async {
        let attrs = attributes(&body.0, "keys")?;
        let org = organization(&state, &manager).await?;
        let fields = parse_key_fields(&attrs, None, &org, clock::now())?;
        let (org_id, actor, app_id, digest_key) =
            (manager.org(), manager.actor.clone(), app.id.clone(), state.digest_key.clone());
        let (key, token) = state
            .op(move |conn| {
                services::keys::create(conn, &org_id, &actor, &app_id, &fields, nonce.as_deref(), &digest_key)
            })
            .await
            .map_err(already_made)?;
        Ok((
            StatusCode::CREATED,
            json!({ "data": key_resource(&app.id, &key, clock::now()), "meta": { "token": token.expose_secret() } }),
        ))
    })
    .await
}

/// `PATCH /api/v1/manage/apps/{id}/keys/{key}`.
pub async fn key_update(
    state: web::Data<AppState>,
    manager: Manager,
    path: web::Path<(AppId, KeyId)>,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    let (app_id, key_id) = path.into_inner();
    let (app, key) = load_key(&state, &manager, app_id, key_id).await?;
    let attrs = attributes(&body.0, "keys")?;
    let org = organization(&state, &manager).await?;
    let fields = parse_key_fields(&attrs, Some(&key), &org, clock::now())?;
    let (org_id, actor, a, k) = (
        manager.org(),
        manager.actor.clone(),
        app.id.clone(),
        key.id.clone(),
    );
    let key = state
        .op(move |conn| {
            services::keys::edit(conn, &org_id, &actor, &a, &k, &fields)?;
            services::keys::load(conn, &a, &k)
        })
        .await?;
    Ok(answer(
        StatusCode::OK,
        &json!({ "data": key_resource(&app.id, &key, clock::now()) }),
    ))
}

async fn key_set_active(
    state: web::Data<AppState>,
    manager: Manager,
    (app_id, key_id): (AppId, KeyId),
    active: bool,
) -> Result<HttpResponse, ApiError> {
    let (app, key) = load_key(&state, &manager, app_id, key_id).await?;
    let (org_id, actor, a, k) = (
        manager.org(),
        manager.actor.clone(),
        app.id.clone(),
        key.id.clone(),
    );
    let key = state
        .op(move |conn| {
            services::keys::set_active(conn, &org_id, &actor, &a, &k, active)?;
            services::keys::load(conn, &a, &k)
        })
        .await?;
    Ok(answer(
        StatusCode::OK,
        &json!({ "data": key_resource(&app.id, &key, clock::now()) }),
    ))
}

/// `POST /api/v1/manage/apps/{id}/keys/{key}/activate`.
pub async fn key_activate(
    state: web::Data<AppState>,
    manager: Manager,
    path: web::Path<(AppId, KeyId)>,
) -> Result<HttpResponse, ApiError> {
    key_set_active(state, manager, path.into_inner(), true).await
}

/// `POST /api/v1/manage/apps/{id}/keys/{key}/inactivate`.
pub async fn key_inactivate(
    state: web::Data<AppState>,
    manager: Manager,
    path: web::Path<(AppId, KeyId)>,
) -> Result<HttpResponse, ApiError> {
    key_set_active(state, manager, path.into_inner(), false).await
}

/// `DELETE /api/v1/manage/apps/{id}/keys/{key}` — only an inactive or expired key.
pub async fn key_delete(
    state: web::Data<AppState>,
    manager: Manager,
    path: web::Path<(AppId, KeyId)>,
) -> Result<HttpResponse, ApiError> {
    let (app_id, key_id) = path.into_inner();
    let (app, key) = load_key(&state, &manager, app_id, key_id).await?;
    let (org_id, actor, a, k) = (
        manager.org(),
        manager.actor.clone(),
        app.id.clone(),
        key.id.clone(),
    );
    state
        .op(move |conn| services::keys::delete(conn, &org_id, &actor, &a, &k))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/manage/apps/{id}/keys/{key}/roll` — `grace_hours` (0 to
/// 720, 24 by default) and `grace_starts` (`now` or `first_use`, the default)
/// as the console's Roll key form; the new key's token is in `meta`, once.
pub async fn key_roll(
    req: HttpRequest,
    state: web::Data<AppState>,
    manager: Manager,
    path: web::Path<(AppId, KeyId)>,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    let (app_id, key_id) = path.into_inner();
    let (app, key) = load_key(&state, &manager, app_id, key_id).await?;
    once(&req, &state, &manager, &body.0, |_| async {
        let attrs = attributes(&body.0, "keys")?;
        let hours = match attrs.get("grace_hours") {
            None => 24,
            Some(v) => v
                .as_i64()
                .filter(|h| (0..=services::keys::MAX_GRACE_HOURS).contains(h))
                .ok_or_else(|| {
                    ApiError::validation(vec![(
                        "/data/attributes/grace_hours".to_owned(),
                        format!(
                            "grace_hours must be a whole number from 0 to {}.",
                            services::keys::MAX_GRACE_HOURS
                        ),
                    )])
                })?,
        };
        let on_first_use = match attrs.get("grace_starts").and_then(Value::as_str) {
            None if !attrs.contains_key("grace_starts") => true,
            Some("first_use") => true,
            Some("now") => false,
            _ => {
                return Err(ApiError::validation(vec![(
                    "/data/attributes/grace_starts".to_owned(),
                    "grace_starts must be \"now\" or \"first_use\".".to_owned(),
                )]));
            }
        };
        let grace = services::keys::Grace {
            duration: time::Duration::hours(hours),
            on_first_use,
        };
        let (org_id, actor, a, k, digest_key) = (
            manager.org(),
            manager.actor.clone(),
            app.id.clone(),
            key.id.clone(),
            state.digest_key.clone(),
        );
        let rolled = state
            .op(move |conn| services::keys::roll(conn, &org_id, &actor, &a, &k, grace, &digest_key))
            .await?;
        let now = clock::now();
        Ok((
            StatusCode::CREATED,
            json!({
                "data": key_resource(&app.id, &rolled.new, now),
                "included": [key_resource(&app.id, &rolled.old, now)],
                "meta": { "token": rolled.token.expose_secret(), "replaces": rolled.old.id },
            }),
        ))
    })
    .await
}

/// `GET /api/v1/manage/audit` — `filter[actor]`, `filter[action]`,
/// `filter[app]`, `filter[from]`, `filter[until]` (RFC 3339), `page[size]`
/// (1–200, 50) and `page[before]` (the cursor of the last page's `links.next`).
pub async fn audit_list(
    req: HttpRequest,
    state: web::Data<AppState>,
    manager: Manager,
) -> Result<HttpResponse, ApiError> {
    let query: Vec<(String, String)> = serde_html_form::from_str(req.query_string())
        .map_err(|_| ApiError::bad_parameter("query", "The query string could not be read."))?;
    let mut filter = AuditFilter::default();
    let mut size: i64 = 50;
    let mut before: Option<(Timestamp, String)> = None;
    let time_of = |name: &str, raw: &str| {
        time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
            .map(clock::from_offset)
            .map_err(|_| {
                ApiError::bad_parameter(name, format!("{name} must be an RFC 3339 date and time."))
            })
    };
    for (name, value) in &query {
        match name.as_str() {
            "filter[actor]" => filter.actor = Some(value.to_lowercase()),
            "filter[action]" => {
                filter.action = Some(crate::db::models::Action::parse(value).ok_or_else(|| {
                    ApiError::bad_parameter(
                        name,
                        "Unknown action: see the audit trail's action names.",
                    )
                })?);
            }
            "filter[app]" => filter.app_id = Some(AppId::from(value.as_str())),
            "filter[from]" => filter.from = Some(time_of(name, value)?),
            "filter[until]" => filter.until = Some(time_of(name, value)?),
            "page[size]" => {
                size = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=200).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_parameter(name, "page[size] must be from 1 to 200.")
                    })?;
            }
            "page[before]" => {
                before = Some(crate::routes::page::parse_cursor(value).ok_or_else(|| {
                    ApiError::bad_parameter(name, "page[before] must be a cursor from links.next.")
                })?);
            }
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
    if !manager
        .caller
        .admin
        .role()
        .eq(&crate::db::models::Role::Full)
    {
        filter.limited_to = Some((
            manager.caller.admin.id.clone(),
            manager.caller.admin.email.clone(),
        ));
    }
    let org = manager.org();
    let records = state
        .read(move |conn| {
            AuditEvent::search(
                conn,
                &org,
                &filter,
                before.as_ref().map(|(t, id)| (*t, id.as_str())),
                size + 1,
            )
        })
        .await?;
    let more = records.len() as i64 > size;
    let shown = &records[..records.len().min(usize::try_from(size).unwrap_or(50))];
    let data: Vec<Value> = shown
        .iter()
        .map(|r| {
            json!({
                "type": "audit_events",
                "id": r.id,
                "attributes": {
                    "occurred_at": clock::fmt::iso(r.occurred_at),
                    "actor_id": r.actor_id,
                    "actor": r.actor_label,
                    "via": r.via,
                    "action": r.action,
                    "target_type": r.target_type,
                    "target_id": r.target_id,
                    "target": r.target_label,
                    "app_id": r.app_id,
                    "ip": r.ip,
                    "changes": serde_json::from_str::<Value>(&r.changes).unwrap_or(Value::Null),
                },
            })
        })
        .collect();
    let mut links = serde_json::Map::new();
    if more && let Some(last) = shown.last() {
        let cursor = crate::routes::page::cursor(last.occurred_at, &last.id);
        let mut next: Vec<(String, String)> = query
            .into_iter()
            .filter(|(n, _)| n != "page[before]")
            .collect();
        next.push(("page[before]".to_owned(), cursor));
        links.insert(
            "next".to_owned(),
            format!(
                "/api/v1/manage/audit?{}",
                serde_html_form::to_string(&next).unwrap_or_default()
            )
            .into(),
        );
    }
    Ok(answer(
        StatusCode::OK,
        &json!({ "data": data, "links": links }),
    ))
}

fn staff_resource(e: &crate::db::models::platform::Employee) -> Value {
    json!({
        "type": "staff",
        "id": e.id,
        "attributes": {
            "name": e.name,
            "email": e.email,
            "active": e.active,
            "created_at": iso(Some(e.created_at)),
        },
        "links": { "self": format!("/api/v1/manage/staff/{}", e.id) },
    })
}

/// `GET /api/v1/manage/staff`.
pub async fn staff_list(
    state: web::Data<AppState>,
    manager: Manager,
) -> Result<HttpResponse, ApiError> {
    let org = manager.org();
    let staff = state
        .read(move |conn| crate::db::models::platform::Employee::list_all(conn, &org))
        .await?;
    let data: Vec<Value> = staff.iter().map(staff_resource).collect();
    Ok(answer(StatusCode::OK, &json!({ "data": data })))
}

async fn load_employee(
    state: &AppState,
    manager: &Manager,
    id: crate::domain::EmployeeId,
) -> Result<crate::db::models::platform::Employee, ApiError> {
    let org = manager.org();
    state
        .read(move |conn| crate::db::models::platform::Employee::find(conn, &org, &id))
        .await?
        .ok_or_else(ApiError::not_found)
}

/// `GET /api/v1/manage/staff/{id}`.
pub async fn staff_read(
    state: web::Data<AppState>,
    manager: Manager,
    path: web::Path<crate::domain::EmployeeId>,
) -> Result<HttpResponse, ApiError> {
    let employee = load_employee(&state, &manager, path.into_inner()).await?;
    Ok(answer(
        StatusCode::OK,
        &json!({ "data": staff_resource(&employee) }),
    ))
}

/// An employee's name and email from a document; `current` fills what it
/// leaves out.
fn parse_employee(
    attrs: &serde_json::Map<String, Value>,
    current: Option<&crate::db::models::platform::Employee>,
) -> Result<(crate::domain::Name, crate::domain::EmailAddress), ApiError> {
    let mut problems = Vec::new();
    let at = |name: &str| format!("/data/attributes/{name}");
    let name = text(attrs, "name", current.map_or("", |e| e.name.as_str()))
        .map_err(|p| problems.push(p))
        .ok()
        .and_then(|s| {
            crate::domain::Name::parse(&s)
                .map_err(|e| problems.push((at("name"), e.to_string())))
                .ok()
        });
    let email = text(attrs, "email", current.map_or("", |e| e.email.as_str()))
        .map_err(|p| problems.push(p))
        .ok()
        .and_then(|s| {
            crate::domain::EmailAddress::parse(&s)
                .map_err(|e| problems.push((at("email"), e.to_string())))
                .ok()
        });
    match (name, email) {
        (Some(name), Some(email)) if problems.is_empty() => Ok((name, email)),
        _ => Err(ApiError::validation(problems)),
    }
}

/// `POST /api/v1/manage/staff`.
pub async fn staff_create(
    req: HttpRequest,
    state: web::Data<AppState>,
    manager: Manager,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    once(&req, &state, &manager, &body.0, |_| async {
        let attrs = attributes(&body.0, "staff")?;
        let (name, email) = parse_employee(&attrs, None)?;
        let (org, actor) = (manager.org(), manager.actor.clone());
        let employee = state
            .op(move |conn| services::staff::add(conn, &org, &actor, &name, &email))
            .await?;
        Ok((
            StatusCode::CREATED,
            json!({ "data": staff_resource(&employee) }),
        ))
    })
    .await
}

/// `PATCH /api/v1/manage/staff/{id}`.
pub async fn staff_update(
    state: web::Data<AppState>,
    manager: Manager,
    path: web::Path<crate::domain::EmployeeId>,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    let employee = load_employee(&state, &manager, path.into_inner()).await?;
    let attrs = attributes(&body.0, "staff")?;
    let (name, email) = parse_employee(&attrs, Some(&employee))?;
    let active = match attrs.get("active") {
        None => employee.active,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::validation(vec![(
                "/data/attributes/active".to_owned(),
                "active must be true or false.".to_owned(),
            )]));
        }
    };
    let (org, actor, id) = (manager.org(), manager.actor.clone(), employee.id.clone());
    let employee = state
        .op(move |conn| {
            services::staff::edit(conn, &org, &actor, &id, &name, &email)?;
            services::staff::set_active(conn, &org, &actor, &id, active)?;
            crate::db::models::platform::Employee::find(conn, &org, &id)?.ok_or(OpError::NotFound)
        })
        .await?;
    Ok(answer(
        StatusCode::OK,
        &json!({ "data": staff_resource(&employee) }),
    ))
}

async fn alerts_document(state: &AppState, manager: &Manager) -> Result<Value, ApiError> {
    let org = manager.org();
    let (organization, recipients) = state
        .read(move |conn| {
            Ok((
                crate::db::models::Organization::find_by_id(conn, &org)?,
                crate::db::models::alert::recipient_ids(conn, &org)?,
            ))
        })
        .await?;
    let thresholds =
        crate::domain::settings::Thresholds::from_stored(&organization.alert_thresholds);
    Ok(json!({ "data": {
        "type": "alert_settings",
        "id": organization.id,
        "attributes": {
            "enabled": organization.alerts_enabled,
            "thresholds": thresholds.days(),
            "recipients": recipients,
        },
    } }))
}

/// `GET /api/v1/manage/settings/alerts`.
pub async fn alerts_read(
    state: web::Data<AppState>,
    manager: Manager,
) -> Result<HttpResponse, ApiError> {
    Ok(answer(
        StatusCode::OK,
        &alerts_document(&state, &manager).await?,
    ))
}

/// `PATCH /api/v1/manage/settings/alerts` — `enabled`, `thresholds` (days
/// before expiry) and `recipients` (employee ids), each optional.
pub async fn alerts_update(
    state: web::Data<AppState>,
    manager: Manager,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    use crate::domain::settings::Thresholds;
    let attrs = attributes(&body.0, "alert_settings")?;
    let current = alerts_document(&state, &manager).await?;
    let now = &current["data"]["attributes"];
    let mut problems = Vec::new();
    let enabled = match attrs.get("enabled") {
        None => now["enabled"].as_bool().unwrap_or(false),
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            problems.push((
                "/data/attributes/enabled".to_owned(),
                "enabled must be true or false.".to_owned(),
            ));
            false
        }
    };
    let thresholds = match attrs.get("thresholds").unwrap_or(&now["thresholds"]) {
        Value::Array(items) if items.iter().all(Value::is_u64) => {
            let text = items
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            Thresholds::parse(&text)
                .map_err(|e| {
                    problems.push(("/data/attributes/thresholds".to_owned(), e.to_string()))
                })
                .ok()
        }
        _ => {
            problems.push((
                "/data/attributes/thresholds".to_owned(),
                "thresholds must be a list of whole numbers of days.".to_owned(),
            ));
            None
        }
    };
    let current_recipients: Vec<String> = now["recipients"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let recipients = strings(&attrs, "recipients", current_recipients)
        .map_err(|p| problems.push(p))
        .unwrap_or_default();
    let Some(thresholds) = thresholds.filter(|_| problems.is_empty()) else {
        return Err(ApiError::validation(problems));
    };
    let ids: Vec<crate::domain::EmployeeId> = recipients
        .iter()
        .map(|r| crate::domain::EmployeeId::from(r.as_str()))
        .collect();
    let (org, actor) = (manager.org(), manager.actor.clone());
    state
        .op(move |conn| {
            services::organization::update_alerts(conn, &org, &actor, enabled, &thresholds, &ids)
        })
        .await?;
    Ok(answer(
        StatusCode::OK,
        &alerts_document(&state, &manager).await?,
    ))
}
