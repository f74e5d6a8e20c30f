//! The management API, called with the real `curl` as a script would: admin
//! API tokens made on the account page, apps and keys created, rolled,
//! switched off and refused by the same rules as in the console, every change
//! audited as the admin through the token, and `Idempotency-Key` retries
//! answered once.

use tokio::process::Command;

use keyward::db::models::Role;
use keyward::services::OpError;
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_summary, input_value, location, spawn_app};

/// Makes a token on the account page; its text, shown once.
pub async fn admin_token(app: &TestApp, name: &str, scopes: &[&str]) -> String {
    let mut fields = vec![("name", name), ("lifetime", "30")];
    fields.extend(scopes.iter().map(|s| ("scopes", *s)));
    let response = app.post_form("/account/tokens", &fields).await;
    assert_eq!(response.status().as_u16(), 303, "the token is made");
    assert_eq!(location(&response), "/account/tokens");
    let html = app.get_html("/account/tokens", 200).await;
    let token = input_value(&html, "new-admin-token").expect("the token, once");
    assert!(token.starts_with("kwa_"), "{token}");
    let again = app.get_html("/account/tokens", 200).await;
    assert!(
        input_value(&again, "new-admin-token").is_none(),
        "only once"
    );
    token
}

/// One call with curl: the status, the headers and the parsed body. curl runs
/// as a child the test awaits, never blocking the test's thread: the server's
/// background tasks (the verifier's feed reader among them) share it.
pub async fn curl(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
    idempotency_key: Option<&str>,
) -> (u16, String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("headers");
    let mut command = Command::new("curl");
    command
        .args(["-s", "--max-time", "30", "-X", method, "-D"])
        .arg(&headers)
        .args(["-w", "\n%{http_code}"])
        .args(["-H", &format!("Authorization: Bearer {token}")]);
    if let Some(body) = body {
        command
            .args([
                "-H",
                "Content-Type: application/vnd.api+json",
                "--data-binary",
            ])
            .arg(body.to_string());
    }
    if let Some(key) = idempotency_key {
        command.args(["-H", &format!("Idempotency-Key: {key}")]);
    }
    let output = command
        .arg(app.url(path))
        .output()
        .await
        .expect("curl runs");
    let text = String::from_utf8(output.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    let parsed = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON: {body}"))
    };
    (
        status.parse().unwrap(),
        std::fs::read_to_string(headers).unwrap_or_default(),
        parsed,
    )
}

fn code(body: &Value) -> &str {
    body["errors"][0]["code"].as_str().unwrap_or_default()
}

const ALL_SCOPES: &[&str] = &[
    "manage:apps:write",
    "manage:keys:write",
    "manage:audit:read",
];

fn new_app() -> Value {
    json!({ "data": { "type": "apps", "attributes": {
        "name": "Terraform Billing",
        "uri": "https://billing.example.com",
        "description": "Made from a pipeline",
        "login_user_type": "guest",
        "source_app": "bot",
        "apikey_scopes": ["services:read", "appointments:read"],
    } } })
}

fn new_key(name: &str) -> Value {
    json!({ "data": { "type": "keys", "attributes": {
        "name": name,
        "permissions": ["services:read"],
    } } })
}

#[actix_web::test]
async fn curl_with_an_admin_token_creates_rolls_and_switches_off_as_the_console_would() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let token = admin_token(&app, "CI deploy", ALL_SCOPES).await;

    // An app, active, with its secret once.
    let (status, _, body) = curl(
        &app,
        "POST",
        "/api/v1/manage/apps",
        &token,
        Some(&new_app()),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let app_id = body["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["data"]["attributes"]["status"], "active");
    assert_eq!(
        body["data"]["attributes"]["apikey_scopes"],
        json!(["appointments:read", "services:read"])
    );
    assert!(body["meta"]["secret"].as_str().unwrap().starts_with("kws_"));
    let (status, _, read) = curl(
        &app,
        "GET",
        &format!("/api/v1/manage/apps/{app_id}"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(read["meta"].is_null(), "the secret is never shown again");
    let html = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(html.contains("Terraform Billing"), "the console shows it");

    // A key, its token once; a retry with the same Idempotency-Key gets the
    // same answer, not a second key.
    let keys = format!("/api/v1/manage/apps/{app_id}/keys");
    let (status, _, first) = curl(
        &app,
        "POST",
        &keys,
        &token,
        Some(&new_key("Pipeline")),
        Some("key-1"),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    let key_token = first["meta"]["token"].as_str().unwrap().to_owned();
    assert!(key_token.starts_with("kw_"));
    let (status, headers, again) = curl(
        &app,
        "POST",
        &keys,
        &token,
        Some(&new_key("Pipeline")),
        Some("key-1"),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(again, first, "the first answer again");
    assert!(headers.to_lowercase().contains("idempotent-replayed: true"));
    let (_, _, list) = curl(&app, "GET", &keys, &token, None, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "one key made");
    let (status, _, reused) = curl(
        &app,
        "POST",
        &keys,
        &token,
        Some(&new_key("Other")),
        Some("key-1"),
    )
    .await;
    assert_eq!((status, code(&reused)), (422, "idempotency_key_reused"));
    let (status, _) = app.api_get("/api/v2/services", &key_token).await;
    assert_eq!(status, 200, "the key works");

    // Rolled at once: the new key works, the old one no longer.
    let key_id = first["data"]["id"].as_str().unwrap().to_owned();
    let roll = json!({ "data": { "type": "keys", "attributes": { "grace_hours": 0, "grace_starts": "now" } } });
    let (status, _, rolled) = curl(
        &app,
        "POST",
        &format!("{keys}/{key_id}/roll"),
        &token,
        Some(&roll),
        None,
    )
    .await;
    assert_eq!(status, 201, "{rolled}");
    let new_token = rolled["meta"]["token"].as_str().unwrap().to_owned();
    let new_id = rolled["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(rolled["meta"]["replaces"], key_id.as_str());
    assert_eq!(app.api_get("/api/v2/services", &new_token).await.0, 200);
    assert_eq!(app.api_get("/api/v2/services", &key_token).await.0, 401);

    // Switched off, and refused at once.
    let (status, _, off) = curl(
        &app,
        "POST",
        &format!("{keys}/{new_id}/inactivate"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{off}");
    assert_eq!(off["data"]["attributes"]["active"], false);
    assert_eq!(app.api_get("/api/v2/services", &new_token).await.0, 401);

    // The console's rules, with the console's words: an active key is not deleted…
    let (status, _, active) =
        curl(&app, "POST", &keys, &token, Some(&new_key("Active")), None).await;
    assert_eq!(status, 201);
    let active_id = active["data"]["id"].as_str().unwrap();
    let (status, _, refused) = curl(
        &app,
        "DELETE",
        &format!("{keys}/{active_id}"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!((status, code(&refused)), (409, "key_active"));
    assert_eq!(
        refused["errors"][0]["detail"],
        OpError::KeyActive.to_string()
    );
    let console = app
        .get(&format!("/apps/{app_id}/keys/{active_id}/delete"))
        .await;
    assert_eq!(console.status().as_u16(), 303, "the console refuses it too");
    // …and an app holds at most 20 keys in service.
    let mut in_service = 2; // the rolled-in (inactive) key and "Active"
    while in_service < 20 {
        let (status, _, made) = curl(
            &app,
            "POST",
            &keys,
            &token,
            Some(&new_key(&format!("K{in_service}"))),
            None,
        )
        .await;
        assert_eq!(status, 201, "{made}");
        in_service += 1;
    }
    let (status, _, full) = curl(
        &app,
        "POST",
        &keys,
        &token,
        Some(&new_key("Twenty-first")),
        None,
    )
    .await;
    assert_eq!((status, code(&full)), (409, "key_limit"), "{full}");
    assert_eq!(
        full["errors"][0]["detail"],
        OpError::KeyLimit(20).to_string()
    );
    let console = app
        .post_new_key(&app_id, "Twenty-first", &["services:read"], "")
        .await;
    let html = console.text().await.unwrap();
    assert!(
        crate::helpers::html_unescape(&html).contains(&OpError::KeyLimit(20).to_string()),
        "the console says the same"
    );

    // Every change is the admin's, through the token.
    let (status, _, audit) = curl(
        &app,
        "GET",
        "/api/v1/manage/audit?filter%5Baction%5D=key.rolled",
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{audit}");
    let record = &audit["data"][0]["attributes"];
    assert_eq!(record["actor"], "admin@example.com");
    let via = record["via"].as_str().unwrap();
    assert!(via.starts_with("API token “CI deploy” (kwa_"), "{via}");
    let html = app.get_html("/audit", 200).await;
    assert!(
        crate::helpers::html_unescape(&html).contains("through API token “CI deploy”"),
        "the audit page names the token"
    );
    let tokens_page = app.get_html("/account/tokens", 200).await;
    assert!(!tokens_page.contains("Never"), "its last use is listed");
}

#[actix_web::test]
async fn a_token_reaches_only_its_scopes_and_its_admins_access_and_stops_when_revoked() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin().await;
    let audit_only = admin_token(&app, "Auditor", &["manage:audit:read"]).await;
    let (status, headers, body) =
        curl(&app, "GET", "/api/v1/manage/apps", &audit_only, None, None).await;
    assert_eq!((status, code(&body)), (403, "insufficient_scope"));
    assert!(headers.contains("insufficient_scope"), "{headers}");
    assert_eq!(
        curl(&app, "GET", "/api/v1/manage/audit", &audit_only, None, None)
            .await
            .0,
        200
    );

    let (status, _, body) = curl(&app, "GET", "/api/v1/manage/apps", "kwa_nope", None, None).await;
    assert_eq!((status, code(&body)), (401, "invalid_token"));
    let demo = app.demo_key().await;
    let (status, _, body) = curl(&app, "GET", "/api/v1/manage/apps", &demo, None, None).await;
    assert_eq!(
        (status, code(&body)),
        (401, "invalid_token"),
        "an API key is not an admin token"
    );
    let output = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(app.url("/api/v1/manage/apps"))
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "401");

    // A full admin demoted to limited: the token loses the API keys section.
    let keys = admin_token(&app, "Keys", &["manage:apps:read", "manage:audit:read"]).await;
    assert_eq!(
        curl(&app, "GET", "/api/v1/manage/apps", &keys, None, None)
            .await
            .0,
        200
    );
    let id = admin.id.clone();
    app.db()
        .run(move |conn| {
            use diesel::prelude::*;
            use keyward::db::schema::admins;
            diesel::update(admins::table.filter(admins::id.eq(id)))
                .set(admins::role.eq("limited"))
                .execute(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    let (status, _, body) = curl(&app, "GET", "/api/v1/manage/apps", &keys, None, None).await;
    assert_eq!((status, code(&body)), (403, "insufficient_scope"));
    assert_eq!(
        curl(&app, "GET", "/api/v1/manage/audit", &keys, None, None)
            .await
            .0,
        200
    );

    // A limited admin cannot give a token the keys scopes at all.
    let limited = app.sibling().await;
    limited
        .signed_in_as("limited@example.com", Role::Limited)
        .await;
    let html = limited.get_html("/account/tokens", 200).await;
    assert!(!html.contains("manage:keys:write"), "not offered");
    let response = limited
        .post_form(
            "/account/tokens",
            &[
                ("name", "Sneaky"),
                ("lifetime", "30"),
                ("scopes", "manage:keys:write"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert_eq!(error_summary(&html)[0].0, "scopes");

    // Revoked: refused at once.
    let html = app.get_html("/account/tokens", 200).await;
    let revoke = html
        .split("action=\"/account/tokens/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let response = app
        .post_form(&format!("/account/tokens/{revoke}"), &[])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let (status, _, body) = curl(&app, "GET", "/api/v1/manage/audit", &keys, None, None).await;
    assert_eq!((status, code(&body)), (401, "invalid_token"));
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, _, _)| a)
        .collect();
    assert!(actions.iter().any(|a| a == "admin.token_created"));
    assert!(actions.iter().any(|a| a == "admin.token_revoked"));
}

#[actix_web::test]
async fn bad_documents_are_refused_by_member_and_change_nothing() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let token = admin_token(&app, "CI", ALL_SCOPES).await;
    let bad = json!({ "data": { "type": "apps", "attributes": {
        "name": "",
        "uri": "not a uri",
        "login_user_type": "robot",
        "source_app": "bot",
        "apikey_scopes": ["services:fly"],
    } } });
    let (status, _, body) = curl(
        &app,
        "POST",
        "/api/v1/manage/apps",
        &token,
        Some(&bad),
        None,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"]["pointer"].as_str().unwrap())
        .collect();
    assert!(pointers.contains(&"/data/attributes/name"), "{pointers:?}");
    assert!(
        pointers.contains(&"/data/attributes/login_user_type"),
        "{pointers:?}"
    );
    let wrong_type = json!({ "data": { "type": "keys", "attributes": {} } });
    let (status, _, body) = curl(
        &app,
        "POST",
        "/api/v1/manage/apps",
        &token,
        Some(&wrong_type),
        None,
    )
    .await;
    assert_eq!((status, code(&body)), (409, "type_mismatch"));
    let (status, _, body) = curl(&app, "GET", "/api/v1/manage/apps/nope", &token, None, None).await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    let (status, _, body) = curl(
        &app,
        "GET",
        "/api/v1/manage/audit?page%5Bsize%5D=0",
        &token,
        None,
        None,
    )
    .await;
    assert_eq!((status, code(&body)), (400, "invalid_parameter"), "{body}");
    let (_, _, apps) = curl(&app, "GET", "/api/v1/manage/apps", &token, None, None).await;
    assert_eq!(apps["data"], json!([]), "nothing was made");
    let (status, _, body) = curl(&app, "PUT", "/api/v1/manage/apps", &token, None, None).await;
    assert_eq!((status, code(&body)), (405, "method_not_allowed"));
}

#[actix_web::test]
async fn staff_and_the_alert_settings_are_managed_by_the_console_rules() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let token = admin_token(
        &app,
        "People sync",
        &[
            "manage:staff:write",
            "manage:settings:write",
            "manage:audit:read",
        ],
    )
    .await;
    let ana = json!({ "data": { "type": "staff", "attributes": { "name": "Ana Lima", "email": "ana@salon.example" } } });
    let (status, _, made) = curl(
        &app,
        "POST",
        "/api/v1/manage/staff",
        &token,
        Some(&ana),
        Some("ana"),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let ana_id = made["data"]["id"].as_str().unwrap().to_owned();
    let twin = json!({ "data": { "type": "staff", "attributes": { "name": "Ana Two", "email": "ANA@salon.example" } } });
    let (status, _, refused) = curl(
        &app,
        "POST",
        "/api/v1/manage/staff",
        &token,
        Some(&twin),
        None,
    )
    .await;
    assert_eq!(status, 422, "the same email twice: {refused}");
    assert_eq!(
        refused["errors"][0]["source"]["pointer"],
        "/data/attributes/email"
    );

    let alerts = json!({ "data": { "type": "alert_settings", "attributes": {
        "enabled": true, "thresholds": [14, 3], "recipients": [ana_id],
    } } });
    let (status, _, saved) = curl(
        &app,
        "PATCH",
        "/api/v1/manage/settings/alerts",
        &token,
        Some(&alerts),
        None,
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["data"]["attributes"]["thresholds"], json!([3, 14]));
    assert_eq!(saved["data"]["attributes"]["recipients"], json!([ana_id]));
    let html = app.get_html("/settings", 200).await;
    assert!(
        html.contains("value=\"3, 14\"") || html.contains("value=\"14, 3\""),
        "the console shows them"
    );
    let nobody =
        json!({ "data": { "type": "alert_settings", "attributes": { "recipients": [] } } });
    let (status, _, refused) = curl(
        &app,
        "PATCH",
        "/api/v1/manage/settings/alerts",
        &token,
        Some(&nobody),
        None,
    )
    .await;
    assert_eq!(
        (status, code(&refused)),
        (422, "recipients_required"),
        "{refused}"
    );

    // Ana leaves: marked through the API, as on the Staff page.
    let left = json!({ "data": { "type": "staff", "attributes": { "active": false } } });
    let (status, _, gone) = curl(
        &app,
        "PATCH",
        &format!("/api/v1/manage/staff/{ana_id}"),
        &token,
        Some(&left),
        None,
    )
    .await;
    assert_eq!(status, 200, "{gone}");
    assert_eq!(gone["data"]["attributes"]["active"], false);
    assert_eq!(gone["data"]["attributes"]["name"], "Ana Lima");
    let (_, _, audit) = curl(
        &app,
        "GET",
        "/api/v1/manage/audit?filter%5Bactor%5D=admin",
        &token,
        None,
        None,
    )
    .await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["attributes"]["action"].as_str().unwrap())
        .collect();
    for wanted in [
        "staff.added",
        "organization.alerts_changed",
        "staff.status_changed",
    ] {
        assert!(actions.contains(&wanted), "{wanted}: {actions:?}");
    }

    // A limited admin's token reads the staff, and changes nothing.
    let limited = app.sibling().await;
    limited
        .signed_in_as("limited@example.com", Role::Limited)
        .await;
    let html = limited.get_html("/account/tokens", 200).await;
    assert!(!html.contains("manage:staff:write"), "not offered");
    let reader = admin_token(&limited, "Reader", &["manage:staff:read"]).await;
    let (status, _, list) =
        curl(&limited, "GET", "/api/v1/manage/staff", &reader, None, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let (status, _, body) = curl(
        &limited,
        "POST",
        "/api/v1/manage/staff",
        &reader,
        Some(&twin),
        None,
    )
    .await;
    assert_eq!((status, code(&body)), (403, "insufficient_scope"));
}

#[actix_web::test]
async fn the_openapi_document_describes_the_management_api_and_its_token() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert_eq!(
        doc["components"]["securitySchemes"]["adminToken"]["scheme"],
        "bearer"
    );
    for route in keyward::routes::api::manage::ROUTES {
        let op = &doc["paths"][route.path][route.method.as_str().to_lowercase()];
        assert!(op.is_object(), "{} {}", route.method, route.path);
        assert_eq!(
            op["security"][0]["adminToken"][0],
            route.scope.as_str(),
            "{}",
            route.path
        );
        for status in ["401", "403", "404"] {
            assert!(
                op["responses"][status].is_object(),
                "{} {status}",
                route.path
            );
        }
        if route.method == actix_web::http::Method::POST {
            assert!(
                op["parameters"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["name"] == "Idempotency-Key"),
                "{}",
                route.path
            );
        }
    }
}

#[actix_web::test]
async fn simultaneous_retries_with_one_idempotency_key_make_one_key() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let token = admin_token(&app, "CI", ALL_SCOPES).await;
    let (_, _, made) = curl(
        &app,
        "POST",
        "/api/v1/manage/apps",
        &token,
        Some(&new_app()),
        None,
    )
    .await;
    let keys = format!(
        "/api/v1/manage/apps/{}/keys",
        made["data"]["id"].as_str().unwrap()
    );
    let send = || {
        reqwest::Client::new()
            .post(app.url(&keys))
            .bearer_auth(&token)
            .header("Idempotency-Key", "same")
            .header("Content-Type", "application/vnd.api+json")
            .body(new_key("Once").to_string())
            .send()
    };
    let (a, b, c) = tokio::join!(send(), send(), send());
    let mut tokens = Vec::new();
    for response in [a, b, c] {
        let response = response.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        match status {
            201 => tokens.push(body["meta"]["token"].as_str().unwrap().to_owned()),
            409 => assert_eq!(code(&body), "idempotency_key_in_use"),
            other => panic!("{other}: {body}"),
        }
    }
    assert!(!tokens.is_empty());
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "every 201 is the same answer");
    let (_, _, list) = curl(&app, "GET", &keys, &token, None, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "one key made");
    // Later retries get the first answer.
    let (status, _, again) = curl(
        &app,
        "POST",
        &keys,
        &token,
        Some(&new_key("Once")),
        Some("same"),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(again["meta"]["token"], tokens[0].as_str());
}
