//! The hosted sign-in in a real browser, with a standard OpenID Connect
//! client library (the `openidconnect` crate) acting as the app, configured
//! from the discovery document alone.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreUserInfoClaims};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, LogoutRequest, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PostLogoutRedirectUrl, ProviderMetadataWithLogout,
    RedirectUrl, Scope, TokenResponse,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::driver::Browser;
use crate::access_tokens::{EMAIL, bearer_get, invited_employee};
use crate::helpers::{TestApp, spawn_app};
use crate::users::{NEW_PASSWORD, add_guests, choose_password, last_link, visitor};

/// The client library's HTTP client: the test's reqwest, never following
/// redirects (OpenID Connect Core §3.1.3.1 answers are direct).
async fn http(
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut answer = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    let body = response.bytes().await?.to_vec();
    Ok(answer.body(body).expect("a response"))
}

/// The app's own pages: a listener that answers anything with a page that
/// says where it is.
async fn app_site() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buffer = [0u8; 8192];
                let _ = socket.read(&mut buffer).await;
                let body = "<!DOCTYPE html><title>The app</title><p>Back at the app.</p>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    address
}

/// The whole flow as the app runs it: discovery from the organization's
/// `issuer` alone, the browser signs `email` in on the page naming
/// `organization`, the code exchange with PKCE, the ID token validated
/// against the issuer's keys, the API called, UserInfo, and signing out to
/// the Post Logout Redirect URL.
#[allow(clippy::too_many_arguments)]
async fn sign_in_and_out(
    app: &TestApp,
    (issuer, organization): (&str, &str),
    test: &str,
    site: &str,
    client_id: &str,
    secret: Option<&str>,
    email: &str,
) {
    let metadata = ProviderMetadataWithLogout::discover_async(
        IssuerUrl::new(issuer.to_owned()).unwrap(),
        &http,
    )
    .await
    .expect("the discovery document");
    let end_session = metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()
        .expect("an end_session_endpoint");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.to_owned()),
        secret.map(|s| ClientSecret::new(s.to_owned())),
    )
    .set_redirect_uri(RedirectUrl::new(format!("{site}/signed-in")).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .add_scope(Scope::new("profile".to_owned()))
        .add_scope(Scope::new("services:read".to_owned()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = Browser::open(&app.address, test).await;
    browser.client.goto(url.as_str()).await.unwrap();
    browser.wait_for_text("Sign in to").await;
    assert!(browser.text().await.contains(organization));
    browser.check_accessibility("hosted sign-in").await;
    browser.shot("hosted-sign-in").await;
    browser.fill("Email", email).await;
    browser.fill("Password", "not the password").await;
    browser.click("Sign in").await;
    browser
        .wait_for_text("The email or password is incorrect.")
        .await;
    browser.check_accessibility("hosted sign-in refused").await;
    browser.fill("Password", NEW_PASSWORD).await;
    browser.click("Sign in").await;
    browser.wait_for_text("Back at the app.").await;
    let back = browser.client.current_url().await.unwrap();
    assert!(
        back.as_str().starts_with(&format!("{site}/signed-in?")),
        "{back}"
    );
    let query: Vec<(String, String)> = back.query_pairs().into_owned().collect();
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} in {back}"))
    };
    assert_eq!(get("state"), *csrf.secret());
    // RFC 9207 §2.4: the issuer the client discovered.
    assert_eq!(get("iss"), issuer);

    let tokens = client
        .exchange_code(AuthorizationCode::new(get("code")))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code is exchanged");
    let id_token = tokens.id_token().expect("an ID token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("the ID token is valid for this client and nonce");
    assert_eq!(claims.email().map(|e| e.as_str()), Some(email));
    let access = tokens.access_token().secret();
    assert_eq!(bearer_get(app, "/api/v2/services", access).await.0, 200);
    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("UserInfo answers");
    assert_eq!(info.email().map(|e| e.as_str()), Some(email));

    let logout = LogoutRequest::from(end_session)
        .set_id_token_hint(id_token)
        .set_post_logout_redirect_uri(
            PostLogoutRedirectUrl::new(format!("{site}/signed-out")).unwrap(),
        )
        .set_state(CsrfToken::new("after-sign-out".to_owned()))
        .http_get_url();
    browser.client.goto(logout.as_str()).await.unwrap();
    browser.wait_for_text("Back at the app.").await;
    let landed = browser.client.current_url().await.unwrap();
    assert_eq!(
        landed.as_str(),
        format!("{site}/signed-out?state=after-sign-out")
    );
    // Signed out: the tokens of that sign-in no longer work.
    assert_eq!(bearer_get(app, "/api/v2/services", access).await.0, 401);
    browser.close().await;
}

#[actix_web::test]
async fn an_employee_of_a_new_organization_signs_in_through_its_own_issuer() {
    let main = spawn_app().await;
    let site = app_site().await;
    // An organization the operator made, whose admin sets up the app.
    let operator = main.operator("ops@platform.example").await;
    let made = operator
        .post_form(
            "/operator/organizations",
            &crate::tenants::new_org("Blue Salon", "blue", "bo@blue.example", true),
        )
        .await;
    assert_eq!(made.status().as_u16(), 303);
    let app = crate::tenants::first_admin_joins(&main, "bo@blue.example").await;
    let issuer = format!("{}/o/blue", main.address);
    let login = format!("{site}/signed-in");
    let logout = format!("{site}/signed-out");
    let created = app
        .create_app_with(
            "employee",
            "Staff app",
            "client_app",
            &[],
            &["services:read"],
            &[
                ("post_login_redirect_urls", login.as_str()),
                ("post_logout_redirect_urls", logout.as_str()),
            ],
        )
        .await;
    invited_employee(&app, "Dara Lopes", EMAIL).await;
    sign_in_and_out(
        &main,
        (&issuer, "Blue Salon"),
        "hosted-employee",
        &site,
        &created.id,
        Some(&created.secret),
        EMAIL,
    )
    .await;
}

#[actix_web::test]
async fn a_guest_signs_in_to_a_public_web_store_with_no_secret() {
    let app = spawn_app().await;
    let site = app_site().await;
    app.signed_in_admin().await;
    let login = format!("{site}/signed-in");
    let logout = format!("{site}/signed-out");
    let created = app
        .create_app_with(
            "guest",
            "Web store",
            "external_webstore",
            &[],
            &["services:read"],
            &[
                ("post_login_redirect_urls", login.as_str()),
                ("post_logout_redirect_urls", logout.as_str()),
            ],
        )
        .await;
    let ids = add_guests(&app, &[("Lia", "Reis", Some("lia@example.com"))]).await;
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
    sign_in_and_out(
        &app,
        (&app.address, "My organization"),
        "hosted-guest",
        &site,
        &created.id,
        None,
        "lia@example.com",
    )
    .await;

    // The page in dark mode, and Forgot password, pass axe too.
    let pkce = crate::oidc::pkce();
    let path = crate::oidc::authorize_path(&created.id, &pkce, &[("redirect_uri", &login)]);
    let dark = Browser::open_dark(&app.address, "hosted-dark").await;
    dark.go(&path).await;
    dark.wait_for_text("Sign in to Web store").await;
    assert!(dark.text().await.contains("guest account"));
    dark.check_accessibility("hosted sign-in (dark)").await;
    dark.shot("hosted-sign-in-dark").await;
    dark.click("Forgot password?").await;
    dark.wait_for_text("Forgot your password?").await;
    dark.fill("Email", "lia@example.com").await;
    dark.click("Send link").await;
    dark.wait_for_text("is on its way").await;
    dark.check_accessibility("forgot password (dark)").await;
    dark.shot("forgot-password-dark").await;
    dark.close().await;
}
