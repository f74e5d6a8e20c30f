//! Hosted sign-in (OpenID Connect with the authorization code flow and PKCE):
//! the sign-in page, codes and their exchange, ID tokens, UserInfo, signing
//! out, discovery, and every way a redirect could leave the registered lists.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::access_tokens::{EMAIL, bearer_get, invited_employee};
use crate::helpers::{CreatedApp, TestApp, csrf_in, hidden_value, html_unescape, spawn_app};
use crate::users::{NEW_PASSWORD, add_guests, choose_password, last_link, outbox, visitor};

/// A form body (`application/x-www-form-urlencoded`).
trait SendForm {
    fn send_form<T: serde::Serialize + ?Sized>(self, fields: &T) -> Self;
}

impl SendForm for reqwest::RequestBuilder {
    fn send_form<T: serde::Serialize + ?Sized>(self, fields: &T) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(serde_html_form::to_string(fields).unwrap())
    }
}

/// The app's Post Login Redirect URL.
pub const LOGIN_URL: &str = "http://localhost:7777/signed-in";
/// The app's Post Logout Redirect URL.
pub const LOGOUT_URL: &str = "http://localhost:7777/signed-out";
const GUEST_EMAIL: &str = "lia@example.com";

/// A PKCE pair (RFC 7636 §4.1, §4.2).
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

pub fn pkce() -> Pkce {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

fn redirect_urls() -> Vec<(&'static str, &'static str)> {
    vec![
        ("post_login_redirect_urls", LOGIN_URL),
        ("post_logout_redirect_urls", LOGOUT_URL),
    ]
}

/// A confidential (Client App) Employee app with the redirect URLs, and an
/// employee with [`NEW_PASSWORD`].
pub async fn employee_app(app: &TestApp) -> CreatedApp {
    app.signed_in_admin().await;
    let created = app
        .create_app_with(
            "employee",
            "Staff app",
            "client_app",
            &[],
            &["services:read", "appointments:read"],
            &redirect_urls(),
        )
        .await;
    invited_employee(app, "Dara Lopes", EMAIL).await;
    created
}

/// A public (External Webstore) Guest app, and a guest with a password.
async fn guest_app(app: &TestApp) -> CreatedApp {
    app.signed_in_admin().await;
    let created = app
        .create_app_with(
            "guest",
            "Web store",
            "external_webstore",
            &[],
            &["services:read"],
            &redirect_urls(),
        )
        .await;
    let ids = add_guests(app, &[("Lia", "Reis", Some(GUEST_EMAIL))]).await;
    app.post_form(&format!("/guests/{}/invitation", ids[0]), &[])
        .await;
    let link = last_link(app);
    let (status, _) = choose_password(app, &visitor(), &link, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 200);
    created
}

/// The authorization request's path.
pub fn authorize_path(client_id: &str, pkce: &Pkce, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", LOGIN_URL),
        ("scope", "openid profile email services:read"),
        ("state", "st-1"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        params.retain(|(name, _)| name != k);
        if !v.is_empty() {
            params.push((k, v));
        }
    }
    format!(
        "/oauth/authorize?{}",
        serde_html_form::to_string(&params).unwrap()
    )
}

async fn get(app: &TestApp, browser: &reqwest::Client, path: &str) -> reqwest::Response {
    browser.get(app.url(path)).send().await.unwrap()
}

/// Submits the sign-in page `html` with these credentials.
pub async fn submit(
    app: &TestApp,
    browser: &reqwest::Client,
    html: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let request = html_unescape(&hidden_value(html, "request").expect("the sealed request"));
    let body = serde_html_form::to_string([
        ("csrf_token", csrf_in(html).as_str()),
        ("request", request.as_str()),
        ("email", email),
        ("password", password),
    ])
    .unwrap();
    browser
        .post(app.url("/oauth/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The query of a redirect to the app, by name.
fn redirect_params(response: &reqwest::Response) -> (String, Vec<(String, String)>) {
    let location = response
        .headers()
        .get("location")
        .expect("a redirect")
        .to_str()
        .unwrap();
    let url = url::Url::parse(location).unwrap();
    let base = format!("{}{}", url.origin().ascii_serialization(), url.path());
    (base, url.query_pairs().into_owned().collect())
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Signs `email` in on the hosted page in `browser`: the code of the redirect.
pub async fn code_for(
    app: &TestApp,
    browser: &reqwest::Client,
    client_id: &str,
    pkce: &Pkce,
    email: &str,
) -> String {
    let page = get(app, browser, &authorize_path(client_id, pkce, &[])).await;
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    let response = submit(app, browser, &html, email, NEW_PASSWORD).await;
    assert_eq!(response.status().as_u16(), 303);
    let (base, params) = redirect_params(&response);
    assert_eq!(base, LOGIN_URL);
    param(&params, "code").expect("a code").to_owned()
}

/// The token endpoint's answer to a code, the client authenticated by HTTP
/// Basic when `secret` is given, else by `client_id` alone.
pub async fn exchange(
    app: &TestApp,
    client_id: &str,
    secret: Option<&str>,
    fields: &[(&str, &str)],
) -> (u16, Value) {
    let mut all = vec![("grant_type", "authorization_code")];
    all.extend_from_slice(fields);
    let mut request = reqwest::Client::new()
        .post(app.url("/api/v1/tokens"))
        .header("content-type", "application/x-www-form-urlencoded");
    match secret {
        Some(secret) => request = request.basic_auth(client_id, Some(secret)),
        None => all.push(("client_id", client_id)),
    }
    let response = request
        .body(serde_html_form::to_string(&all).unwrap())
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

fn exchange_fields<'a>(code: &'a str, pkce: &'a Pkce) -> Vec<(&'a str, &'a str)> {
    vec![
        ("code", code),
        ("redirect_uri", LOGIN_URL),
        ("code_verifier", pkce.verifier.as_str()),
    ]
}

/// The ID token's claims, verified against the published key set.
async fn verified_id_token(app: &TestApp, token: &str, audience: &str) -> Value {
    let jwks: JwkSet = reqwest::get(app.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("its key");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[app.address.as_str()]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
        .expect("the ID token verifies")
        .claims
}

async fn userinfo(app: &TestApp, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn count(app: &TestApp, action: &str) -> usize {
    app.audit_actions()
        .await
        .iter()
        .filter(|a| a.0 == action)
        .count()
}

#[actix_web::test]
async fn an_employee_signs_in_on_the_hosted_page_and_the_app_gets_tokens_and_an_id_token() {
    let app = spawn_app().await;
    let client = employee_app(&app).await;
    let browser = visitor();
    let pkce = pkce();

    // The page names the organization and the app, and takes employees.
    let page = get(&app, &browser, &authorize_path(&client.id, &pkce, &[])).await;
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in to Staff app"), "{html}");
    assert!(html.contains("employee account"));
    assert!(html.contains("Forgot password?"));

    // A wrong password stays on the page with one message.
    let wrong = submit(&app, &browser, &html, EMAIL, "not the password at all").await;
    assert_eq!(wrong.status().as_u16(), 422);
    let again = wrong.text().await.unwrap();
    assert!(again.contains("The email or password is incorrect."));
    let unknown = submit(&app, &browser, &html, "nobody@salon.example", NEW_PASSWORD).await;
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("The email or password is incorrect.")
    );

    // The right one: back to the app with a code, the state and the issuer.
    let response = submit(&app, &browser, &again, EMAIL, NEW_PASSWORD).await;
    assert_eq!(response.status().as_u16(), 303);
    let (base, params) = redirect_params(&response);
    assert_eq!(base, LOGIN_URL);
    assert_eq!(param(&params, "state"), Some("st-1"));
    assert_eq!(param(&params, "iss"), Some(app.address.as_str()));
    let code = param(&params, "code").unwrap().to_owned();

    let (status, tokens) = exchange(
        &app,
        &client.id,
        Some(&client.secret),
        &exchange_fields(&code, &pkce),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile email services:read");
    let claims = verified_id_token(&app, tokens["id_token"].as_str().unwrap(), &client.id).await;
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["email"], EMAIL);
    assert_eq!(claims["name"], "Dara Lopes");
    assert!(claims["sub"].as_str().unwrap().starts_with("employee:"));
    assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());
    assert!(claims["sid"].as_str().is_some_and(|s| !s.is_empty()));

    // The access token calls the API; the ID token does not.
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(bearer_get(&app, "/api/v2/services", access).await.0, 200);
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(bearer_get(&app, "/api/v2/services", id_token).await.0, 401);
    // UserInfo answers with the scopes' claims.
    let (status, info) = userinfo(&app, access).await;
    assert_eq!(status, 200);
    assert_eq!(info["sub"], claims["sub"]);
    assert_eq!(info["email"], EMAIL);
    assert_eq!(info["name"], "Dara Lopes");
    assert_eq!(userinfo(&app, id_token).await.0, 401);

    // The code works once; presented again it revokes what it made.
    let (status, body) = exchange(
        &app,
        &client.id,
        Some(&client.secret),
        &exchange_fields(&code, &pkce),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(bearer_get(&app, "/api/v2/services", access).await.0, 401);
    let (status, refreshed) = crate::access_tokens::token_request(
        &app,
        "/api/v1/tokens",
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await
    .into_status_and_body();
    assert_eq!(status, 400, "{refreshed}");
    for action in [
        "user.sign_in_failed",
        "user.hosted_signed_in",
        "user.signed_in",
        "token.code_reused",
    ] {
        assert!(count(&app, action).await >= 1, "{action}");
    }
}

/// The status and body of a token request's answer.
trait StatusAndBody {
    fn into_status_and_body(self) -> (u16, Value);
}

impl StatusAndBody for (u16, reqwest::header::HeaderMap, Value) {
    fn into_status_and_body(self) -> (u16, Value) {
        (self.0, self.2)
    }
}

#[actix_web::test]
async fn a_public_app_needs_no_secret_and_a_confidential_one_does() {
    let app = spawn_app().await;
    let store = guest_app(&app).await;
    let browser = visitor();
    let pair = pkce();
    let code = code_for(&app, &browser, &store.id, &pair, GUEST_EMAIL).await;
    let (status, tokens) = exchange(&app, &store.id, None, &exchange_fields(&code, &pair)).await;
    assert_eq!(status, 200, "{tokens}");
    let claims = verified_id_token(&app, tokens["id_token"].as_str().unwrap(), &store.id).await;
    assert!(claims["sub"].as_str().unwrap().starts_with("guest:"));
    // Its refresh token rotates, with the client_id alone.
    let refresh = |token: String| {
        let (app, id) = (&app, store.id.clone());
        async move {
            let response = reqwest::Client::new()
                .post(app.url("/api/v1/tokens"))
                .send_form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                    ("client_id", id.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, next) = refresh(tokens["refresh_token"].as_str().unwrap().to_owned()).await;
    assert_eq!(status, 200, "{next}");
    assert_ne!(next["refresh_token"], tokens["refresh_token"]);
    assert_eq!(next["scope"], "openid profile email services:read");
    let (status, info) = userinfo(&app, next["access_token"].as_str().unwrap()).await;
    assert_eq!((status, info["email"].as_str()), (200, Some(GUEST_EMAIL)));
    // The password grant still wants the secret.
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/tokens"))
        .send_form(&[
            ("grant_type", "password"),
            ("username", GUEST_EMAIL),
            ("password", NEW_PASSWORD),
            ("client_id", store.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    // A confidential app must authenticate.
    let staff = app
        .create_app_with(
            "guest",
            "Back office",
            "client_app",
            &[],
            &["services:read"],
            &redirect_urls(),
        )
        .await;
    let pair = pkce();
    let browser = visitor();
    let code = code_for(&app, &browser, &staff.id, &pair, GUEST_EMAIL).await;
    let (status, body) = exchange(&app, &staff.id, None, &exchange_fields(&code, &pair)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, _) = exchange(
        &app,
        &staff.id,
        Some(&staff.secret),
        &exchange_fields(&code, &pair),
    )
    .await;
    assert_eq!(status, 200, "the refused attempt did not use the code up");
}

#[actix_web::test]
async fn pkce_code_bindings_and_the_users_type_are_enforced() {
    let app = spawn_app().await;
    let client = employee_app(&app).await;
    let browser = visitor();

    // The request: S256 only, and a challenge required. The errors go back
    // to the registered redirect URI with the state.
    let pair = pkce();
    for (extra, expected) in [
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "openid payments:read")], "invalid_scope"),
    ] {
        let response = get(&app, &browser, &authorize_path(&client.id, &pair, &extra)).await;
        assert_eq!(response.status().as_u16(), 303, "{extra:?}");
        let (base, params) = redirect_params(&response);
        assert_eq!(base, LOGIN_URL);
        assert_eq!(param(&params, "error"), Some(expected), "{extra:?}");
        assert_eq!(param(&params, "state"), Some("st-1"));
        assert_eq!(param(&params, "iss"), Some(app.address.as_str()));
        assert_eq!(param(&params, "code"), None);
    }

    let code = code_for(&app, &browser, &client.id, &pair, EMAIL).await;
    let secret = Some(client.secret.as_str());
    let wrong_verifier = pkce();
    let refused = [
        vec![
            ("code", code.as_str()),
            ("redirect_uri", LOGIN_URL),
            ("code_verifier", wrong_verifier.verifier.as_str()),
        ],
        // The challenge itself is not a verifier (that would be plain).
        vec![
            ("code", code.as_str()),
            ("redirect_uri", LOGIN_URL),
            ("code_verifier", pair.challenge.as_str()),
        ],
        vec![
            ("code", code.as_str()),
            ("redirect_uri", "http://localhost:7777/other"),
            ("code_verifier", pair.verifier.as_str()),
        ],
        vec![
            ("code", "made-up-code"),
            ("redirect_uri", LOGIN_URL),
            ("code_verifier", pair.verifier.as_str()),
        ],
    ];
    for fields in &refused {
        let (status, body) = exchange(&app, &client.id, secret, fields).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant")),
            "{fields:?}"
        );
    }
    let (status, body) = exchange(
        &app,
        &client.id,
        secret,
        &[("code", code.as_str()), ("redirect_uri", LOGIN_URL)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );

    // Another app of the organization cannot use this app's code.
    let other = app
        .create_app_with(
            "employee",
            "Other app",
            "client_app",
            &[],
            &["services:read"],
            &redirect_urls(),
        )
        .await;
    let (status, body) = exchange(
        &app,
        &other.id,
        Some(&other.secret),
        &exchange_fields(&code, &pair),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    // After all that, the code still works once for its own app.
    let (status, body) = exchange(&app, &client.id, secret, &exchange_fields(&code, &pair)).await;
    assert_eq!(status, 200, "{body}");

    // An expired code.
    let pair = pkce();
    let browser = visitor();
    let code = code_for(&app, &browser, &client.id, &pair, EMAIL).await;
    expire_codes(&app).await;
    let (status, body) = exchange(&app, &client.id, secret, &exchange_fields(&code, &pair)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // A guest cannot sign in to an Employee app, even with a right password.
    let ids = add_guests(&app, &[("Rui", "Vaz", Some("rui@example.com"))]).await;
    app.post_form(&format!("/guests/{}/invitation", ids[0]), &[])
        .await;
    let (status, _) = choose_password(
        &app,
        &visitor(),
        &last_link(&app),
        NEW_PASSWORD,
        NEW_PASSWORD,
    )
    .await;
    assert_eq!(status, 200);
    let browser = visitor();
    let html = get(&app, &browser, &authorize_path(&client.id, &pair, &[]))
        .await
        .text()
        .await
        .unwrap();
    let response = submit(&app, &browser, &html, "rui@example.com", NEW_PASSWORD).await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("The email or password is incorrect.")
    );
}

/// Makes every authorization code older than its lifetime.
async fn expire_codes(app: &TestApp) {
    use diesel::prelude::*;
    use keyward::db::schema::authorization_codes::dsl::*;
    let past = keyward::clock::now() - time::Duration::minutes(2);
    app.db()
        .run(move |conn| {
            diesel::update(authorization_codes)
                .set(expires_at.eq(past))
                .execute(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
}

#[actix_web::test]
async fn a_signed_in_user_goes_straight_back_unless_the_app_asks_for_a_password() {
    let app = spawn_app().await;
    let client = employee_app(&app).await;
    let browser = visitor();
    let pair = pkce();
    // prompt=none without a session: login_required, no page.
    let response = get(
        &app,
        &browser,
        &authorize_path(&client.id, &pair, &[("prompt", "none")]),
    )
    .await;
    let (_, params) = redirect_params(&response);
    assert_eq!(param(&params, "error"), Some("login_required"));

    code_for(&app, &browser, &client.id, &pair, EMAIL).await;
    // Signed in: a code at once, with prompt=none too.
    for extra in [vec![], vec![("prompt", "none")]] {
        let response = get(&app, &browser, &authorize_path(&client.id, &pair, &extra)).await;
        assert_eq!(response.status().as_u16(), 303);
        let (base, params) = redirect_params(&response);
        assert_eq!(base, LOGIN_URL);
        assert!(param(&params, "code").is_some());
    }
    // prompt=login and max_age=0 ask again.
    for extra in [vec![("prompt", "login")], vec![("max_age", "0")]] {
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let response = get(&app, &browser, &authorize_path(&client.id, &pair, &extra)).await;
        assert_eq!(response.status().as_u16(), 200, "{extra:?}");
    }
    // Another browser has no session.
    let response = get(&app, &visitor(), &authorize_path(&client.id, &pair, &[])).await;
    assert_eq!(response.status().as_u16(), 200);
    // A password reset ends the hosted session.
    let staff_id = {
        let page = app.get_html("/staff", 200).await;
        let at = page.find("Dara Lopes</th>").unwrap();
        let start = page[at..].find("/staff/").unwrap() + at + "/staff/".len();
        page[start..start + 36].to_owned()
    };
    app.post_form(&format!("/staff/{staff_id}/password-reset"), &[])
        .await;
    let response = get(&app, &browser, &authorize_path(&client.id, &pair, &[])).await;
    assert_eq!(response.status().as_u16(), 200);
}

#[actix_web::test]
async fn signing_out_ends_the_session_and_returns_only_to_a_registered_url() {
    let app = spawn_app().await;
    let client = employee_app(&app).await;
    let browser = visitor();
    let pair = pkce();
    let code = code_for(&app, &browser, &client.id, &pair, EMAIL).await;
    let (_, tokens) = exchange(
        &app,
        &client.id,
        Some(&client.secret),
        &exchange_fields(&code, &pair),
    )
    .await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let logout = format!(
        "/oauth/logout?{}",
        serde_html_form::to_string([
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", LOGOUT_URL),
            ("state", "bye-1"),
        ])
        .unwrap()
    );
    let response = get(&app, &browser, &logout).await;
    assert_eq!(response.status().as_u16(), 303);
    let (base, params) = redirect_params(&response);
    assert_eq!(base, LOGOUT_URL);
    assert_eq!(param(&params, "state"), Some("bye-1"));
    // The session is over, and so are the tokens it gave.
    let response = get(&app, &browser, &authorize_path(&client.id, &pair, &[])).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        bearer_get(
            &app,
            "/api/v2/services",
            tokens["access_token"].as_str().unwrap()
        )
        .await
        .0,
        401
    );
    assert_eq!(count(&app, "user.hosted_signed_out").await, 1);

    // Without a hint of this session, the user is asked first, and a POST
    // from the app's site is the same request.
    code_for(&app, &browser, &client.id, &pair, EMAIL).await;
    let response = browser
        .post(app.url("/oauth/logout"))
        .send_form(&[
            ("client_id", client.id.as_str()),
            ("post_logout_redirect_uri", LOGOUT_URL),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let asked = get(&app, &browser, &crate::helpers::location(&response)).await;
    assert_eq!(asked.status().as_u16(), 200);
    let html = asked.text().await.unwrap();
    assert!(html.contains("Sign out?"));
    let form: Vec<(&str, String)> = [
        "csrf_token",
        "id_token_hint",
        "client_id",
        "post_logout_redirect_uri",
        "state",
    ]
    .iter()
    .map(|n| {
        (
            *n,
            html_unescape(&hidden_value(&html, n).unwrap_or_default()),
        )
    })
    .collect();
    let response = browser
        .post(app.url("/oauth/logout/confirm"))
        .send_form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(redirect_params(&response).0, LOGOUT_URL);
    assert_eq!(count(&app, "user.hosted_signed_out").await, 2);
}

/// Redirect URIs that are not the registered one, each a way an open
/// redirect has been attempted.
fn not_registered() -> Vec<String> {
    let r = "http://localhost:7777/signed-in";
    vec![
        "https://evil.example/".to_owned(),
        "//evil.example/".to_owned(),
        "/\\evil.example/".to_owned(),
        "https:evil.example".to_owned(),
        "http://localhost:7777@evil.example/signed-in".to_owned(),
        "http://evil.example@localhost:7777/signed-in".to_owned(),
        "http://localhost:7777%2F%2Fevil.example/signed-in".to_owned(),
        "http://localhost:7777/signed-in%2F..%2F..%2Fevil".to_owned(),
        "http://localhost:7777/signed-in/../../evil".to_owned(),
        "http://localhost:7777/%2e%2e/signed-in".to_owned(),
        "http://localhost:7777/signed-in\t".to_owned(),
        "http://localhost:7777/signed-in\n".to_owned(),
        "javascript:alert(1)".to_owned(),
        "data:text/html,<script>alert(1)</script>".to_owned(),
        format!("{r}x"),
        format!("{r}/more"),
        format!("{r}?next=https://evil.example"),
        format!("{r}#frag"),
        "HTTP://LOCALHOST:7777/signed-in".to_owned(),
        "http://localhost:7777/Signed-In".to_owned(),
        format!("{r}/"),
        "http://localhost:7777/signed-out".to_owned(),
        String::new(),
    ]
}

#[actix_web::test]
async fn open_redirects_never_leave_the_registered_lists() {
    let app = spawn_app().await;
    let client = employee_app(&app).await;
    let browser = visitor();
    let pair = pkce();
    for uri in not_registered() {
        let path = authorize_path(&client.id, &pair, &[("redirect_uri", uri.as_str())]);
        let response = get(&app, &browser, &path).await;
        assert_eq!(response.status().as_u16(), 400, "{uri:?}");
        assert!(response.headers().get("location").is_none(), "{uri:?}");
        // Even with an error to report, nothing goes to the address.
        let path = authorize_path(
            &client.id,
            &pair,
            &[("redirect_uri", uri.as_str()), ("response_type", "token")],
        );
        assert!(
            get(&app, &browser, &path)
                .await
                .headers()
                .get("location")
                .is_none()
        );
    }
    // An unknown app, and a registered URI of another app.
    let response = get(&app, &browser, &authorize_path("no-such-app", &pair, &[])).await;
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.headers().get("location").is_none());

    // Signing out: only the registered Post Logout Redirect URL is followed.
    let mut logouts: Vec<String> = not_registered()
        .into_iter()
        .map(|u| u.replace("signed-in", "signed-out"))
        .collect();
    logouts.push(LOGIN_URL.to_owned());
    for uri in logouts {
        if uri == LOGOUT_URL {
            continue;
        }
        let path = format!(
            "/oauth/logout?{}",
            serde_html_form::to_string([
                ("client_id", client.id.as_str()),
                ("post_logout_redirect_uri", uri.as_str()),
            ])
            .unwrap()
        );
        let response = get(&app, &visitor(), &path).await;
        assert_eq!(response.status().as_u16(), 200, "{uri:?}");
        assert!(response.headers().get("location").is_none(), "{uri:?}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("You are signed out")
        );
    }
    // The registered one, with no session to end, is followed.
    let path = format!(
        "/oauth/logout?{}",
        serde_html_form::to_string([
            ("client_id", client.id.as_str()),
            ("post_logout_redirect_uri", LOGOUT_URL),
        ])
        .unwrap()
    );
    let response = get(&app, &visitor(), &path).await;
    assert_eq!(redirect_params(&response).0, LOGOUT_URL);
}

#[actix_web::test]
async fn forgot_password_emails_a_link_and_says_the_same_for_any_address() {
    let app = spawn_app().await;
    let client = employee_app(&app).await;
    let browser = visitor();
    let pair = pkce();
    let html = get(&app, &browser, &authorize_path(&client.id, &pair, &[]))
        .await
        .text()
        .await
        .unwrap();
    let request = html_unescape(&hidden_value(&html, "request").unwrap());
    let forgot = format!(
        "/oauth/forgot?{}",
        serde_html_form::to_string([("request", request.as_str())]).unwrap()
    );
    let page = get(&app, &browser, &forgot).await;
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap();
    let sent_before = outbox(&app).len();
    let mut answers = Vec::new();
    for email in [EMAIL, "nobody@salon.example"] {
        let response = browser
            .post(app.url("/oauth/forgot"))
            .send_form(&[
                ("csrf_token", csrf_in(&html).as_str()),
                ("request", request.as_str()),
                ("email", email),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        answers.push(response.text().await.unwrap().replace(email, "ADDRESS"));
    }
    assert_eq!(answers[0], answers[1]);
    assert!(answers[0].contains("a link to choose a new password is on its way"));
    // The email goes out in the background.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while outbox(&app).len() == sent_before && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(outbox(&app).len(), sent_before + 1);
    let mail = outbox(&app).pop().unwrap();
    assert_eq!(mail.to, vec![EMAIL.to_owned()]);
    // The old password works until the link is used; then the new one.
    code_for(&app, &visitor(), &client.id, &pair, EMAIL).await;
    let link = last_link(&app);
    let new = "a brand new passphrase here";
    let (status, _) = choose_password(&app, &visitor(), &link, new, new).await;
    assert_eq!(status, 200);
    let html = get(&app, &browser, &authorize_path(&client.id, &pair, &[]))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        submit(&app, &browser, &html, EMAIL, NEW_PASSWORD)
            .await
            .status()
            .as_u16(),
        422
    );
    assert_eq!(
        submit(&app, &browser, &html, EMAIL, new)
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(count(&app, "user.password_link_requested").await, 1);
}

#[actix_web::test]
async fn discovery_names_every_endpoint_and_they_answer() {
    let app = spawn_app().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = reqwest::get(app.url(path))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], app.address.as_str());
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert!(
            doc["scopes_supported"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "services:read")
        );
        for endpoint in [
            "jwks_uri",
            "authorization_endpoint",
            "userinfo_endpoint",
            "end_session_endpoint",
        ] {
            let url = doc[endpoint].as_str().unwrap();
            assert!(url.starts_with(&app.address), "{endpoint}");
            let status = reqwest::get(url).await.unwrap().status().as_u16();
            assert!(matches!(status, 200 | 400 | 401), "{endpoint}: {status}");
        }
    }
}

#[actix_web::test]
async fn the_app_page_gives_a_working_authorization_url_and_its_verifier() {
    let app = spawn_app().await;
    let client = employee_app(&app).await;
    let html = app.get_html(&format!("/apps/{}", client.id), 200).await;
    assert!(html.contains("confidential client"));
    assert!(html.contains(&format!("{}/.well-known/openid-configuration", app.address)));
    let url = html_unescape(&{
        let start = html.find("id=\"try-url\"").unwrap();
        let open = html[start..].find('>').unwrap() + start + 1;
        let close = html[open..].find("</textarea>").unwrap() + open;
        html[open..close].to_owned()
    });
    let verifier = crate::helpers::input_value(&html, "try-verifier").unwrap();
    let path = url.strip_prefix(app.address.as_str()).unwrap().to_owned();
    let browser = visitor();
    let page = get(&app, &browser, &path).await;
    assert_eq!(page.status().as_u16(), 200);
    let response = submit(
        &app,
        &browser,
        &page.text().await.unwrap(),
        EMAIL,
        NEW_PASSWORD,
    )
    .await;
    let (_, params) = redirect_params(&response);
    let code = param(&params, "code").unwrap();
    let (status, tokens) = exchange(
        &app,
        &client.id,
        Some(&client.secret),
        &[
            ("code", code),
            ("redirect_uri", LOGIN_URL),
            ("code_verifier", verifier.as_str()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["id_token"].is_string());

    // A public app says so; an app without a Post Login Redirect URL says
    // what to add.
    let store = app
        .create_app("Kiosk", "bot", &[], &["services:read"])
        .await;
    let html = app.get_html(&format!("/apps/{}", store.id), 200).await;
    assert!(html.contains("public client"));
    assert!(html.contains("Add a Post Login Redirect URL"));
}

#[actix_web::test]
async fn wrong_passwords_on_the_page_count_toward_the_token_endpoints_throttle() {
    let app = spawn_app().await;
    let client = employee_app(&app).await;
    let browser = visitor();
    let pair = pkce();
    // login_hint fills the email in.
    let html = get(
        &app,
        &browser,
        &authorize_path(&client.id, &pair, &[("login_hint", EMAIL)]),
    )
    .await
    .text()
    .await
    .unwrap();
    assert_eq!(
        crate::helpers::input_value(&html, "email").as_deref(),
        Some(EMAIL)
    );
    for _ in 0..keyward::services::sign_in::ACCOUNT_FREE_FAILURES {
        let response = submit(&app, &browser, &html, EMAIL, "a wrong password here").await;
        assert_eq!(response.status().as_u16(), 422);
    }
    // The next attempt waits, on the page and at the token endpoint alike.
    let response = submit(&app, &browser, &html, EMAIL, NEW_PASSWORD).await;
    assert_eq!(response.status().as_u16(), 429);
    assert!(response.headers().contains_key("retry-after"));
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Too many failed sign-ins")
    );
    let (status, _, body) = crate::access_tokens::token_request(
        &app,
        "/api/v1/tokens",
        &client,
        &[
            ("grant_type", "password"),
            ("username", EMAIL),
            ("password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, 429, "{body}");
}

#[actix_web::test]
async fn an_admin_revoking_a_hosted_sign_in_ends_its_session_too() {
    let app = spawn_app().await;
    let client = employee_app(&app).await;
    let browser = visitor();
    let pair = pkce();
    let code = code_for(&app, &browser, &client.id, &pair, EMAIL).await;
    let (_, tokens) = exchange(
        &app,
        &client.id,
        Some(&client.secret),
        &exchange_fields(&code, &pair),
    )
    .await;
    let access = tokens["access_token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let employee = claims["sub"]
        .as_str()
        .unwrap()
        .trim_start_matches("employee:");
    let family = claims["sid"].as_str().unwrap();
    let response = app
        .post_form(&format!("/staff/{employee}/sessions/{family}/revoke"), &[])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(bearer_get(&app, "/api/v2/services", access).await.0, 401);
    // The browser's hosted session ended with it: the password is asked again.
    let response = get(&app, &browser, &authorize_path(&client.id, &pair, &[])).await;
    assert_eq!(response.status().as_u16(), 200);
}

#[actix_web::test]
async fn each_organization_issues_under_its_own_url_with_its_own_keys() {
    let app = spawn_app().await;
    // The first organization keeps the server's own issuer: nothing under /o/.
    let main_client = employee_app(&app).await;
    let doc: Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], app.address.as_str());
    assert_eq!(
        doc["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.address)
    );
    let pkce_main = pkce();
    let code = code_for(&app, &visitor(), &main_client.id, &pkce_main, EMAIL).await;
    let (status, main_tokens) = exchange(
        &app,
        &main_client.id,
        Some(&main_client.secret),
        &exchange_fields(&code, &pkce_main),
    )
    .await;
    assert_eq!(status, 200, "{main_tokens}");
    let main_kid = jsonwebtoken::decode_header(main_tokens["access_token"].as_str().unwrap())
        .unwrap()
        .kid
        .unwrap();
    for path in [
        "/o/main/.well-known/openid-configuration",
        "/o/nobody/.well-known/openid-configuration",
        "/o/nobody/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server/o/nobody",
    ] {
        let response = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(response.status().as_u16(), 404, "{path}");
    }

    // A new organization: its issuer is <public URL>/o/<slug>.
    let operator = app.operator("ops@platform.example").await;
    let made = operator
        .post_form(
            "/operator/organizations",
            &crate::tenants::new_org("Blue Salon", "blue", "bo@blue.example", true),
        )
        .await;
    assert_eq!(made.status().as_u16(), 303);
    let blue = crate::tenants::first_admin_joins(&app, "bo@blue.example").await;
    let client = blue
        .create_app_with(
            "employee",
            "Blue staff app",
            "client_app",
            &[],
            &["services:read"],
            &redirect_urls(),
        )
        .await;
    invited_employee(&blue, "Bea Blue", "bea@blue.example").await;
    let issuer = format!("{}/o/blue", app.address);
    // OpenID Connect Discovery §4 and RFC 8414 §3.1 give the same document,
    // naming the issuer it was fetched under; the endpoints are the server's.
    for path in [
        "/o/blue/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server/o/blue",
    ] {
        let doc: Value = reqwest::get(app.url(path))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], issuer.as_str(), "{path}");
        assert_eq!(doc["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
        assert_eq!(
            doc["token_endpoint"],
            format!("{}/api/v1/tokens", app.address)
        );
    }

    // A sign-in: the redirect, the ID token and the access token name it.
    let pkce = pkce();
    let browser = visitor();
    let page = get(&app, &browser, &authorize_path(&client.id, &pkce, &[])).await;
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Blue Salon"),
        "the page names the organization"
    );
    let response = submit(&app, &browser, &html, "bea@blue.example", NEW_PASSWORD).await;
    let (_, params) = redirect_params(&response);
    assert_eq!(param(&params, "iss"), Some(issuer.as_str()));
    let code = param(&params, "code").unwrap().to_owned();
    let (status, tokens) = exchange(
        &app,
        &client.id,
        Some(&client.secret),
        &exchange_fields(&code, &pkce),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let org_keys: JwkSet = reqwest::get(format!("{issuer}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let main_keys: JwkSet = reqwest::get(app.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verify = |token: &str, audience: &str| -> Result<Value, String> {
        let header = jsonwebtoken::decode_header(token).unwrap();
        let jwk = org_keys
            .find(header.kid.as_deref().unwrap())
            .ok_or("not one of the organization's keys")?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_audience(&[audience]);
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .map(|d| d.claims)
            .map_err(|e| e.to_string())
    };
    let id_claims = verify(tokens["id_token"].as_str().unwrap(), &client.id).unwrap();
    assert_eq!(id_claims["email"], "bea@blue.example");
    let access = tokens["access_token"].as_str().unwrap();
    let api = format!("{}/api", app.address);
    let access_claims = verify(access, &api).unwrap();
    assert_eq!(access_claims["iss"], issuer.as_str());
    assert_eq!(bearer_get(&app, "/api/v2/services", access).await.0, 200);
    // The organization's key set holds its keys only; the server's holds all.
    let kid = jsonwebtoken::decode_header(access).unwrap().kid.unwrap();
    assert_eq!(org_keys.keys.len(), 1);
    assert!(main_keys.find(&kid).is_some() && main_keys.find(&main_kid).is_some());
    assert!(org_keys.find(&main_kid).is_none());

    // Introspection (RFC 7662 §2.2) names the same issuer.
    let introspected: Value = reqwest::Client::new()
        .post(app.url("/api/v1/tokens/introspect"))
        .basic_auth(&client.id, Some(&client.secret))
        .send_form(&[("token", access)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["iss"], issuer.as_str());
}
