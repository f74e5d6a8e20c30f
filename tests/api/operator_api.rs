//! The operator API, called with the real `curl` as the platform's billing
//! script would: operator API tokens made on the operator console, an
//! organization created with its first admin's invitation, its subscription
//! changed, suspended and resumed, each change in both trails under the
//! token's name; read-only, revoked and admin tokens refused.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{OperatorClient, TestApp, input_value, location, spawn_app};
use crate::manage::{admin_token, curl};
use crate::users::last_link;

/// Makes a token on the operator's tokens page; its text, shown once.
async fn operator_token(operator: &OperatorClient, name: &str, access: &str) -> String {
    let made = operator
        .post_form(
            "/operator/tokens",
            &[("name", name), ("lifetime", "30"), ("access", access)],
        )
        .await;
    assert_eq!(made.status().as_u16(), 303, "the token is made");
    assert_eq!(location(&made), "/operator/tokens");
    let html = operator.get_html("/operator/tokens", 200).await;
    let token = input_value(&html, "new-operator-token").expect("the token, once");
    assert!(token.starts_with("kwo_"), "{token}");
    let again = operator.get_html("/operator/tokens", 200).await;
    assert!(
        input_value(&again, "new-operator-token").is_none(),
        "only once"
    );
    token
}

fn code(body: &Value) -> &str {
    body["errors"][0]["code"].as_str().unwrap_or_default()
}

fn pointers(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["source"]["pointer"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

async fn organization_count(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use keyward::db::schema::organizations::dsl::*;
    app.db()
        .run(|conn| {
            organizations
                .count()
                .get_result::<i64>(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap()
}

/// The `via` of every record of the operators' trail, oldest first.
async fn operator_vias(app: &TestApp) -> Vec<(String, Option<String>)> {
    use diesel::prelude::*;
    use keyward::db::schema::operator_events::dsl::*;
    app.db()
        .run(|conn| {
            operator_events
                .order((occurred_at.asc(), id.asc()))
                .select((action, via))
                .load::<(String, Option<String>)>(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_script_with_an_operator_token_creates_an_organization_changes_its_subscription_and_suspends_it()
 {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    app.signed_in_admin().await;
    let operator = app.operator("ops@platform.example").await;
    let token = operator_token(&operator, "billing", "write").await;
    let list = "/api/v1/operator/organizations";

    let (status, _, body) = curl(&app, "GET", list, &token, None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["attributes"]["slug"], "main");

    // Bad input is refused member by member and makes nothing.
    let bad = json!({ "data": { "type": "organizations", "attributes": {
        "name": "",
        "slug": "Acme Travel!",
        "first_admin_email": "not an email",
        "max_keys_per_app": 0,
        "max_apps": "ten",
        "external_connectivity": "yes",
    } } });
    let (status, _, body) = curl(&app, "POST", list, &token, Some(&bad), None).await;
    assert_eq!(status, 422, "{body}");
    let at = pointers(&body);
    for member in [
        "name",
        "slug",
        "first_admin_email",
        "max_keys_per_app",
        "max_apps",
        "external_connectivity",
    ] {
        assert!(
            at.contains(&format!("/data/attributes/{member}")),
            "{member}: {at:?}"
        );
    }
    let unknown = json!({ "data": { "type": "organizations", "attributes": {
        "name": "Acme", "slug": "acme", "first_admin_email": "ann@acme.example", "root_issuer": true,
    } } });
    let (status, _, body) = curl(&app, "POST", list, &token, Some(&unknown), None).await;
    assert_eq!(status, 422);
    assert_eq!(pointers(&body), ["/data/attributes/root_issuer"]);
    assert_eq!(organization_count(&app).await, 1, "nothing was made");

    // A good one is made, and its first admin is invited by email.
    let acme = json!({ "data": { "type": "organizations", "attributes": {
        "name": "Acme Travel",
        "slug": "acme",
        "time_zone": "Europe/Paris",
        "first_admin_email": "Ann@Acme.example",
        "external_connectivity": true,
        "max_apps": 5,
    } } });
    let (status, _, body) = curl(&app, "POST", list, &token, Some(&acme), None).await;
    assert_eq!(status, 201, "{body}");
    let attributes = &body["data"]["attributes"];
    assert_eq!(attributes["slug"], "acme");
    assert_eq!(attributes["max_apps"], 5);
    assert_eq!(attributes["max_keys_per_app"], 20, "the default");
    assert_eq!(attributes["max_rate_per_second"], Value::Null);
    assert!(
        attributes["issuer"].as_str().unwrap().ends_with("/o/acme"),
        "{attributes}"
    );
    assert_eq!(body["meta"]["invitation_sent"], true);
    assert_eq!(body["meta"]["first_admin_email"], "ann@acme.example");
    assert!(last_link(&app).starts_with("/admins/invitation?token="));
    let acme_id = body["data"]["id"].as_str().unwrap().to_owned();
    let acme_path = format!("{list}/{acme_id}");

    // A slug is one organization's; the answer says which member.
    let (status, _, body) = curl(&app, "POST", list, &token, Some(&acme), None).await;
    assert_eq!(status, 422);
    assert_eq!(code(&body), "slug_taken");
    assert_eq!(pointers(&body), ["/data/attributes/slug"]);

    // The subscription changes; what is not sent stays.
    let change = json!({ "data": { "type": "organizations", "id": acme_id, "attributes": {
        "external_connectivity": false, "max_rate_per_second": 50,
    } } });
    let (status, _, body) = curl(&app, "PATCH", &acme_path, &token, Some(&change), None).await;
    assert_eq!(status, 200, "{body}");
    let attributes = &body["data"]["attributes"];
    assert_eq!(attributes["external_connectivity"], false);
    assert_eq!(attributes["max_rate_per_second"], 50);
    assert_eq!(attributes["max_apps"], 5, "kept");
    for refused in [
        json!({ "max_keys_per_app": 1001 }),
        json!({ "max_apps": 0 }),
        json!({ "slug": "other" }),
    ] {
        let doc = json!({ "data": { "type": "organizations", "attributes": refused } });
        let (status, _, body) = curl(&app, "PATCH", &acme_path, &token, Some(&doc), None).await;
        assert_eq!(status, 422, "{refused}: {body}");
    }
    let (_, _, body) = curl(&app, "GET", &acme_path, &token, None, None).await;
    assert_eq!(body["data"]["attributes"]["slug"], "acme");
    assert_eq!(body["data"]["attributes"]["max_keys_per_app"], 20);
    let (status, _, body) = curl(
        &app,
        "GET",
        &format!("{list}/no-such-organization"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!((status, code(&body)), (404, "not_found"));

    // Suspending the first organization stops its key within a second.
    let main_id = app.org_id().await;
    let changed = Instant::now();
    let (status, _, body) = curl(
        &app,
        "POST",
        &format!("{list}/{main_id}/suspend"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["attributes"]["suspended"], true);
    loop {
        let (status, body) = app.api_get("/api/v2/services", &key).await;
        if status == 402 {
            assert_eq!(code(&body), "organization_suspended");
            break;
        }
        assert!(changed.elapsed() < Duration::from_secs(1), "still {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, _, body) = curl(
        &app,
        "POST",
        &format!("{list}/{main_id}/resume"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["attributes"]["suspended"], false);
    let changed = Instant::now();
    while app.api_get("/api/v2/services", &key).await.0 != 200 {
        assert!(changed.elapsed() < Duration::from_secs(1), "not resumed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Pages follow links.next, by name: Acme Travel, then the first organization.
    let (_, _, first) = curl(
        &app,
        "GET",
        &format!("{list}?page%5Bsize%5D=1"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(first["data"].as_array().unwrap().len(), 1);
    assert_eq!(first["data"][0]["attributes"]["slug"], "acme");
    let next = first["links"]["next"].as_str().expect("a next page");
    let (_, _, second) = curl(&app, "GET", next, &token, None, None).await;
    assert_eq!(second["data"][0]["id"], main_id.as_str());
    assert!(second["links"].get("next").is_none(), "{second}");
    let (_, _, found) = curl(
        &app,
        "GET",
        &format!("{list}?filter%5Bq%5D=acme"),
        &token,
        None,
        None,
    )
    .await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    for query in ["page%5Bsize%5D=0", "sort=name", "page%5Bafter%5D=nobody"] {
        let (status, _, body) =
            curl(&app, "GET", &format!("{list}?{query}"), &token, None, None).await;
        assert_eq!((status, code(&body)), (400, "invalid_parameter"), "{query}");
    }

    // Both trails name the operator and the token.
    let vias = operator_vias(&app).await;
    for action in [
        "organization.created",
        "organization.features_changed",
        "organization.suspended",
        "organization.resumed",
    ] {
        assert!(
            vias.iter().any(|(a, via)| a == action
                && via
                    .as_deref()
                    .is_some_and(|v| v.contains("“billing”") && v.contains("kwo_"))),
            "{action}: {vias:?}"
        );
    }
    let audit = app.get_html("/audit", 200).await;
    assert!(audit.contains("operator ops@platform.example"));
    assert!(audit.contains("“billing”"));
}

#[actix_web::test]
async fn read_only_revoked_and_admin_tokens_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let operator = app.operator("ops@platform.example").await;
    let reader = operator_token(&operator, "dashboard", "read").await;
    let list = "/api/v1/operator/organizations";
    let org = app.org_id().await;
    let doc = json!({ "data": { "type": "organizations", "attributes": {
        "name": "Acme", "slug": "acme", "first_admin_email": "ann@acme.example",
    } } });

    assert_eq!(curl(&app, "GET", list, &reader, None, None).await.0, 200);
    let (status, headers, body) = curl(&app, "POST", list, &reader, Some(&doc), None).await;
    assert_eq!((status, code(&body)), (403, "insufficient_scope"));
    assert!(
        headers.to_lowercase().contains("www-authenticate: bearer"),
        "{headers}"
    );
    let (status, _, _) = curl(
        &app,
        "POST",
        &format!("{list}/{org}/suspend"),
        &reader,
        None,
        None,
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(organization_count(&app).await, 1);

    // An admin's token is no operator's, and an operator's no admin's.
    let admin = admin_token(&app, "CI", &["manage:apps:read"]).await;
    let (status, _, body) = curl(&app, "GET", list, &admin, None, None).await;
    assert_eq!((status, code(&body)), (401, "invalid_token"));
    let (status, _, _) = curl(&app, "GET", "/api/v1/manage/apps", &reader, None, None).await;
    assert_eq!(status, 401);
    let bare = app
        .api(reqwest::Method::GET, list, None)
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status().as_u16(), 401);
    let (status, _, _) = curl(&app, "DELETE", list, &reader, None, None).await;
    assert_eq!(status, 405);

    // An admin's session does not reach the operator's tokens page.
    let page = app.get("/operator/tokens").await;
    assert_eq!(page.status().as_u16(), 303);
    assert!(location(&page).starts_with("/login"));

    // Revoked on the console, it stops at once.
    let html = operator.get_html("/operator/tokens", 200).await;
    let id = html
        .split("/operator/tokens/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a revoke form")
        .to_owned();
    let revoked = operator
        .post_form(&format!("/operator/tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(revoked.status().as_u16(), 303);
    let (status, _, body) = curl(&app, "GET", list, &reader, None, None).await;
    assert_eq!((status, code(&body)), (401, "invalid_token"));
    let actions: Vec<String> = app
        .operator_events()
        .await
        .into_iter()
        .map(|(a, ..)| a)
        .collect();
    for wanted in ["operator.token_created", "operator.token_revoked"] {
        assert!(actions.iter().any(|a| a == wanted), "{wanted}: {actions:?}");
    }

    // A bad token form is refused beside its fields.
    let refused = operator
        .post_form(
            "/operator/tokens",
            &[("name", ""), ("lifetime", "9999"), ("access", "root")],
        )
        .await;
    assert_eq!(refused.status().as_u16(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Enter a name."));
    assert!(html.contains("Choose how long the token lives."));
    assert!(html.contains("Choose what the token may do."));

    // The OpenAPI document describes the operator API and its token.
    let spec: Value = reqwest::get(app.url("/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let post = &spec["paths"]["/api/v1/operator/organizations"]["post"];
    assert_eq!(post["security"][0]["operatorToken"][0], "write");
    assert!(spec["components"]["securitySchemes"]["operatorToken"].is_object());
    assert!(spec["paths"]["/api/v1/operator/organizations/{id}/suspend"]["post"].is_object());
}

#[actix_web::test]
async fn every_operator_route_is_documented_with_its_token_and_answers_401_without_one() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert_eq!(
        doc["components"]["securitySchemes"]["operatorToken"]["scheme"],
        "bearer"
    );
    for route in keyward::routes::api::operator::ROUTES {
        let op = &doc["paths"][route.path][route.method.as_str().to_lowercase()];
        assert!(op.is_object(), "{} {}", route.method, route.path);
        let access = if route.write { "write" } else { "read" };
        assert_eq!(
            op["security"][0]["operatorToken"][0], access,
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
        // Routed: without a token, the operator API's own refusal.
        let path = route.path.replace("{id}", app.org_id().await.as_ref());
        let method = reqwest::Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let response = app.api(method, &path, None).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{} {path}", route.method);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            code(&body),
            "missing_credentials",
            "{} {path}",
            route.method
        );
    }
}
