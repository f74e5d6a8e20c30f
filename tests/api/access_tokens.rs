//! Access tokens of an app's users: the token endpoint's grants and refusals,
//! the credential check with tokens, refresh rotation and reuse detection,
//! revocation, introspection, invalidation across instances, and a user's own
//! password change.

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use keyward::db::DbError;
use serde_json::{Value, json};

use crate::helpers::{CreatedApp, TestApp, location, next_working_day_at, spawn_app};
use crate::users::{NEW_PASSWORD, add_employee, choose_password, last_link, visitor};

pub const EMAIL: &str = "dara@salon.example";

/// An admin, an Employee app with these JWT GROUPS permissions (and no API
/// keys), and an employee who has chosen [`NEW_PASSWORD`]: their id.
pub async fn employee_setup(app: &TestApp, jwt: &[&str]) -> (CreatedApp, String) {
    app.signed_in_admin().await;
    let created = app
        .create_app_for("employee", "Staff app", "client_app", &[], jwt)
        .await;
    let id = invited_employee(app, "Dara Lopes", EMAIL).await;
    (created, id)
}

/// An employee added, invited, and with [`NEW_PASSWORD`] chosen.
pub async fn invited_employee(app: &TestApp, name: &str, email: &str) -> String {
    let id = add_employee(app, name, email).await;
    let response = app.post_form(&format!("/staff/{id}/invitation"), &[]).await;
    assert_eq!(location(&response), "/staff");
    let link = last_link(app);
    let (status, body) = choose_password(app, &visitor(), &link, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    id
}

/// A POST of form fields to a token endpoint, the app authenticated by HTTP Basic.
pub async fn token_request(
    app: &TestApp,
    path: &str,
    client: &CreatedApp,
    fields: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(app.url(path))
        .basic_auth(&client.id, Some(&client.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_html_form::to_string(fields).unwrap())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

/// The password grant for [`EMAIL`]: the token pair.
pub async fn sign_in(app: &TestApp, client: &CreatedApp) -> Value {
    let (status, headers, body) = token_request(
        app,
        "/api/v1/tokens",
        client,
        &[
            ("grant_type", "password"),
            ("username", EMAIL),
            ("password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    body
}

async fn refresh(app: &TestApp, client: &CreatedApp, refresh_token: &str) -> (u16, Value) {
    let (status, _, body) = token_request(
        app,
        "/api/v1/tokens",
        client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await;
    (status, body)
}

/// A call with a bearer token: the status and the error code, if any.
pub async fn bearer_get(app: &TestApp, path: &str, token: &str) -> (u16, String) {
    let response = app
        .api(reqwest::Method::GET, path, Some(&format!("Bearer {token}")))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (
        status,
        body["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn audit_count(app: &TestApp, action: &str) -> usize {
    app.audit_actions()
        .await
        .into_iter()
        .filter(|a| a.0 == action)
        .count()
}

/// Waits up to two seconds for `path` to answer `status` with `token`.
async fn eventually(app: &TestApp, path: &str, token: &str, status: u16) -> (u16, String) {
    let start = Instant::now();
    loop {
        let got = bearer_get(app, path, token).await;
        if got.0 == status || start.elapsed() > Duration::from_secs(2) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn an_employee_signs_in_with_the_password_grant_and_calls_the_api() {
    let app = spawn_app().await;
    let (client, employee) = employee_setup(&app, &["services:read", "appointments:read"]).await;
    let pair = sign_in(&app, &client).await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["scope"], "appointments:read services:read");
    let expires_in = pair["expires_in"].as_i64().unwrap();
    assert!((890..=900).contains(&expires_in), "{expires_in}");
    let refresh_token = pair["refresh_token"].as_str().unwrap();
    assert!(refresh_token.starts_with("kwr_") && refresh_token.len() == 48);
    let access = pair["access_token"].as_str().unwrap();

    // The API takes it as a Bearer credential, with its permissions only.
    let (status, code) = bearer_get(&app, "/api/v2/services", access).await;
    assert_eq!((status, code.as_str()), (200, ""));
    let response = app
        .api(
            reqwest::Method::GET,
            "/api/v2/payments",
            Some(&format!("Bearer {access}")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="keyward", error="insufficient_scope", scope="payments:read""#
    );
    let (_, code) = app.api_error(response).await;
    assert_eq!(code, "insufficient_scope");

    // The auth check names the user and their type beside the app.
    let response = app
        .api(
            reqwest::Method::GET,
            "/api/v1/auth/check?permission=services:read",
            Some(&format!("Bearer {access}")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let h = response.headers().clone();
    assert_eq!(h["x-keyward-app-id"], client.id.as_str());
    assert_eq!(h["x-keyward-user-id"], employee.as_str());
    assert_eq!(h["x-keyward-user-type"], "employee");
    assert!(h.get("x-keyward-key-id").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user_id"], employee.as_str());
    assert_eq!(body["key_id"], Value::Null);

    // The token verifies offline, with an independent JWT library, against
    // the published key set.
    let set: JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(access).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = set.find(header.kid.as_deref().unwrap()).unwrap();
    let issuer = app.state.settings.issuer();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[issuer.as_str()]);
    validation.set_audience(&[format!("{issuer}/api")]);
    let claims =
        jsonwebtoken::decode::<Value>(access, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .expect("verifies against the JWKS")
            .claims;
    assert_eq!(claims["sub"], format!("employee:{employee}"));
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["scope"], "appointments:read services:read");
    assert_eq!(claims["user_type"], "employee");
    assert!(claims["jti"].is_string() && claims["sid"].is_string());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );

    // Each sign-in is audited, without the password or any token.
    assert_eq!(audit_count(&app, "user.signed_in").await, 1);
    let dump = app.database_dump().await;
    assert!(!dump.contains(NEW_PASSWORD) && !dump.contains(refresh_token));
    assert!(!dump.contains(access));

    // JSON works as well as a form, with the client in the body.
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/tokens"))
        .json(&json!({
            "grant_type": "password",
            "username": "DARA@salon.example",
            "password": NEW_PASSWORD,
            "client_id": client.id,
            "client_secret": client.secret,
            "scope": "services:read",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "services:read");
}

#[actix_web::test]
async fn every_wrong_credential_gets_the_standard_error_and_changes_nothing() {
    let app = spawn_app().await;
    let (client, _) = employee_setup(&app, &["services:read"]).await;
    let password = [
        ("grant_type", "password"),
        ("username", EMAIL),
        ("password", NEW_PASSWORD),
    ];
    let wrong_secret = CreatedApp {
        secret: format!("{}x", client.secret),
        ..client.clone()
    };
    let unknown = CreatedApp {
        id: "00000000-0000-0000-0000-000000000000".to_owned(),
        ..client.clone()
    };
    for who in [&wrong_secret, &unknown] {
        let (status, headers, body) = token_request(&app, "/api/v1/tokens", who, &password).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(headers["www-authenticate"], r#"Basic realm="keyward""#);
        assert!(!body.to_string().contains(&client.secret));
    }

    // The user's mistakes all read the same.
    let mut descriptions = Vec::new();
    for (username, pass) in [
        (EMAIL, "not the password at all"),
        ("nobody@salon.example", NEW_PASSWORD),
        ("not an email", NEW_PASSWORD),
    ] {
        let (status, _, body) = token_request(
            &app,
            "/api/v1/tokens",
            &client,
            &[
                ("grant_type", "password"),
                ("username", username),
                ("password", pass),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
        descriptions.push(body["error_description"].clone());
    }
    assert!(
        descriptions.windows(2).all(|w| w[0] == w[1]),
        "{descriptions:?}"
    );

    for (fields, error) in [
        (vec![("username", EMAIL)], "invalid_request"),
        (
            vec![("grant_type", "client_credentials")],
            "unsupported_grant_type",
        ),
        (
            vec![("grant_type", "password"), ("password", "x")],
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", EMAIL),
                ("password", NEW_PASSWORD),
                ("scope", "payments:read"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", EMAIL),
                ("password", NEW_PASSWORD),
                ("scope", "no:such"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("grant_type", "password"),
                ("username", EMAIL),
                ("password", NEW_PASSWORD),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("username", EMAIL),
                ("password", NEW_PASSWORD),
                ("client_secret", "kws_also_in_the_body"),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "kwr_nope"),
            ],
            "invalid_grant",
        ),
    ] {
        let (status, _, body) = token_request(&app, "/api/v1/tokens", &client, &fields).await;
        assert_eq!(body["error"], error, "{fields:?}: {body}");
        assert_eq!(status, 400, "{fields:?}");
    }

    // Not a form, not JSON.
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/tokens"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("content-type", "text/plain")
        .body("grant_type=password")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    // No client at all.
    let response = reqwest::Client::new()
        .post(app.url("/api/v1/tokens"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_html_form::to_string(password).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(audit_count(&app, "user.signed_in").await, 0);
    assert_eq!(audit_count(&app, "user.sign_in_failed").await, 3);
}

#[actix_web::test]
async fn the_apps_login_user_type_decides_who_signs_in() {
    let app = spawn_app().await;
    let (employees_app, _) = employee_setup(&app, &["services:read"]).await;
    let guests_app = app
        .create_app(
            "Guest app",
            "external_cma",
            &["guests:create"],
            &["services:read"],
        )
        .await;
    // An employee cannot sign in to a Guest app.
    let (status, _, body) = token_request(
        &app,
        "/api/v1/tokens",
        &guests_app,
        &[
            ("grant_type", "password"),
            ("username", EMAIL),
            ("password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // A guest added through the API with a password signs in to the Guest
    // app, and not to the Employee app.
    let document = |password: &str| {
        json!({ "data": { "type": "guests", "attributes": {
            "first_name": "Gil", "last_name": "Neves",
            "email": "gil@example.com", "password": password } } })
    };
    let create = |doc: Value| {
        app.api(
            reqwest::Method::POST,
            "/api/v2/guests",
            Some(&format!("apikey {}", guests_app.key)),
        )
        .header("content-type", "application/vnd.api+json")
        .body(doc.to_string())
    };
    let weak = create(document("password1234")).send().await.unwrap();
    assert_eq!(weak.status().as_u16(), 422);
    let body: Value = weak.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["source"]["pointer"],
        "/data/attributes/password"
    );
    let created = create(document("rain on the copper roof"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let body: Value = created.json().await.unwrap();
    assert!(
        body["data"]["attributes"].get("password").is_none(),
        "write-only"
    );
    let guest = body["data"]["id"].as_str().unwrap().to_owned();
    let as_guest = [
        ("grant_type", "password"),
        ("username", "gil@example.com"),
        ("password", "rain on the copper roof"),
    ];
    let (status, _, pair) = token_request(&app, "/api/v1/tokens", &guests_app, &as_guest).await;
    assert_eq!(status, 200, "{pair}");
    let (status, _, _) = token_request(&app, "/api/v1/tokens", &employees_app, &as_guest).await;
    assert_eq!(status, 400);
    let sets = app.audit_changes("user.password_set").await;
    assert!(sets.iter().any(|c| c["through"] == "api"));
    // The password is set once, on creation.
    let response = app
        .api(
            reqwest::Method::PATCH,
            &format!("/api/v2/guests/{guest}"),
            Some(&format!("apikey {}", guests_app.key)),
        )
        .header("content-type", "application/vnd.api+json")
        .body(
            json!({ "data": { "type": "guests", "id": guest,
                "attributes": { "password": "another long passphrase" } } })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        403,
        "no guests:update permission"
    );
}

#[actix_web::test]
async fn a_refresh_rotates_and_a_replayed_token_revokes_the_whole_sign_in() {
    let app = spawn_app().await;
    let (client, _) = employee_setup(&app, &["services:read"]).await;
    let first = sign_in(&app, &client).await;
    let old = first["refresh_token"].as_str().unwrap().to_owned();
    let (status, second) = refresh(&app, &client, &old).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_ne!(second["access_token"], first["access_token"]);

    // The client's own retry within the grace gets the very same pair.
    let (status, retry) = refresh(&app, &client, &old).await;
    assert_eq!(status, 200);
    assert_eq!(retry["refresh_token"], second["refresh_token"]);
    assert_eq!(retry["access_token"], second["access_token"]);

    // Past the grace, the old token is a replay: the sign-in ends.
    {
        use diesel::prelude::*;
        use keyward::db::schema::refresh_tokens::dsl::*;
        let long_ago = keyward::clock::now() - time::Duration::seconds(11);
        app.db()
            .run(move |conn| {
                diesel::update(refresh_tokens.filter(rotated_at.is_not_null()))
                    .set(rotated_at.eq(long_ago))
                    .execute(conn)
                    .map_err(DbError::from)
            })
            .await
            .unwrap();
    }
    let newest_access = second["access_token"].as_str().unwrap();
    assert_eq!(
        bearer_get(&app, "/api/v2/services", newest_access).await.0,
        200
    );
    let (status, body) = refresh(&app, &client, &old).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(audit_count(&app, "token.reuse_detected").await, 1);
    let (status, body) = refresh(&app, &client, second["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400, "the newest refresh token died too: {body}");
    assert_eq!(
        bearer_get(&app, "/api/v2/services", newest_access).await,
        (401, "token_revoked".to_owned())
    );
    // Another app cannot use this app's refresh tokens.
    let other = app
        .create_app_for("employee", "Other", "bot", &[], &["services:read"])
        .await;
    let fresh = sign_in(&app, &client).await;
    let (status, _) = refresh(&app, &other, fresh["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn two_concurrent_refreshes_get_the_same_pair() {
    let app = spawn_app().await;
    let (client, _) = employee_setup(&app, &["services:read"]).await;
    let pair = sign_in(&app, &client).await;
    let old = pair["refresh_token"].as_str().unwrap();
    let (a, b) = tokio::join!(refresh(&app, &client, old), refresh(&app, &client, old));
    assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
    assert_eq!(a.1["refresh_token"], b.1["refresh_token"]);
    assert_eq!(audit_count(&app, "token.reuse_detected").await, 0);
}

#[actix_web::test]
async fn revocation_ends_a_sign_in_or_one_access_token() {
    let app = spawn_app().await;
    let (client, _) = employee_setup(&app, &["services:read"]).await;
    let pair = sign_in(&app, &client).await;
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(bearer_get(&app, "/api/v2/services", access).await.0, 200);

    // One access token, by its jti.
    let (status, headers, body) =
        token_request(&app, "/api/v1/tokens/revoke", &client, &[("token", access)]).await;
    assert_eq!((status, body.clone()), (200, json!({})));
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        bearer_get(&app, "/api/v2/services", access).await,
        (401, "token_revoked".to_owned())
    );
    // Its refresh token still works, and a new access token passes.
    let (status, next) = refresh(&app, &client, pair["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let next_access = next["access_token"].as_str().unwrap();
    assert_eq!(
        bearer_get(&app, "/api/v2/services", next_access).await.0,
        200
    );

    // The refresh token ends the whole sign-in.
    let (status, _, _) = token_request(
        &app,
        "/api/v1/tokens/revoke",
        &client,
        &[
            ("token", next["refresh_token"].as_str().unwrap()),
            ("token_type_hint", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        bearer_get(&app, "/api/v2/services", next_access).await,
        (401, "token_revoked".to_owned())
    );
    let (status, _) = refresh(&app, &client, next["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
    // Unknown tokens are no error (RFC 7009 §2.2); an unknown hint is.
    for token in ["kwr_unknown", "eyJ.not.a.token", "anything"] {
        let (status, _, _) =
            token_request(&app, "/api/v1/tokens/revoke", &client, &[("token", token)]).await;
        assert_eq!(status, 200, "{token}");
    }
    let (status, _, body) = token_request(
        &app,
        "/api/v1/tokens/revoke",
        &client,
        &[("token", "x"), ("token_type_hint", "id_token")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_token_type"))
    );
    assert_eq!(audit_count(&app, "token.revoked").await, 2);
}

#[actix_web::test]
async fn introspection_tells_a_resource_server_what_a_token_carries() {
    let app = spawn_app().await;
    let (client, employee) = employee_setup(&app, &["services:read"]).await;
    let pair = sign_in(&app, &client).await;
    let access = pair["access_token"].as_str().unwrap();
    let (status, _, body) = token_request(
        &app,
        "/api/v1/tokens/introspect",
        &client,
        &[("token", access)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "services:read");
    assert_eq!(body["client_id"], client.id.as_str());
    assert_eq!(body["sub"], format!("employee:{employee}"));
    assert_eq!(body["iss"], app.state.settings.issuer());
    let (_, _, body) = token_request(
        &app,
        "/api/v1/tokens/introspect",
        &client,
        &[("token", pair["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "refresh_token");
    for garbage in ["kwr_nothing", "a.b.c", "x"] {
        let (status, _, body) = token_request(
            &app,
            "/api/v1/tokens/introspect",
            &client,
            &[("token", garbage)],
        )
        .await;
        assert_eq!((status, body), (200, json!({ "active": false })));
    }
    token_request(&app, "/api/v1/tokens/revoke", &client, &[("token", access)]).await;
    let (_, _, body) = token_request(
        &app,
        "/api/v1/tokens/introspect",
        &client,
        &[("token", access)],
    )
    .await;
    assert_eq!(body, json!({ "active": false }));
    // The app's credentials are needed.
    let wrong = CreatedApp {
        secret: "kws_wrong".to_owned(),
        ..client.clone()
    };
    let (status, _, _) = token_request(
        &app,
        "/api/v1/tokens/introspect",
        &wrong,
        &[("token", access)],
    )
    .await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn a_password_reset_revokes_every_token_on_every_instance_within_a_second() {
    let app = spawn_app().await;
    let (client, employee) = employee_setup(&app, &["services:read"]).await;
    let pair = sign_in(&app, &client).await;
    let access = pair["access_token"].as_str().unwrap();
    let sibling = app.sibling().await;
    // Both instances have it cached.
    assert_eq!(bearer_get(&app, "/api/v2/services", access).await.0, 200);
    assert_eq!(
        bearer_get(&sibling, "/api/v2/services", access).await.0,
        200
    );

    let response = app
        .post_form(&format!("/staff/{employee}/password-reset"), &[])
        .await;
    assert_eq!(location(&response), "/staff");
    assert_eq!(
        bearer_get(&app, "/api/v2/services", access).await,
        (401, "token_revoked".to_owned()),
        "at once on the instance that made the change"
    );
    assert_eq!(
        eventually(&sibling, "/api/v2/services", access, 401).await,
        (401, "token_revoked".to_owned()),
        "within a second on another"
    );
    let (status, _) = refresh(&app, &client, pair["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);
}

#[actix_web::test]
async fn leaving_blocking_inactivating_and_narrowing_end_what_tokens_may_do() {
    let app = spawn_app().await;
    let (client, employee) = employee_setup(&app, &["services:read", "appointments:read"]).await;

    // The app's JWT permissions narrowed: tokens carry at most the new set.
    let pair = sign_in(&app, &client).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        bearer_get(&app, "/api/v2/appointments", &access).await.0,
        200
    );
    // (What the app's edit page saves, through the same service.)
    let (org, id) = (
        app.org_id().await,
        keyward::domain::AppId::from(client.id.as_str()),
    );
    app.state
        .op(move |conn| {
            use keyward::domain::scopes::PermissionSet;
            keyward::services::apps::update_scopes(
                conn,
                &org,
                &keyward::db::models::Actor::system("test"),
                &id,
                &PermissionSet::default(),
                &PermissionSet::from_stored("services:read"),
            )
        })
        .await
        .unwrap();
    assert_eq!(
        bearer_get(&app, "/api/v2/appointments", &access).await,
        (403, "insufficient_scope".to_owned())
    );
    assert_eq!(bearer_get(&app, "/api/v2/services", &access).await.0, 200);

    // The app inactivated: its sign-ins end for good.
    app.post_form(&format!("/apps/{}/inactivate", client.id), &[])
        .await;
    assert_eq!(bearer_get(&app, "/api/v2/services", &access).await.0, 401);
    app.post_form(&format!("/apps/{}/activate", client.id), &[])
        .await;
    assert_eq!(bearer_get(&app, "/api/v2/services", &access).await.0, 401);
    let (status, _) = refresh(&app, &client, pair["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);

    // The employee leaves: every token dies, and no sign-in works.
    let pair = sign_in(&app, &client).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    app.post_form(&format!("/staff/{employee}/left"), &[]).await;
    assert_eq!(
        bearer_get(&app, "/api/v2/services", &access).await,
        (401, "token_revoked".to_owned())
    );
    let (status, _, body) = token_request(
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
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[actix_web::test]
async fn forged_altered_expired_and_foreign_tokens_are_refused() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let app = spawn_app().await;
    let (client, _) = employee_setup(&app, &["services:read"]).await;
    let pair = sign_in(&app, &client).await;
    let access = pair["access_token"].as_str().unwrap();
    let parts: Vec<&str> = access.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());

    // More scope, same signature.
    claims["scope"] = "services:read payments:read".into();
    let tampered = format!("{}.{}.{}", parts[0], encode(&claims), parts[2]);
    // alg none.
    let none = format!(
        "{}.{}.",
        encode(&json!({ "alg": "none", "typ": "at+jwt", "kid": header["kid"] })),
        parts[1]
    );
    // HS256 keyed with the public key (the algorithm confusion attack).
    let set: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let public = set["keys"][0]["x"].as_str().unwrap();
    let mut hs = jsonwebtoken::Header::new(Algorithm::HS256);
    hs.typ = Some("at+jwt".into());
    hs.kid = header["kid"].as_str().map(str::to_owned);
    let original: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let confused = jsonwebtoken::encode(
        &hs,
        &original,
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()).unwrap(),
    )
    .unwrap();
    // Signed by this server's key, but expired, or for another issuer.
    let signer = {
        use diesel::prelude::*;
        let keys = app
            .db()
            .run(|conn| {
                keyward::db::schema::signing_keys::table
                    .select(keyward::db::models::token::SigningKey::as_select())
                    .load(conn)
                    .map_err(DbError::from)
            })
            .await
            .unwrap();
        keyward::jwt::Signer::open(
            &keys[0].kid,
            &keys[0].private_key_sealed,
            &app.state.sealing_key,
        )
        .unwrap()
    };
    let mut typed: keyward::jwt::AccessClaims = serde_json::from_value(original.clone()).unwrap();
    typed.exp = typed.iat - 1;
    let expired = signer.sign(&typed).unwrap();
    let mut typed: keyward::jwt::AccessClaims = serde_json::from_value(original).unwrap();
    typed.iss = "https://elsewhere.example".into();
    typed.jti = "other-issuer".into();
    let foreign = signer.sign(&typed).unwrap();

    for (token, code) in [
        (tampered.as_str(), "invalid_credentials"),
        (none.as_str(), "invalid_credentials"),
        (confused.as_str(), "invalid_credentials"),
        (foreign.as_str(), "invalid_credentials"),
        (expired.as_str(), "token_expired"),
        ("eyJhbGciOiJFZERTQSJ9.e30.AAAA", "invalid_credentials"),
    ] {
        let response = app
            .api(
                reqwest::Method::GET,
                "/api/v2/services",
                Some(&format!("Bearer {token}")),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{code}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
        let (_, got) = app.api_error(response).await;
        assert_eq!(got, code);
    }
    // The genuine one still passes.
    assert_eq!(bearer_get(&app, "/api/v2/services", access).await.0, 200);
}

#[actix_web::test]
async fn a_user_changes_their_own_password_and_their_other_sign_ins_end() {
    let app = spawn_app().await;
    let (client, _) = employee_setup(&app, &["services:read"]).await;
    let this = sign_in(&app, &client).await;
    let other = sign_in(&app, &client).await;
    let change = |token: String, body: Value| {
        app.api(
            reqwest::Method::POST,
            "/api/v1/users/me/password",
            Some(&format!("Bearer {token}")),
        )
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
    };
    let token = this["access_token"].as_str().unwrap().to_owned();
    let response = change(
        token.clone(),
        json!({ "current_password": "wrong wrong wrong", "new_password": "a brand new passphrase here" }),
    )
    .await
    .unwrap();
    assert_eq!(
        app.api_error(response).await,
        (422, "current_password_incorrect".to_owned())
    );
    let response = change(
        token.clone(),
        json!({ "current_password": NEW_PASSWORD, "new_password": "short" }),
    )
    .await
    .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let response = change(
        token.clone(),
        json!({ "current_password": NEW_PASSWORD, "new_password": "a brand new passphrase here" }),
    )
    .await
    .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(
        bearer_get(&app, "/api/v2/services", &token).await.0,
        200,
        "this sign-in goes on"
    );
    assert_eq!(
        bearer_get(
            &app,
            "/api/v2/services",
            other["access_token"].as_str().unwrap()
        )
        .await,
        (401, "token_revoked".to_owned())
    );
    assert_eq!(audit_count(&app, "user.password_changed").await, 1);
    // The new password signs in; the old one does not.
    let (status, _, _) = token_request(
        &app,
        "/api/v1/tokens",
        &client,
        &[
            ("grant_type", "password"),
            ("username", EMAIL),
            ("password", "a brand new passphrase here"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    // An API key cannot change a password.
    let keyed = app
        .create_app("Keyed", "client_app", &["services:read"], &[])
        .await;
    let response = app
        .api(
            reqwest::Method::POST,
            "/api/v1/users/me/password",
            Some(&format!("apikey {}", keyed.key)),
        )
        .header("content-type", "application/json")
        .body(json!({ "current_password": "x", "new_password": "y" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.api_error(response).await,
        (403, "user_token_required".to_owned())
    );
}

#[actix_web::test]
async fn wrong_passwords_are_throttled_like_the_admin_sign_in() {
    let app = spawn_app().await;
    let (client, _) = employee_setup(&app, &["services:read"]).await;
    let wrong = [
        ("grant_type", "password"),
        ("username", EMAIL),
        ("password", "not the password at all"),
    ];
    for _ in 0..5 {
        let (status, _, _) = token_request(&app, "/api/v1/tokens", &client, &wrong).await;
        assert_eq!(status, 400);
    }
    let (status, headers, body) = token_request(&app, "/api/v1/tokens", &client, &wrong).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            > 0
    );
    // Even the right password waits now.
    let (status, _, _) = token_request(
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
    assert_eq!(status, 429);
}

#[actix_web::test]
async fn a_booking_made_with_a_token_names_its_user() {
    let app = spawn_app().await;
    app.demo_key().await;
    let (client, employee) = employee_setup(
        &app,
        &[
            "services:read",
            "available_slots:read",
            "appointments:create",
            "employees:read",
        ],
    )
    .await;
    let pair = sign_in(&app, &client).await;
    let access = pair["access_token"].as_str().unwrap();
    let get = |path: String| {
        app.api(
            reqwest::Method::GET,
            &path,
            Some(&format!("Bearer {access}")),
        )
        .send()
    };
    let services: Value = get("/api/v2/services".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let service = services["data"][0]["id"].as_str().unwrap().to_owned();
    // A week ahead, never a Sunday: no working hours then.
    let date = &next_working_day_at(10)[..10];
    let slots: Value = get(format!(
        "/api/v2/available_slots?filter[service]={service}&filter[date]={date}"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let slot = &slots["data"][0];
    let response = app
        .api(
            reqwest::Method::POST,
            "/api/v2/appointments",
            Some(&format!("Bearer {access}")),
        )
        .header("content-type", "application/vnd.api+json")
        .body(
            json!({ "data": { "type": "appointments",
                "attributes": { "starts_at": slot["attributes"]["starts_at"] },
                "relationships": {
                    "service": { "data": { "type": "services", "id": service } },
                    "employee": slot["relationships"]["employee"],
                } } })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body} for the slot {slot}");
    assert_eq!(
        body["data"]["attributes"]["booked_by_user"],
        format!("employee:{employee}")
    );
    assert_eq!(body["data"]["attributes"]["source"], "api");
}

#[actix_web::test]
async fn the_console_shows_an_apps_tokens_and_a_users_sign_ins_and_revokes_one() {
    let app = spawn_app().await;
    let (client, employee) = employee_setup(&app, &["services:read"]).await;
    let keys_only = app
        .create_app("Keys only", "client_app", &["services:read"], &[])
        .await;
    let page = app.get_html(&format!("/apps/{}", keys_only.id), 200).await;
    assert!(page.contains("This app issues no access tokens"));

    let first = sign_in(&app, &client).await;
    let second = sign_in(&app, &client).await;
    let page = app.get_html(&format!("/apps/{}", client.id), 200).await;
    assert!(page.contains("This app issues access tokens to employees"));
    assert!(page.contains("15 minutes") && page.contains("30 days, or 7 days unused"));
    assert!(page.contains("Recent sign-ins"));
    assert_eq!(page.matches("Dara Lopes</a>").count(), 2);
    assert!(page.contains(&format!("/staff/{employee}/sessions")));

    // The employee's sign-ins, each with Revoke.
    let staff = app.get_html("/staff", 200).await;
    assert!(staff.contains(&format!("href=\"/staff/{employee}/sessions\"")));
    let sessions = app
        .get_html(&format!("/staff/{employee}/sessions"), 200)
        .await;
    assert!(sessions.contains("Sign-ins of Dara Lopes"));
    assert_eq!(sessions.matches(">Revoke</button>").count(), 2);
    assert!(sessions.contains("Staff app") && sessions.contains("127.0.0.1"));
    let marker = format!("/staff/{employee}/sessions/");
    let at = sessions.find(&format!("action=\"{marker}")).unwrap() + "action=\"".len();
    let revoke = sessions[at..].split('"').next().unwrap().to_owned();
    let response = app.post_form(&revoke, &[]).await;
    assert_eq!(location(&response), format!("/staff/{employee}/sessions"));
    let sessions = app
        .get_html(&format!("/staff/{employee}/sessions"), 200)
        .await;
    assert!(sessions.contains("The sign-in was revoked"));
    assert_eq!(sessions.matches(">Revoke</button>").count(), 1);
    // Exactly one of the two sign-ins stopped, at once.
    let statuses = [
        bearer_get(
            &app,
            "/api/v2/services",
            first["access_token"].as_str().unwrap(),
        )
        .await
        .0,
        bearer_get(
            &app,
            "/api/v2/services",
            second["access_token"].as_str().unwrap(),
        )
        .await
        .0,
    ];
    let mut sorted = statuses;
    sorted.sort_unstable();
    assert_eq!(sorted, [200, 401], "{statuses:?}");
    let revoked = app.audit_changes("token.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["reason"], "revoked_by_admin");
    let page = app.get_html(&format!("/apps/{}", client.id), 200).await;
    assert!(page.contains("Revoked by an admin"));

    // Someone else's sign-in, a made-up one, a made-up employee.
    let again = app.post_form(&revoke, &[]).await;
    assert_eq!(location(&again), format!("/staff/{employee}/sessions"));
    let other = invited_employee(&app, "Edu Prado", "edu@salon.example").await;
    let session_id = revoke
        .trim_start_matches(&marker)
        .trim_end_matches("/revoke");
    let response = app
        .post_form(&format!("/staff/{other}/sessions/{session_id}/revoke"), &[])
        .await;
    assert_eq!(response.status().as_u16(), 404);
    let response = app
        .post_form(&format!("/staff/{employee}/sessions/nope/revoke"), &[])
        .await;
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        app.get("/staff/00000000-0000-0000-0000-000000000000/sessions")
            .await
            .status()
            .as_u16(),
        404
    );

    // A limited admin sees no sign-ins.
    let limited = app.sibling().await;
    limited
        .signed_in_as("lim@example.com", keyward::db::models::Role::Limited)
        .await;
    assert_eq!(
        limited
            .get(&format!("/staff/{employee}/sessions"))
            .await
            .status()
            .as_u16(),
        403
    );
    assert!(
        !limited
            .get_html("/staff", 200)
            .await
            .contains("/sessions\"")
    );
}

#[actix_web::test]
async fn a_guests_sign_ins_are_listed_and_blocking_ends_them() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let guests_app = app
        .create_app(
            "Web store",
            "external_webstore",
            &["guests:create"],
            &["services:read"],
        )
        .await;
    let response = app
        .api(
            reqwest::Method::POST,
            "/api/v2/guests",
            Some(&format!("apikey {}", guests_app.key)),
        )
        .header("content-type", "application/vnd.api+json")
        .body(
            json!({ "data": { "type": "guests", "attributes": {
                "first_name": "Ivo", "last_name": "Sá",
                "email": "ivo@example.com", "password": "seven swans over the lake" } } })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let guest = response.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _, pair) = token_request(
        &app,
        "/api/v1/tokens",
        &guests_app,
        &[
            ("grant_type", "password"),
            ("username", "ivo@example.com"),
            ("password", "seven swans over the lake"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{pair}");
    let page = app
        .get_html(&format!("/guests/{guest}/sessions"), 200)
        .await;
    assert!(page.contains("Sign-ins of Ivo Sá") && page.contains("Web store"));
    assert!(
        app.get_html("/guests", 200)
            .await
            .contains(&format!("/guests/{guest}/sessions"))
    );
    app.post_form(&format!("/guests/{guest}/block"), &[]).await;
    assert_eq!(
        bearer_get(
            &app,
            "/api/v2/services",
            pair["access_token"].as_str().unwrap()
        )
        .await,
        (401, "token_revoked".to_owned())
    );
    let page = app
        .get_html(&format!("/guests/{guest}/sessions"), 200)
        .await;
    assert!(page.contains("No active sign-ins"));

    // A second guest with the same email cannot take it as a sign-in name.
    let response = app
        .api(
            reqwest::Method::POST,
            "/api/v2/guests",
            Some(&format!("apikey {}", guests_app.key)),
        )
        .header("content-type", "application/vnd.api+json")
        .body(
            json!({ "data": { "type": "guests", "attributes": {
                "first_name": "Ivo", "last_name": "Other",
                "email": "ivo@example.com", "password": "another swan by the lake" } } })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "email_in_use");
}
