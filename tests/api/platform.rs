//! The platform API (JSON:API v2) and its OpenAPI document.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, next_working_day_at, spawn_app};

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.api(method, path, Some(&format!("apikey {key}")));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/vnd.api+json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn first_id(app: &TestApp, key: &str, collection: &str) -> String {
    let (_, body) = app.api_get(&format!("/api/v2/{collection}"), key).await;
    body["data"][0]["id"].as_str().unwrap().to_owned()
}

#[actix_web::test]
async fn every_collection_pages_through_all_items_by_its_links() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    for (collection, total) in [
        ("services", 5),
        ("employees", 3),
        ("guests", 3),
        ("working_hours", 18),
        ("appointments", 2),
        ("installments", 1),
        ("payments", 1),
    ] {
        let mut path = format!("/api/v2/{collection}?page[size]=2");
        let mut seen = Vec::new();
        loop {
            let (status, body) = app.api_get(&path, &key).await;
            assert_eq!(status, 200, "{path}");
            assert_eq!(body["jsonapi"]["version"], "1.1");
            for item in body["data"].as_array().unwrap() {
                assert_eq!(item["type"], collection);
                assert!(item["attributes"].is_object());
                assert_eq!(
                    item["links"]["self"],
                    format!("/api/v2/{collection}/{}", item["id"].as_str().unwrap())
                );
                seen.push(item["id"].as_str().unwrap().to_owned());
            }
            match body["links"]["next"].as_str() {
                Some(next) => path = next.to_owned(),
                None => break,
            }
        }
        let unique: std::collections::HashSet<_> = seen.iter().collect();
        assert_eq!((seen.len(), unique.len()), (total, total), "{collection}");
        let (status, one) = app
            .api_get(&format!("/api/v2/{collection}/{}", seen[0]), &key)
            .await;
        assert_eq!(status, 200);
        assert_eq!(one["data"]["id"], seen[0].as_str());
    }
    let (status, body) = app.api_get("/api/v2/services/no-such-id", &key).await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (404, Some("not_found"))
    );
    for bad in ["page[size]=0", "page[size]=101", "page[size]=ten"] {
        let (status, body) = app.api_get(&format!("/api/v2/services?{bad}"), &key).await;
        assert_eq!(
            (status, body["errors"][0]["source"]["parameter"].as_str()),
            (400, Some("page[size]")),
            "{bad}"
        );
    }
}

#[actix_web::test]
async fn an_appointment_booked_through_a_key_carries_its_app_s_source_and_the_console_shows_it() {
    let app = spawn_app().await;
    let demo = app.demo_key().await;
    app.signed_in_admin().await;
    let mobile = app
        .create_app(
            "Mobile App",
            "external_cma",
            &["appointments:create", "appointments:read"],
            &[],
        )
        .await;
    let (service, employee, guest) = (
        first_id(&app, &demo, "services").await,
        first_id(&app, &demo, "employees").await,
        first_id(&app, &demo, "guests").await,
    );
    let body = json!({ "data": { "type": "appointments",
        "attributes": { "starts_at": next_working_day_at(11), "notes": "first visit" },
        "relationships": {
            "service": { "data": { "type": "services", "id": service } },
            "employee": { "data": { "type": "employees", "id": employee } },
            "guest": { "data": { "type": "guests", "id": guest } } } } });
    let response = app
        .api(
            Method::POST,
            "/api/v2/appointments",
            Some(&format!("Bearer {}", mobile.key)),
        )
        .header("content-type", "application/vnd.api+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["data"]["attributes"]["source"], "mobile");
    assert_eq!(created["data"]["attributes"]["status"], "booked");
    assert_eq!(
        created["data"]["relationships"]["guest"]["data"]["id"],
        guest.as_str()
    );
    assert_eq!(
        location,
        format!(
            "/api/v2/appointments/{}",
            created["data"]["id"].as_str().unwrap()
        )
    );
    let page = app.get_html(&format!("/apps/{}", mobile.id), 200).await;
    assert!(
        page.contains("Mobile booking"),
        "the console shows the mark"
    );

    // The same time again: taken.
    let (status, again) = send(
        &app,
        Method::POST,
        "/api/v2/appointments",
        &mobile.key,
        Some(body),
    )
    .await;
    assert_eq!(
        (status, again["errors"][0]["code"].as_str()),
        (409, Some("slot_taken"))
    );
}

#[actix_web::test]
async fn appointments_are_moved_and_cancelled_with_the_right_permissions() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    let (service, employee) = (
        first_id(&app, &key, "services").await,
        first_id(&app, &key, "employees").await,
    );
    let (status, created) = send(
        &app,
        Method::POST,
        "/api/v2/appointments",
        &key,
        Some(json!({ "data": { "type": "appointments", "attributes": { "starts_at": next_working_day_at(9) },
            "relationships": { "service": { "data": { "type": "services", "id": service } },
                               "employee": { "data": { "type": "employees", "id": employee } } } } })),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        created["data"]["attributes"]["source"], "api",
        "a Client App books as api"
    );
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v2/appointments/{id}");
    let (status, moved) = send(
        &app,
        Method::PATCH,
        &path,
        &key,
        Some(json!({ "data": { "type": "appointments", "id": id, "attributes": { "starts_at": next_working_day_at(14), "notes": "moved" } } })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(moved["data"]["attributes"]["notes"], "moved");
    assert!(
        moved["data"]["attributes"]["starts_at"]
            .as_str()
            .unwrap()
            .contains("T14:00:00")
    );
    let (status, mismatch) = send(
        &app,
        Method::PATCH,
        &path,
        &key,
        Some(json!({ "data": { "type": "appointments", "id": "other" } })),
    )
    .await;
    assert_eq!(
        (status, mismatch["errors"][0]["code"].as_str()),
        (409, Some("id_mismatch"))
    );
    // The last representable minute once made the end time overflow: a clear
    // error now, and the appointment keeps its time.
    let (status, far) = send(
        &app,
        Method::PATCH,
        &path,
        &key,
        Some(json!({ "data": { "type": "appointments", "id": id, "attributes": { "starts_at": "9999-12-31T23:59:59Z" } } })),
    )
    .await;
    assert_eq!(status, 422, "{far}");
    assert_eq!(
        far["errors"][0]["source"]["pointer"],
        "/data/attributes/starts_at"
    );
    assert!(
        far["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("within two years")
    );
    let (_, unchanged) = app.api_get(&path, &key).await;
    assert!(
        unchanged["data"]["attributes"]["starts_at"]
            .as_str()
            .unwrap()
            .contains("T14:00:00")
    );
    // Cancelling is a change of state, not a deletion: the appointment stays.
    let (status, cancelled) = send(&app, Method::POST, &format!("{path}/cancel"), &key, None).await;
    assert_eq!(status, 200);
    assert_eq!(cancelled["data"]["attributes"]["status"], "cancelled");
    let (status, again) = send(&app, Method::POST, &format!("{path}/cancel"), &key, None).await;
    assert_eq!(
        (status, &again["data"]["attributes"]["status"]),
        (200, &json!("cancelled"))
    );
    let (status, read) = app.api_get(&path, &key).await;
    assert_eq!(
        (status, &read["data"]["attributes"]["status"]),
        (200, &json!("cancelled"))
    );
    let (status, _) = send(&app, Method::DELETE, &path, &key, None).await;
    assert_eq!(status, 405, "no DELETE: nothing is deleted");
    let (status, refused) = send(
        &app,
        Method::PATCH,
        &path,
        &key,
        Some(
            json!({ "data": { "type": "appointments", "id": id, "attributes": { "notes": "x" } } }),
        ),
    )
    .await;
    assert_eq!(
        (status, refused["errors"][0]["code"].as_str()),
        (409, Some("appointment_cancelled"))
    );
}

#[actix_web::test]
async fn invalid_documents_get_json_api_errors_pointing_at_each_problem() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    let (status, body) = send(
        &app,
        Method::POST,
        "/api/v2/appointments",
        &key,
        Some(json!({ "data": { "type": "appointments",
            "attributes": { "starts_at": "yesterday", "notes": 42 },
            "relationships": { "service": { "data": { "type": "employees", "id": "x" } } } } })),
    )
    .await;
    assert_eq!(status, 422);
    let pointers: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"]["pointer"].as_str().unwrap())
        .collect();
    for expected in [
        "/data/attributes/starts_at",
        "/data/attributes/notes",
        "/data/relationships/service",
        "/data/relationships/employee",
    ] {
        assert!(pointers.contains(&expected), "{expected} in {pointers:?}");
    }
    assert!(
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["code"] == "invalid_attribute")
    );

    // A NUL byte in a related id is refused before any query (PostgreSQL would
    // fail on it).
    let (status, body) = send(
        &app,
        Method::POST,
        "/api/v2/appointments",
        &key,
        Some(json!({ "data": { "type": "appointments",
            "attributes": { "starts_at": next_working_day_at(10) },
            "relationships": { "service": { "data": { "type": "services", "id": "a\u{0}b" } },
                               "employee": { "data": { "type": "employees", "id": "e" } } } } })),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["errors"][0]["source"]["pointer"],
        "/data/relationships/service"
    );

    let past = json!({ "data": { "type": "appointments", "attributes": { "starts_at": "2001-01-01T10:00:00Z" },
        "relationships": { "service": { "data": { "type": "services", "id": "s" } }, "employee": { "data": { "type": "employees", "id": "e" } } } } });
    let (status, body) = send(&app, Method::POST, "/api/v2/appointments", &key, Some(past)).await;
    assert_eq!(status, 422);
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("future")
    );
    let far = json!({ "data": { "type": "appointments", "attributes": { "starts_at": "9999-12-31T23:59:59Z" },
        "relationships": { "service": { "data": { "type": "services", "id": "s" } }, "employee": { "data": { "type": "employees", "id": "e" } } } } });
    let (status, body) = send(&app, Method::POST, "/api/v2/appointments", &key, Some(far)).await;
    assert_eq!(status, 422);
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("within two years")
    );

    let (status, body) = send(
        &app,
        Method::POST,
        "/api/v2/appointments",
        &key,
        Some(json!({ "data": { "type": "services" } })),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (409, Some("type_mismatch"))
    );
    let raw = app
        .api(
            Method::POST,
            "/api/v2/appointments",
            Some(&format!("apikey {key}")),
        )
        .header("content-type", "application/vnd.api+json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(app.api_error(raw).await, (400, "invalid_json".to_owned()));
    let form = app
        .api(
            Method::POST,
            "/api/v2/appointments",
            Some(&format!("apikey {key}")),
        )
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.api_error(form).await,
        (415, "unsupported_media_type".to_owned())
    );
    let big = app
        .api(
            Method::POST,
            "/api/v2/guests",
            Some(&format!("apikey {key}")),
        )
        .header("content-type", "application/vnd.api+json")
        .body(format!(
            r#"{{"data":{{"type":"guests","attributes":{{"first_name":"{}"}}}}}}"#,
            "x".repeat(70_000)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.api_error(big).await,
        (413, "payload_too_large".to_owned())
    );
    let nul = send(&app, Method::POST, "/api/v2/guests", &key, Some(json!({ "data": { "type": "guests", "attributes": { "first_name": "a\u{0}b", "last_name": "c" } } }))).await;
    assert_eq!(nul.0, 422, "a NUL in a field is refused");
    let wrong_method = app
        .api(
            Method::PUT,
            "/api/v2/services",
            Some(&format!("apikey {key}")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.api_error(wrong_method).await,
        (405, "method_not_allowed".to_owned())
    );
    let nowhere = app
        .api(
            Method::GET,
            "/api/v3/anything",
            Some(&format!("apikey {key}")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(app.api_error(nowhere).await, (404, "not_found".to_owned()));
}

#[actix_web::test]
async fn a_nul_byte_or_invalid_utf8_in_an_id_is_a_json_api_400() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    for (method, path) in [
        (Method::GET, "/api/v2/services/%00"),
        (Method::GET, "/api/v2/appointments/a%00b"),
        (Method::GET, "/api/v2/guests/%FF"),
        (Method::GET, "/api/v2/available_slots/a.%00.b"),
        (Method::PATCH, "/api/v2/appointments/%00"),
        (Method::POST, "/api/v2/appointments/%0A/cancel"),
    ] {
        let body = (method == Method::PATCH)
            .then(|| json!({ "data": { "type": "appointments", "id": "x" } }));
        let (status, document) = send(&app, method.clone(), path, &key, body).await;
        assert_eq!(status, 400, "{method} {path}: {document}");
        assert_eq!(document["errors"][0]["code"], "invalid_path", "{path}");
    }
    let (status, _) = app.api_get("/api/v2/services/no%20such", &key).await;
    assert_eq!(status, 404, "ordinary escapes are just an unknown id");
}

#[actix_web::test]
async fn guests_are_created_and_updated() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    let (status, created) = send(
        &app,
        Method::POST,
        "/api/v2/guests",
        &key,
        Some(json!({ "data": { "type": "guests", "attributes": { "first_name": "Grace", "last_name": "Hopper", "email": "Grace@Example.com" } } })),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(created["data"]["attributes"]["email"], "grace@example.com");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let (status, updated) = send(
        &app,
        Method::PATCH,
        &format!("/api/v2/guests/{id}"),
        &key,
        Some(json!({ "data": { "type": "guests", "id": id, "attributes": { "phone": "+1 555 0100", "email": null } } })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(updated["data"]["attributes"]["phone"], "+1 555 0100");
    assert_eq!(updated["data"]["attributes"]["first_name"], "Grace");
    assert!(updated["data"]["attributes"]["email"].is_null());
    let (status, bad) = send(
        &app,
        Method::POST,
        "/api/v2/guests",
        &key,
        Some(json!({ "data": { "type": "guests", "attributes": { "email": "nope" } } })),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        bad["errors"].as_array().unwrap().len(),
        3,
        "first_name, last_name and email"
    );
}

#[actix_web::test]
async fn available_slots_are_computed_and_disappear_once_booked() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    let service = first_id(&app, &key, "services").await;
    let date = next_working_day_at(10)[..10].to_owned();
    let path = format!(
        "/api/v2/available_slots?filter[service]={service}&filter[date]={date}&page[size]=100"
    );
    let (status, body) = app.api_get(&path, &key).await;
    assert_eq!(status, 200);
    let slots = body["data"].as_array().unwrap().clone();
    assert!(!slots.is_empty());
    let slot = &slots[0];
    assert_eq!(slot["type"], "available_slots");
    let slot_id = slot["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.api_get(&format!("/api/v2/available_slots/{slot_id}"), &key)
            .await
            .0,
        200
    );
    let employee = slot["relationships"]["employee"]["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = send(
        &app,
        Method::POST,
        "/api/v2/appointments",
        &key,
        Some(json!({ "data": { "type": "appointments", "attributes": { "starts_at": slot["attributes"]["starts_at"] },
            "relationships": { "service": { "data": { "type": "services", "id": service } },
                               "employee": { "data": { "type": "employees", "id": employee } } } } })),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        app.api_get(&format!("/api/v2/available_slots/{slot_id}"), &key)
            .await
            .0,
        404,
        "taken now"
    );
    let (_, after) = app.api_get(&path, &key).await;
    assert!(
        !after["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == slot_id.as_str())
    );
    let (status, missing) = app.api_get("/api/v2/available_slots", &key).await;
    assert_eq!(
        (status, missing["errors"][0]["source"]["parameter"].as_str()),
        (400, Some("filter[service]"))
    );

    // Days beyond the booking horizon offer no slot, like days past: an empty
    // list, a 404 for a slot id, never a 500 (the last day of year 9999 once
    // overflowed).
    let (status, far) = app
        .api_get(
            &format!("/api/v2/available_slots?filter[service]={service}&filter[date]=9999-12-31"),
            &key,
        )
        .await;
    assert_eq!(status, 200);
    assert!(far["data"].as_array().unwrap().is_empty());
    let (status, unknown) = app
        .api_get(
            "/api/v2/available_slots?filter[service]=no-such&filter[date]=2030-01-01",
            &key,
        )
        .await;
    assert_eq!(
        (status, unknown["errors"][0]["source"]["parameter"].as_str()),
        (404, Some("filter[service]"))
    );
    let far_slot = format!("{employee}.{service}.99991231T2300");
    assert_eq!(
        app.api_get(&format!("/api/v2/available_slots/{far_slot}"), &key)
            .await
            .0,
        404
    );
    let (status, past) = app
        .api_get(
            &format!("/api/v2/available_slots?filter[service]={service}&filter[date]=2001-01-01"),
            &key,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(past["data"], json!([]), "nothing is free in the past");
}

#[actix_web::test]
async fn the_openapi_document_describes_every_route_with_its_security_and_errors() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["securitySchemes"]["apikey"].is_object());
    assert!(doc["components"]["schemas"]["ErrorDocument"].is_object());
    assert!(
        doc["components"]["schemas"]["AppointmentAttributes"]["properties"]["starts_at"]
            .is_object()
    );
    let mut operations = 0;
    for route in keyward::routes::api::routes() {
        let op = &doc["paths"][route.path][route.method.as_str().to_lowercase()];
        assert!(
            op.is_object(),
            "{} {} is documented",
            route.method,
            route.path
        );
        operations += 1;
        if route.path != "/api/openapi.json" {
            assert!(op["security"].is_array());
            // The OAuth endpoints answer the standard's errors, about the
            // app's credentials: no 402 or 403 there.
            let codes: &[&str] = if route.path.starts_with("/api/v1/tokens") {
                &["400", "401", "429", "503"]
            } else {
                &["401", "402", "403", "503"]
            };
            for code in codes {
                assert!(
                    op["responses"][code].is_object(),
                    "{} {} documents {code}",
                    route.method,
                    route.path
                );
            }
        }
        if let Some(p) = route.permission {
            assert_eq!(op["x-keyward-permission"], p.to_string());
        }
        // And it is served: never the "no API route" 404 nor a 405.
        let path = route.path.replace("{id}", "x");
        let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let response = app
            .api(method, &path, Some(&format!("apikey {key}")))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert!(
            status != 405 && !body.contains("There is no API route"),
            "{} {path}: {status}",
            route.method
        );
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    // The management and operator APIs' routes have tables of their own
    // (manage.rs and operator_api.rs check them).
    assert_eq!(
        documented,
        operations
            + keyward::routes::api::manage::ROUTES.len()
            + keyward::routes::api::operator::ROUTES.len(),
        "nothing documented that is not routed"
    );
    // Every permission of the catalog is reachable through some route.
    for permission in keyward::domain::scopes::all_permissions() {
        assert!(
            keyward::routes::api::routes().any(|r| r.permission == Some(permission)),
            "{permission} has a route"
        );
    }
}

#[actix_web::test]
async fn a_known_parameter_or_member_sent_twice_is_a_bad_request() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    for query in ["page[size]=5&page[size]=50", "page[after]=a&page[after]=b"] {
        let (status, body) = app
            .api_get(&format!("/api/v2/services?{query}"), &key)
            .await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["errors"][0]["code"], "invalid_parameter", "{query}");
    }
    let raw = r#"{"data":{"type":"guests","attributes":{"first_name":"A","first_name":"B","last_name":"C"}}}"#;
    let response = app
        .api(
            Method::POST,
            "/api/v2/guests",
            Some(&format!("apikey {key}")),
        )
        .header("content-type", "application/vnd.api+json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.api_error(response).await,
        (400, "duplicate_member".to_owned())
    );
}

#[actix_web::test]
async fn what_the_openapi_document_rules_out_the_server_refuses_and_changes_nothing() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    let (_, before) = app.api_get("/api/v2/guests?page[size]=100", &key).await;
    let guests = before["data"].as_array().unwrap().len();

    // JSON:API 1.1 §9.1.1: the server assigns ids, so a create that sends one is 403.
    let (status, body) = send(
        &app,
        Method::POST,
        "/api/v2/guests",
        &key,
        Some(json!({ "data": { "type": "guests", "id": "mine",
            "attributes": { "first_name": "Ada", "last_name": "Lovelace" } } })),
    )
    .await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (403, Some("client_generated_id"))
    );
    assert_eq!(body["errors"][0]["source"]["pointer"], "/data/id");

    // attributes and relationships are objects (JSON:API 1.1 §7.2).
    for (path, document, pointer) in [
        (
            "/api/v2/guests",
            json!({ "data": { "type": "guests", "attributes": ["Ada", "Lovelace"] } }),
            "/data/attributes",
        ),
        (
            "/api/v2/guests",
            json!({ "data": { "type": "guests", "relationships": [null, null],
                "attributes": { "first_name": "Ada", "last_name": "Lovelace" } } }),
            "/data/relationships",
        ),
        (
            "/api/v2/appointments",
            json!({ "data": { "type": "appointments", "relationships": "service",
                "attributes": { "starts_at": next_working_day_at(10) } } }),
            "/data/relationships",
        ),
    ] {
        let (status, body) = send(&app, Method::POST, path, &key, Some(document)).await;
        assert_eq!(
            (status, body["errors"][0]["code"].as_str()),
            (400, Some("invalid_document")),
            "{path}: {body}"
        );
        assert_eq!(body["errors"][0]["source"]["pointer"], pointer);
    }
    let (_, after) = app.api_get("/api/v2/guests?page[size]=100", &key).await;
    assert_eq!(
        after["data"].as_array().unwrap().len(),
        guests,
        "nothing created"
    );

    // Ids in the query: what the document's id schema rules out is a 400 at that
    // parameter, not a quiet empty page or a 404.
    let service = first_id(&app, &key, "services").await;
    for (path, parameter) in [
        (
            "/api/v2/services?page[after]=%0Ax".to_owned(),
            "page[after]",
        ),
        ("/api/v2/services?page[after]=".to_owned(), "page[after]"),
        (
            format!("/api/v2/services?page[after]={}", "é".repeat(201)),
            "page[after]",
        ),
        (
            "/api/v2/available_slots?filter[service]=a%09b&filter[date]=2030-01-01".to_owned(),
            "filter[service]",
        ),
    ] {
        let (status, body) = app.api_get(&path, &key).await;
        assert_eq!(
            (status, body["errors"][0]["source"]["parameter"].as_str()),
            (400, Some(parameter)),
            "{path}"
        );
    }
    // 200 characters, each of two bytes, is still an id (the document counts characters).
    let (status, _) = app
        .api_get(
            &format!("/api/v2/services?page[after]={}", "é".repeat(200)),
            &key,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .api_get(
            &format!("/api/v2/available_slots?filter[service]={service}&filter[date]=2030-01-01"),
            &key,
        )
        .await;
    assert_eq!(status, 200);

    // The document says so, and links each created resource to what can be done with it.
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let create = &doc["paths"]["/api/v2/guests"]["post"];
    let data = &create["requestBody"]["content"]["application/vnd.api+json"]["schema"]["properties"]
        ["data"];
    assert!(data["properties"]["id"].is_null(), "no id on a create");
    assert!(
        create["responses"]["403"]["description"]
            .as_str()
            .unwrap()
            .contains("client_generated_id")
    );
    let links = &doc["paths"]["/api/v2/appointments"]["post"]["responses"]["201"]["links"];
    for operation in [
        "get_v2_appointments__id",
        "patch_v2_appointments__id",
        "post_v2_appointments__id__cancel",
    ] {
        assert_eq!(links[operation]["operationId"], operation);
        assert_eq!(
            links[operation]["parameters"]["id"],
            "$response.body#/data/id"
        );
    }
    let page = &doc["paths"]["/api/v2/services"]["get"]["parameters"];
    let after = page
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "page[after]")
        .unwrap();
    assert_eq!(
        (
            after["schema"]["minLength"].as_u64(),
            after["schema"]["maxLength"].as_u64()
        ),
        (Some(1), Some(200))
    );
}

#[actix_web::test]
async fn the_bookings_page_marks_each_booking_s_source_and_filters_by_source_and_app() {
    let app = spawn_app().await;
    let demo = app.demo_key().await;
    app.signed_in_admin().await;
    let scopes = ["appointments:create", "appointments:read"];
    let mobile = app
        .create_app("Mobile App", "external_cma", &scopes, &[])
        .await;
    let bot = app.create_app("Chat Bot", "bot", &scopes, &[]).await;
    let (service, employee) = (
        first_id(&app, &demo, "services").await,
        first_id(&app, &demo, "employees").await,
    );
    for (key, hour) in [(&mobile.key, 9), (&bot.key, 14)] {
        let body = json!({ "data": { "type": "appointments",
            "attributes": { "starts_at": next_working_day_at(hour) },
            "relationships": {
                "service": { "data": { "type": "services", "id": service } },
                "employee": { "data": { "type": "employees", "id": employee } } } } });
        let (status, _) = send(&app, Method::POST, "/api/v2/appointments", key, Some(body)).await;
        assert_eq!(status, 201);
    }

    let rows = |html: &str| html.matches("<td data-label=\"Source\">").count();
    let all = app.get_html("/bookings", 200).await;
    assert!(all.contains(r#"aria-current="page">Bookings</a>"#));
    assert_eq!(rows(&all), 4, "the demo's two and the apps' two");
    // Each mark is an icon (hidden from screen readers) and its word.
    assert!(all.contains(r#"<span class="source-mark source-mobile"><svg"#));
    assert!(all.contains(r#"aria-hidden="true" focusable="false">"#));
    assert!(all.contains("</svg> Mobile</span>") && all.contains("</svg> Bot</span>"));
    assert!(all.contains(&format!(
        r#"<a class="small" href="/apps/{}">Chat Bot</a>"#,
        bot.id
    )));

    let by_source = app.get_html("/bookings?source=mobile", 200).await;
    assert_eq!(rows(&by_source), 1);
    assert!(by_source.contains("Mobile App</a>") && !by_source.contains("Chat Bot</a>"));
    assert!(by_source.contains(r#"<option value="mobile" selected>"#));
    let by_app = app
        .get_html(&format!("/bookings?app={}", bot.id), 200)
        .await;
    assert_eq!(rows(&by_app), 1);
    assert!(by_app.contains("Chat Bot</a>") && !by_app.contains("Mobile App</a>"));
    let both = app
        .get_html(&format!("/bookings?source=mobile&app={}", bot.id), 200)
        .await;
    assert!(both.contains("No booking matches these filters"));
    // The app's page links to its bookings.
    let page = app.get_html(&format!("/apps/{}", bot.id), 200).await;
    assert!(page.contains(&format!(r#"href="/bookings?app={}""#, bot.id)));

    // A limited admin does not see the organization's bookings.
    let limited = app.sibling().await;
    limited
        .signed_in_as("lim@example.com", keyward::db::models::Role::Limited)
        .await;
    assert_eq!(limited.get("/bookings").await.status().as_u16(), 403);
}

#[actix_web::test]
async fn the_bookings_page_pages_through_every_booking_once_even_when_times_tie() {
    use keyward::db::models::platform::Appointment;
    let app = spawn_app().await;
    app.demo_key().await;
    let admin = app.signed_in_admin().await;
    let org = admin.organization_id.clone();
    // 60 more bookings, a dozen booked at the same instant.
    app.db()
        .run(move |conn| {
            let demo = Appointment::list_page(conn, &org, None, 1)?.remove(0);
            let now = keyward::clock::now();
            for i in 0..60_i64 {
                let mut copy = demo.clone();
                copy.id = keyward::domain::AppointmentId::generate();
                copy.starts_at = demo.starts_at + time::Duration::days(i + 1);
                copy.ends_at = demo.ends_at + time::Duration::days(i + 1);
                copy.created_at = now - time::Duration::seconds(if i < 12 { 5 } else { i });
                Appointment::insert(conn, &copy)?;
            }
            Ok::<(), keyward::db::DbError>(())
        })
        .await
        .unwrap();
    let mut path = "/bookings".to_owned();
    let (mut seen, mut pages) = (0, 0);
    loop {
        let html = app.get_html(&path, 200).await;
        seen += html.matches("<td data-label=\"Source\">").count();
        pages += 1;
        match crate::helpers::older_link(&html) {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!((seen, pages), (62, 2), "every booking exactly once");
}

/// A client that polls sends the ETag it holds: 304 and no body while nothing
/// changed, the new page and a new tag once a guest is added or changed.
#[actix_web::test]
async fn reads_carry_an_etag_and_answer_304_while_nothing_changed() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    let get = |path: String, tag: Option<String>| {
        let mut request = app.api(Method::GET, &path, Some(&format!("apikey {key}")));
        if let Some(tag) = tag {
            request = request.header("if-none-match", tag);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let etag = headers.get("etag").map(|v| v.to_str().unwrap().to_owned());
            let body = response.text().await.unwrap();
            (status, etag, headers, body)
        }
    };
    let list = "/api/v2/guests?page[size]=100".to_owned();
    let (status, tag, _, body) = get(list.clone(), None).await;
    assert_eq!(status, 200);
    let tag = tag.expect("a list carries an ETag");
    assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
    let count = serde_json::from_str::<Value>(&body).unwrap()["data"]
        .as_array()
        .unwrap()
        .len();

    // Unchanged: 304, no body, the same tag, the headers of every answer.
    let (status, again, headers, body) = get(list.clone(), Some(tag.clone())).await;
    assert_eq!((status, again.as_deref()), (304, Some(tag.as_str())));
    assert!(body.is_empty());
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.contains_key("x-request-id"));
    // Weak comparison (RFC 9110 §13.1.2), lists and `*`.
    for held in [
        format!("W/{tag}"),
        format!("\"stale\", {tag}"),
        "*".to_owned(),
    ] {
        assert_eq!(get(list.clone(), Some(held.clone())).await.0, 304, "{held}");
    }
    // Another page is another answer.
    let (status, other, ..) =
        get("/api/v2/guests?page[size]=99".to_owned(), Some(tag.clone())).await;
    assert_eq!(status, 200);
    assert_ne!(other.as_deref(), Some(tag.as_str()));
    assert_eq!(get(list.clone(), Some("\"stale\"".to_owned())).await.0, 200);

    // A new guest: the held tag no longer matches.
    let (status, created) = send(
        &app,
        Method::POST,
        "/api/v2/guests",
        &key,
        Some(json!({ "data": { "type": "guests", "attributes": { "first_name": "Ada", "last_name": "Lovelace" } } })),
    )
    .await;
    assert_eq!(status, 201);
    let (status, new_tag, _, body) = get(list.clone(), Some(tag.clone())).await;
    assert_eq!(status, 200);
    let new_tag = new_tag.unwrap();
    assert_ne!(new_tag, tag);
    let page: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), count + 1);

    // One guest: changed by a PATCH, its tag changes too.
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let one = format!("/api/v2/guests/{id}");
    let (status, guest_tag, ..) = get(one.clone(), None).await;
    assert_eq!(status, 200);
    let guest_tag = guest_tag.unwrap();
    assert_eq!(get(one.clone(), Some(guest_tag.clone())).await.0, 304);
    let (status, _) = send(
        &app,
        Method::PATCH,
        &one,
        &key,
        Some(json!({ "data": { "type": "guests", "id": id, "attributes": { "phone": "+1 555 0199" } } })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, changed, _, body) = get(one.clone(), Some(guest_tag.clone())).await;
    assert_eq!(status, 200);
    assert_ne!(changed.unwrap(), guest_tag);
    assert!(body.contains("+1 555 0199"));
    assert_eq!(
        get(list, Some(new_tag)).await.0,
        200,
        "the list changed too"
    );
}
