//! The OAuth 2.0 endpoints of an app's users' tokens: the token endpoint
//! (`POST /api/v1/tokens`, RFC 6749 §3.2: the authorization code grant §4.1.3
//! with PKCE (RFC 7636) and OpenID Connect's ID token, the password grant
//! §4.3 and the refresh grant §6), revocation (`POST /api/v1/tokens/revoke`, RFC 7009) and
//! introspection (`POST /api/v1/tokens/introspect`, RFC 7662).
//!
//! The client is an app, authenticated by its Application ID and Secret
//! (RFC 6749 §2.3.1), by HTTP Basic or in the body, never both. A public
//! client (§2.1: an External CMA, External Webstore or Bot app, whose code
//! runs where its users are) may name itself by `client_id` alone for the
//! code and refresh grants and for revocation: PKCE and the refresh token's
//! rotation stand in for the secret it cannot keep. Parameters come
//! as `application/x-www-form-urlencoded` (the standard's) or as a JSON object;
//! each at most once (§3.1), empty ones as if omitted, unknown ones ignored.
//! Refusals are the standard's JSON errors (§5.2), never a JSON:API document,
//! and no answer is cached (§5.1: `Cache-Control: no-store`).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use crate::auth::Denial;
use crate::auth::password::HashError;
use crate::auth::verifier::clients::ClientDenial;
use crate::clock;
use crate::db::models::platform::{Employee, Guest};
use crate::db::models::{Actor, App, AppStatus, UserCredential};
use crate::domain::oauth::Scope;
use crate::domain::scopes::{Permission, PermissionSet};
use crate::domain::{EmailAddress, LoginUserType, UserRef};
use crate::routes::extract;
use crate::services::hosted::{self, Exchange, Exchanged};
use crate::services::sign_in::{Account, Verdict};
use crate::services::tokens::{self, NewSignIn, Refreshed, TokenPair};
use crate::services::{self, OpError};
use crate::state::AppState;

/// The most the parameters of one request may weigh.
const MAX_PARAMS: usize = 16 * 1024;
/// The refusal of a user's credentials, whatever was wrong.
const BAD_CREDENTIALS: &str = "The username or password is incorrect.";

/// A refusal of an OAuth endpoint (RFC 6749 §5.2, RFC 7009 §2.2.1).
#[derive(Debug, Clone)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<i64>,
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.error)
    }
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// §5.2: a failed client authentication is a 401, with the Basic challenge.
    fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    fn retry_after(mut self, seconds: i64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// The server cannot answer now: retry.
    fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The request could not be handled right now. Retry shortly.",
        )
        .retry_after(2)
    }

    /// The machine-readable `error`, for tests and logs.
    pub fn error(&self) -> &'static str {
        self.error
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        no_store(&mut response);
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="keyward""#),
            ));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response
            .content_type(super::error::JSON_UTF8)
            .body(json!({ "error": self.error, "error_description": self.description }).to_string())
    }
}

/// §5.1: token answers are never cached.
fn no_store(response: &mut actix_web::HttpResponseBuilder) {
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
}

impl From<OpError> for OAuthError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Invalid { code, message, .. } => match code {
                "invalid_scope" => Self::new(StatusCode::BAD_REQUEST, "invalid_scope", message),
                "unauthorized_client" => {
                    Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", message)
                }
                _ => Self::invalid_grant(message),
            },
            OpError::Db(e) if e.is_unavailable() => Self::unavailable(),
            other => {
                tracing::error!(error = %other, "a token request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "An unexpected error occurred; it has been logged.",
                )
            }
        }
    }
}

impl From<crate::db::DbError> for OAuthError {
    fn from(e: crate::db::DbError) -> Self {
        OpError::Db(e).into()
    }
}

/// A request's parameters, each once.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, SecretString)>);

impl Params {
    /// Every parameter sent with a value, in the order sent.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.expose_secret()))
    }

    /// The value of `name`, if sent with a value.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.expose_secret())
    }

    fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("The {name} parameter is missing.")))
    }
}

/// The parameters these endpoints know; any other is ignored, whatever it
/// holds (RFC 6749 §3.1: "MUST ignore unrecognized request parameters").
const KNOWN: [&str; 12] = [
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "username",
    "password",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "token",
    "token_type_hint",
];

/// The known parameters of a form, decoded: each value UTF-8 without a
/// control character. Unknown names are skipped before their value is read.
fn decode_known_form(body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let decode = |bytes: &[u8]| -> Option<String> {
        let plus_as_space: Vec<u8> = bytes
            .iter()
            .map(|b| if *b == b'+' { b' ' } else { *b })
            .collect();
        percent_encoding::percent_decode(&plus_as_space)
            .decode_utf8()
            .ok()
            .map(std::borrow::Cow::into_owned)
    };
    let mut pairs = Vec::new();
    for part in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match part.iter().position(|b| *b == b'=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &[][..]),
        };
        let Some(name) = decode(name).filter(|n| KNOWN.contains(&n.as_str())) else {
            continue;
        };
        let value = decode(value)
            .filter(|v| !crate::domain::has_control_chars(v))
            .ok_or_else(|| {
                OAuthError::invalid_request(format!(
                    "The {name} parameter is not UTF-8 text without control characters."
                ))
            })?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// Reads the parameters of a form or a JSON object (RFC 6749 §3.1–3.2):
/// each known name at most once, empty values as if omitted, unknown names
/// ignored.
pub fn parse_params(content_type: Option<&str>, body: &[u8]) -> Result<Params, OAuthError> {
    if body.len() > MAX_PARAMS {
        return Err(OAuthError::invalid_request(
            "The parameters weigh more than 16 KiB.",
        ));
    }
    let media = content_type
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    let pairs: Vec<(String, String)> = match media.as_deref() {
        Some("application/x-www-form-urlencoded") => decode_known_form(body)?,
        Some("application/json") => {
            let Ok(Value::Object(object)) = super::strict_json(body) else {
                return Err(OAuthError::invalid_request(
                    "The body must be one JSON object of strings, each member once.",
                ));
            };
            let mut pairs = Vec::with_capacity(object.len());
            for (name, value) in object {
                if !KNOWN.contains(&name.as_str()) {
                    continue;
                }
                match value {
                    Value::String(s) if !crate::domain::has_control_chars(&s) => {
                        pairs.push((name, s));
                    }
                    Value::Null => {}
                    _ => {
                        return Err(OAuthError::invalid_request(format!(
                            "The {} member must be a string.",
                            name.chars().take(40).collect::<String>()
                        )));
                    }
                }
            }
            pairs
        }
        _ => {
            return Err(OAuthError::invalid_request(
                "Send the parameters as application/x-www-form-urlencoded (or as a JSON object).",
            ));
        }
    };
    let mut params = Params::default();
    for (name, value) in pairs {
        if params.0.iter().any(|(k, _)| *k == name) {
            return Err(OAuthError::invalid_request(format!(
                "The {} parameter is sent more than once; send it once.",
                name.chars().take(40).collect::<String>()
            )));
        }
        if !value.is_empty() {
            params.0.push((name, SecretString::from(value)));
        }
    }
    Ok(params)
}

/// The client's Application ID and Secret: by HTTP Basic (RFC 6749 §2.3.1,
/// each part form-encoded) or as `client_id` and `client_secret`, never both.
pub fn client_credentials(
    authorization: Option<&[u8]>,
    params: &Params,
) -> Result<(String, Option<SecretString>), OAuthError> {
    let in_body = (params.get("client_id"), params.get("client_secret"));
    let Some(value) = authorization else {
        return match in_body {
            (Some(id), secret) => Ok((
                id.to_owned(),
                secret.map(|s| SecretString::from(s.to_owned())),
            )),
            _ => Err(OAuthError::invalid_client(
                "Authenticate the app: its Application ID and Secret by HTTP Basic, or as client_id and client_secret.",
            )),
        };
    };
    let text = std::str::from_utf8(value)
        .map_err(|_| OAuthError::invalid_client("The Authorization header is not readable."))?;
    let (scheme, encoded) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "Authenticate the app with HTTP Basic (its Application ID and Secret).",
        ));
    }
    if in_body.1.is_some() {
        return Err(OAuthError::invalid_request(
            "Authenticate the app one way only: HTTP Basic or client_secret, not both.",
        ));
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| OAuthError::invalid_client("The Basic credentials are not valid base64."))?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(|| OAuthError::invalid_client("The Basic credentials have no ':'."))?;
    let form = |s: &str| {
        crate::routes::middleware::decode_form(format!("v={s}").as_bytes())
            .ok()
            .and_then(|mut p| p.pop())
            .map(|(_, v)| v)
            .ok_or_else(|| OAuthError::invalid_client("The Basic credentials are not readable."))
    };
    let (id, secret) = (form(id)?, form(secret)?);
    if in_body.0.is_some_and(|body_id| body_id != id) {
        return Err(OAuthError::invalid_request(
            "client_id differs from the Application ID of the Basic credentials.",
        ));
    }
    Ok((id, Some(SecretString::from(secret))))
}

/// A request of one of these endpoints, read: its parameters and the
/// authenticated client.
struct ClientRequest {
    params: Params,
    app: Arc<App>,
    actor: Actor,
}

/// The body, at most [`MAX_PARAMS`] bytes of it.
async fn read_body(mut payload: web::Payload) -> Result<Bytes, OAuthError> {
    use futures_util::StreamExt;
    let mut body = actix_web::web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| OAuthError::invalid_request("The body could not be read."))?;
        if body.len() + chunk.len() > MAX_PARAMS {
            return Err(OAuthError::invalid_request(
                "The parameters weigh more than 16 KiB.",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// The request's parameters.
fn params_of(req: &HttpRequest, body: &Bytes) -> Result<Params, OAuthError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    parse_params(content_type, body)
}

/// Authenticates the client of a request with these parameters; with
/// `public_allowed`, a public client may name itself without a secret.
async fn authenticated(
    req: &HttpRequest,
    state: &AppState,
    params: Params,
    public_allowed: bool,
) -> Result<ClientRequest, OAuthError> {
    let mut authorization = req.headers().get_all(header::AUTHORIZATION);
    let first = authorization.next().map(HeaderValue::as_bytes);
    if authorization.next().is_some() {
        return Err(OAuthError::invalid_request(
            "Send exactly one Authorization header.",
        ));
    }
    let (client_id, secret) = client_credentials(first, &params)?;
    let client = crate::auth::client_ip(req, &state.settings.trusted_proxies);
    if state.verifier.too_many_failures(client) {
        return Err(OAuthError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "invalid_client",
            "Too many failed attempts came from this client. Wait a minute.",
        )
        .retry_after(60));
    }
    let Some(secret) = secret else {
        let app = public_client(state, &client_id, public_allowed).await;
        let app = app.inspect_err(|e| {
            if e.error == "invalid_client" {
                state.verifier.note_failure(client);
            }
        })?;
        let actor = extract::actor(req, None, &format!("app {}", app.name));
        return Ok(ClientRequest { params, app, actor });
    };
    let app = match state
        .verifier
        .authenticate_client(&state.hasher, &client_id, secret.expose_secret())
        .await
    {
        Ok(app) => app,
        Err(ClientDenial::Invalid) => {
            state.verifier.note_failure(client);
            return Err(OAuthError::invalid_client(
                "The Application ID or Secret is wrong.",
            ));
        }
        Err(ClientDenial::Busy) => {
            return Err(OAuthError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "Many sign-ins are being checked right now. Retry in a moment.",
            )
            .retry_after(1));
        }
        Err(ClientDenial::Unavailable) => return Err(OAuthError::unavailable()),
    };
    let actor = extract::actor(req, None, &format!("app {}", app.name));
    Ok(ClientRequest { params, app, actor })
}

/// The public app `client_id` names (RFC 6749 §2.1, §3.2.1: a public client
/// identifies itself by `client_id`), when a public client may ask.
async fn public_client(
    state: &AppState,
    client_id: &str,
    public_allowed: bool,
) -> Result<Arc<App>, OAuthError> {
    let without_secret = || {
        OAuthError::invalid_client(
            "Authenticate the app: its Application ID and Secret by HTTP Basic, or as client_id and client_secret.",
        )
    };
    if !public_allowed
        || client_id.is_empty()
        || client_id.len() > 64
        || !client_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(without_secret());
    }
    let id = crate::domain::AppId::from(client_id);
    let app = state
        .read(move |conn| App::find_by_id(conn, &id))
        .await?
        .ok_or_else(|| OAuthError::invalid_client("The Application ID is unknown."))?;
    if !app.is_public_client() {
        return Err(OAuthError::invalid_client(
            "This app is a confidential client: authenticate it with its Secret as well.",
        ));
    }
    Ok(Arc::new(app))
}

/// The app may issue tokens: it is active and has JWT GROUPS permissions
/// (RFC 6749 §5.2 `unauthorized_client` otherwise).
fn check_issues_tokens(app: &App) -> Result<(), OAuthError> {
    if app.status() != AppStatus::Active {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "This app is not active: an admin can activate it.",
        ));
    }
    if app.jwt_permissions().is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "This app issues no access tokens: it has no JWT GROUPS permissions.",
        ));
    }
    Ok(())
}

/// The `scope` parameter (RFC 6749 §3.3): space-separated permissions, each
/// among `allowed`; absent, all of them.
fn requested_scope(
    params: &Params,
    allowed: &PermissionSet,
) -> Result<Option<PermissionSet>, OAuthError> {
    let Some(raw) = params.get("scope") else {
        return Ok(None);
    };
    let invalid = |why: &str| OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", why);
    let mut asked = Vec::new();
    for name in raw.split(' ').filter(|s| !s.is_empty()) {
        asked.push(
            Permission::parse(name)
                .ok_or_else(|| invalid("The scope names a permission that does not exist."))?,
        );
    }
    let set = PermissionSet::from_stored(
        &asked
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
    );
    if set.is_empty() {
        return Err(invalid("The scope is empty."));
    }
    if !set.is_subset(allowed) {
        return Err(invalid(
            "The scope asks for a permission this app does not grant.",
        ));
    }
    Ok(Some(set))
}

/// The answer of a successful grant (RFC 6749 §5.1), with the ID token of an
/// OpenID Connect sign-in (OIDC Core §3.1.3.3).
fn token_response(pair: &TokenPair, id_token: Option<&str>) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    no_store(&mut response);
    let mut body = json!({
        "access_token": pair.access_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in(clock::now()),
        "refresh_token": pair.refresh_token,
        "scope": pair.scope,
    });
    if let Some(id_token) = id_token {
        body["id_token"] = Value::from(id_token);
    }
    response
        .content_type(super::error::JSON_UTF8)
        .body(body.to_string())
}

/// `POST /api/v1/tokens`: the token endpoint.
pub async fn token(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let body = read_body(payload).await?;
    let params = params_of(&req, &body)?;
    // The grant type first: an unsupported one costs no client check.
    let grant_type = params.require("grant_type")?.to_owned();
    if !matches!(
        grant_type.as_str(),
        "authorization_code" | "password" | "refresh_token"
    ) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Use grant_type authorization_code, password or refresh_token.",
        ));
    }
    // The password grant sends the user's password through the app: only a
    // confidential client, with its secret, may use it.
    let request = authenticated(&req, &state, params, grant_type != "password").await?;
    check_issues_tokens(&request.app)?;
    match grant_type.as_str() {
        "authorization_code" => code_grant(&state, request).await,
        "password" => password_grant(&state, request).await,
        _ => refresh_grant(&state, request).await,
    }
}

/// `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5): a code
/// of the hosted sign-in, with the request's redirect URI and the PKCE
/// verifier.
async fn code_grant(
    state: &web::Data<AppState>,
    request: ClientRequest,
) -> Result<HttpResponse, OAuthError> {
    let ClientRequest { params, app, actor } = request;
    let code = SecretString::from(params.require("code")?.to_owned());
    let redirect_uri = params.require("redirect_uri")?.to_owned();
    let verifier = SecretString::from(params.require("code_verifier")?.to_owned());
    let issuing = state.clone();
    let actor = Actor {
        label: format!("app {} (authorization code)", app.name),
        ..actor
    };
    let outcome = state
        .op(move |conn| {
            hosted::exchange_code(
                conn,
                issuing.token_issuer(),
                &app,
                Exchange {
                    code: code.expose_secret(),
                    redirect_uri: &redirect_uri,
                    code_verifier: verifier.expose_secret(),
                },
                &actor,
                clock::now(),
            )
        })
        .await?;
    match outcome {
        Exchanged::Tokens { pair, id_token } => Ok(token_response(&pair, id_token.as_deref())),
        Exchanged::Replayed => Err(OAuthError::invalid_grant(
            "The authorization code is invalid, expired or used. Start the sign-in again.",
        )),
    }
}

/// The user an app's sign-in names by email, with their name and password
/// hash: an employee for an Employee app, a guest for a Guest app.
fn find_user(
    conn: &mut crate::db::DbConn,
    app: &App,
    email: &EmailAddress,
) -> diesel::QueryResult<Option<(UserRef, String, Option<String>)>> {
    let org = &app.organization_id;
    let candidates: Vec<(UserRef, String)> = match app.user_type() {
        LoginUserType::Employee => Employee::find_by_email(conn, org, email.as_str())?
            .map(|e| (UserRef::Employee(e.id), e.name))
            .into_iter()
            .collect(),
        LoginUserType::Guest => Guest::with_email(conn, org, email.as_str())?
            .into_iter()
            .map(|g| {
                (
                    UserRef::Guest(g.id),
                    format!("{} {}", g.first_name, g.last_name),
                )
            })
            .collect(),
    };
    let mut found = None;
    for (user, name) in candidates {
        let Some(hash) = UserCredential::find(conn, org, &user)?.and_then(|c| c.password_hash)
        else {
            continue;
        };
        if found.is_some() {
            // Two guests with this email both have a password: which one
            // is meant cannot be told, so neither signs in this way.
            tracing::warn!("two users share the email of a sign-in; refused");
            return Ok(None);
        }
        found = Some((user, name, Some(hash)));
    }
    Ok(found)
}

/// What checking an app user's password came to.
#[derive(Debug)]
pub enum PasswordCheck {
    /// Right: the user and their name. The throttle has started over.
    User(UserRef, String),
    /// Wrong, an unknown user, or one who may not sign in (which is not
    /// said): recorded as a failed sign-in.
    Wrong,
    /// Too many failures: retry after this many seconds.
    Wait(i64),
}

/// Checks the password of the user of `app` with this email, under the
/// sign-in throttle (the token endpoint's and the hosted page's, counted
/// together). Every refusal costs one argon2 check (a dummy hash for an
/// unknown user), after the attempt is counted.
pub async fn check_user_password(
    state: &AppState,
    app: &Arc<App>,
    email: &EmailAddress,
    password: &SecretString,
    actor: &Actor,
) -> Result<PasswordCheck, OAuthError> {
    let account = Account::User {
        org: app.organization_id.clone(),
        user_type: app.user_type(),
        email: email.clone(),
        app_id: Some(app.id.clone()),
    };
    // A hashing slot first: beyond the cap, a quick 503 rather than a queue.
    let mut slot = match state.hasher.sign_in_slot().await {
        Ok(slot) => slot,
        Err(_) => {
            return Err(OAuthError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "Many sign-ins are being checked right now. Retry in a moment.",
            )
            .retry_after(1));
        }
    };
    let (a, who, ip) = (account.clone(), actor.clone(), actor.ip.clone());
    let verdict = state
        .op(move |conn| services::sign_in::reserve(conn, a, ip.as_deref(), &who, clock::now()))
        .await?;
    match verdict {
        Verdict::Proceed => {}
        Verdict::Wait(seconds) => return Ok(PasswordCheck::Wait(seconds)),
        // The same words as a wrong password: a lock does not tell that the
        // account exists (a user's lock ends with a new password link).
        Verdict::Locked => return Ok(PasswordCheck::Wrong),
    }
    let (found_app, found_email) = (Arc::clone(app), email.clone());
    let found = state
        .read(move |conn| find_user(conn, &found_app, &found_email))
        .await?;
    let stored = found.as_ref().and_then(|(_, _, hash)| hash.clone());
    let checked = slot
        .check(password.expose_secret(), stored)
        .await
        .map_err(|e| match e {
            HashError::Busy => OAuthError::unavailable(),
            HashError::Failed(why) => OpError::Internal(why).into(),
        })?;
    drop(slot);
    let user = match found.filter(|_| checked.matches) {
        Some((user, name, _)) => {
            let (org, u) = (app.organization_id.clone(), user.clone());
            let may = state
                .read(move |conn| services::users::may_sign_in(conn, &org, &u))
                .await?;
            may.then_some((user, name))
        }
        None => None,
    };
    let who = actor.clone();
    let Some((user, name)) = user else {
        state
            .op(move |conn| services::sign_in::failed(conn, account, &who, clock::now()))
            .await?;
        return Ok(PasswordCheck::Wrong);
    };
    state
        .op(move |conn| {
            services::sign_in::succeeded(conn, account, who.ip.as_deref(), &who, clock::now())
        })
        .await?;
    Ok(PasswordCheck::User(user, name))
}

/// `grant_type=password` (RFC 6749 §4.3). Every refusal of the user's
/// credentials reads the same.
async fn password_grant(
    state: &web::Data<AppState>,
    request: ClientRequest,
) -> Result<HttpResponse, OAuthError> {
    let ClientRequest { params, app, actor } = request;
    let username = params.require("username")?;
    let password = SecretString::from(params.require("password")?.to_owned());
    let scope =
        requested_scope(&params, &app.jwt_permissions())?.unwrap_or_else(|| app.jwt_permissions());
    let Ok(email) = EmailAddress::parse(username) else {
        // No account has such a name: the cost and the answer of a wrong
        // password all the same, and a record of the attempt.
        let _ = state.hasher.check(password.expose_secret(), None).await;
        state.verifier.note_failure(
            actor
                .ip
                .as_deref()
                .and_then(|ip| ip.parse::<std::net::IpAddr>().ok()),
        );
        let (org, typed) = (app.organization_id.clone(), username.to_owned());
        state
            .op(move |conn| services::sign_in::refused_username(conn, &org, &typed, &actor))
            .await?;
        return Err(OAuthError::invalid_grant(BAD_CREDENTIALS));
    };
    let actor = Actor {
        label: format!("{} {}", app.user_type().as_str(), email.as_str()),
        ..actor
    };
    let (user, name) = match check_user_password(state, &app, &email, &password, &actor).await? {
        PasswordCheck::User(user, name) => (user, name),
        PasswordCheck::Wrong => return Err(OAuthError::invalid_grant(BAD_CREDENTIALS)),
        PasswordCheck::Wait(seconds) => {
            return Err(OAuthError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "invalid_grant",
                format!("Too many failed sign-ins. Wait {seconds} seconds, then try again."),
            )
            .retry_after(seconds));
        }
    };
    let issuing = state.clone();
    let scope = Scope::permissions_only(scope);
    let (pair, _) = state
        .op(move |conn| {
            tokens::sign_in(
                conn,
                issuing.token_issuer(),
                NewSignIn {
                    app: &app,
                    user: &user,
                    label: &name,
                    scope: &scope,
                    hosted_session: None,
                    grant: "password",
                },
                &actor,
                clock::now(),
            )
        })
        .await?;
    Ok(token_response(&pair, None))
}

/// `grant_type=refresh_token` (RFC 6749 §6).
async fn refresh_grant(
    state: &web::Data<AppState>,
    request: ClientRequest,
) -> Result<HttpResponse, OAuthError> {
    let ClientRequest { params, app, actor } = request;
    let presented = SecretString::from(params.require("refresh_token")?.to_owned());
    let requested = requested_scope(&params, &app.jwt_permissions())?;
    let issuing = state.clone();
    let outcome = state
        .op(move |conn| {
            tokens::refresh(
                conn,
                issuing.token_issuer(),
                &app,
                presented.expose_secret(),
                requested.as_ref(),
                &actor,
                clock::now(),
            )
        })
        .await?;
    match outcome {
        Refreshed::Pair(pair) => Ok(token_response(&pair, None)),
        Refreshed::Reused => Err(OAuthError::invalid_grant(
            "The refresh token is invalid, expired or revoked. Sign in again.",
        )),
    }
}

/// Whether a token looks like a refresh token (or, else, an access token).
fn is_refresh_token(token: &str) -> bool {
    token.starts_with(crate::domain::key_token::REFRESH_PREFIX)
}

/// `POST /api/v1/tokens/revoke` (RFC 7009): a refresh token ends its
/// sign-in and the access tokens it gave; an access token is blocked by its
/// `jti` until it expires. An unknown, expired or another app's token is no
/// error (§2.2): 200 either way, and nothing changes.
pub async fn revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let body = read_body(payload).await?;
    // RFC 7009 §2.1: a public client revokes with its client_id.
    let ClientRequest { params, app, actor } =
        authenticated(&req, &state, params_of(&req, &body)?, true).await?;
    let token = SecretString::from(params.require("token")?.to_owned());
    // §2.1: the hint only speeds the lookup up; both kinds are looked for.
    if let Some(hint) = params.get("token_type_hint")
        && !matches!(hint, "access_token" | "refresh_token")
    {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_token_type",
            "token_type_hint must be access_token or refresh_token.",
        ));
    }
    if is_refresh_token(token.expose_secret()) {
        let digest_key = state.digest_key.clone();
        state
            .op(move |conn| {
                tokens::revoke_refresh_token(
                    conn,
                    &digest_key,
                    &app,
                    token.expose_secret(),
                    &actor,
                    clock::now(),
                )
            })
            .await?;
    } else if let Ok(claims) = state.verifier.token_claims(token.expose_secret()).await {
        state
            .op(move |conn| tokens::revoke_access_token(conn, &app, &claims, &actor))
            .await?;
    }
    let mut response = HttpResponse::Ok();
    no_store(&mut response);
    Ok(response.content_type(super::error::JSON_UTF8).body("{}"))
}

/// `POST /api/v1/tokens/introspect` (RFC 7662): whether a token is active
/// now, and what it carries. Any active app of the organization may ask (a
/// resource server is an app too); a token of another organization, or one
/// that would be refused now, is `{"active": false}` and nothing more (§2.2).
pub async fn introspect(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, OAuthError> {
    let body = read_body(payload).await?;
    let ClientRequest { params, app, .. } =
        authenticated(&req, &state, params_of(&req, &body)?, false).await?;
    if app.status() != AppStatus::Active {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "This app is not active: an admin can activate it.",
        ));
    }
    let token = SecretString::from(params.require("token")?.to_owned());
    // RFC 7662 §2.2: `iss` is the issuer of the token, the app's
    // organization's (a token of another organization is inactive here).
    let org = app.organization_id.clone();
    let issuer = state
        .read(move |conn| crate::db::models::Organization::find_by_id(conn, &org))
        .await?
        .issuer(&state.issuer);
    let answer = if is_refresh_token(token.expose_secret()) {
        let (digest_key, org) = (state.digest_key.clone(), app.organization_id.clone());
        let found = state
            .op(move |conn| {
                tokens::live_refresh_token(
                    conn,
                    &digest_key,
                    &org,
                    token.expose_secret(),
                    clock::now(),
                )
            })
            .await?;
        match found {
            Some((row, family)) => json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": family.app_id,
                "sub": family.subject,
                "scope": family.scope,
                "exp": row.idle_expires_at.min(family.expires_at).assume_utc().unix_timestamp(),
                "iat": row.created_at.assume_utc().unix_timestamp(),
                "iss": issuer,
                "sid": family.id,
            }),
            None => json!({ "active": false }),
        }
    } else {
        match state
            .verifier
            .check_access_token(token.expose_secret())
            .await
        {
            Ok(grant) if grant.organization_id == app.organization_id => {
                access_token_answer(&state, &issuer, &grant)
            }
            Ok(_) => json!({ "active": false }),
            Err(Denial::Unavailable) => return Err(OAuthError::unavailable()),
            Err(_) => json!({ "active": false }),
        }
    };
    let mut response = HttpResponse::Ok();
    no_store(&mut response);
    Ok(response
        .content_type(super::error::JSON_UTF8)
        .body(answer.to_string()))
}

/// RFC 7662 §2.2's members for an active access token: what it carries now
/// (its scope within the app's current permissions).
fn access_token_answer(state: &AppState, issuer: &str, grant: &crate::auth::Grant) -> Value {
    let crate::auth::verifier::Principal::User {
        user,
        family_id,
        jti,
        expires,
        issued,
    } = &grant.principal
    else {
        return json!({ "active": false });
    };
    json!({
        "active": true,
        "token_type": "Bearer",
        "scope": grant.permissions.to_stored(),
        "client_id": grant.app_id,
        "sub": user.subject(),
        "user_type": user.user_type().as_str(),
        "exp": expires,
        "iat": issued,
        "iss": issuer,
        "aud": crate::jwt::audience(&state.issuer),
        "jti": jti,
        "sid": family_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn names(params: &Params) -> Vec<(&str, &str)> {
        params.iter().collect()
    }

    #[test]
    fn known_parameters_are_read_once_and_unknown_ones_ignored() {
        let params = parse_params(
            FORM,
            b"grant_type=password&username=a%40b.c&scope=&x%00y=%01&other=1&other=2",
        )
        .unwrap();
        assert_eq!(
            names(&params),
            vec![("grant_type", "password"), ("username", "a@b.c")]
        );
        for bad in [
            &b"grant_type=password&grant_type=password"[..],
            b"password=a%00b",
            b"username=%FF",
        ] {
            assert_eq!(
                parse_params(FORM, bad).unwrap_err().error(),
                "invalid_request"
            );
        }
        let json = parse_params(
            Some("application/json; charset=utf-8"),
            br#"{"grant_type":"refresh_token","refresh_token":"kwr_x","extra":{"a":1},"scope":null}"#,
        )
        .unwrap();
        assert_eq!(
            names(&json),
            vec![("grant_type", "refresh_token"), ("refresh_token", "kwr_x")]
        );
        for bad in [&br#"{"username":1}"#[..], b"[]", br#"{"a":1,"a":2}"#] {
            assert!(parse_params(Some("application/json"), bad).is_err());
        }
        assert!(parse_params(Some("text/plain"), b"grant_type=password").is_err());
        assert!(parse_params(None, b"grant_type=password").is_err());
    }

    #[test]
    fn client_credentials_come_from_basic_or_the_body_never_both() {
        use base64::Engine;
        // RFC 6749 §2.3.1: each part form-encoded, then base64.
        let basic = format!("Basic {}", STANDARD.encode("app%3A1:s%2Bcret%20x"));
        let none = Params::default();
        let (id, secret) = client_credentials(Some(basic.as_bytes()), &none).unwrap();
        assert_eq!(
            (
                id.as_str(),
                secret.as_ref().map(ExposeSecret::expose_secret)
            ),
            ("app:1", Some("s+cret x"))
        );
        let body = parse_params(FORM, b"client_id=app&client_secret=s").unwrap();
        let (id, secret) = client_credentials(None, &body).unwrap();
        assert_eq!(
            (
                id.as_str(),
                secret.as_ref().map(ExposeSecret::expose_secret)
            ),
            ("app", Some("s"))
        );
        assert_eq!(
            client_credentials(Some(basic.as_bytes()), &body)
                .unwrap_err()
                .error(),
            "invalid_request"
        );
        for header in [&b"Bearer x"[..], b"Basic !!!", b"Basic YWJj"] {
            assert_eq!(
                client_credentials(Some(header), &none).unwrap_err().error(),
                "invalid_client"
            );
        }
        // A public client names itself alone (RFC 6749 §2.1); whether the
        // app may is for the caller to say.
        let only_id = parse_params(FORM, b"client_id=app").unwrap();
        let (id, secret) = client_credentials(None, &only_id).unwrap();
        assert_eq!((id.as_str(), secret.is_none()), ("app", true));
        let nothing = parse_params(FORM, b"client_secret=s").unwrap();
        assert_eq!(
            client_credentials(None, &nothing).unwrap_err().error(),
            "invalid_client"
        );
    }
}
