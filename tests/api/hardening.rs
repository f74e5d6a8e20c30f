use crate::helpers::spawn_app;

fn assert_security_headers(response: &reqwest::Response, what: &str) {
    let h = response.headers();
    let csp = h
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: CSP"))
        .to_str()
        .unwrap();
    for directive in [
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "script-src 'self'",
    ] {
        assert!(csp.contains(directive), "{what}: {directive}");
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: no unsafe-inline");
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert!(h.contains_key("referrer-policy"), "{what}");
}

#[actix_web::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let page = app.get("/apps").await;
    assert_security_headers(&page, "page");
    assert_eq!(
        page.headers()["cache-control"],
        "no-store",
        "signed-in pages are not cached"
    );
    assert_security_headers(&app.get("/no/such/page").await, "404");
    assert_security_headers(&app.post_raw("/logout", &[]).await, "403 from the guard");
    assert_security_headers(&app.get("/healthz").await, "health");
    assert!(
        !app.get("/apps")
            .await
            .headers()
            .contains_key("strict-transport-security"),
        "no HSTS over http"
    );
}

#[actix_web::test]
async fn static_assets_are_cached_by_version() {
    let app = spawn_app().await;
    let html = app.get_html("/login", 200).await;
    let start = html.find("/static/css/app.css?v=").unwrap();
    let end = html[start..].find('"').unwrap() + start;
    let response = app.get(&html[start..end]).await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_eq!(
        app.get("/static/../Cargo.toml").await.status().as_u16(),
        404
    );
}

#[actix_web::test]
async fn a_nul_byte_or_invalid_utf8_in_any_field_is_a_400() {
    let app = spawn_app().await;
    let before = app.audit_actions().await;
    let token = app.csrf().await;
    for body in [
        format!("email=a%00b@example.com&password=x&csrf_token={token}"),
        format!("email=%FF%FE@example.com&password=x&csrf_token={token}"),
        format!("email=a@example.com&password=p%00w&csrf_token={token}"),
    ] {
        let response = app
            .client
            .post(app.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{body}");
    }
    let raw = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(b"email=\xff\xfe&password=x".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    assert_eq!(app.get("/login?next=%00").await.status().as_u16(), 400);
    assert_eq!(app.get("/login?next=%C3%28").await.status().as_u16(), 400);
    assert_eq!(
        app.audit_actions().await,
        before,
        "nothing reached the handler"
    );
}

#[actix_web::test]
async fn a_nul_byte_or_invalid_utf8_in_an_id_of_the_path_is_a_400() {
    let app = spawn_app().await;
    let paths = [
        "/apps/%00",
        "/apps/a%00b/edit",
        "/apps/%FF/keys/new",
        "/apps/%C3%28/wizard",
        "/staff/%00/edit",
        "/apps/x/keys/%00/edit",
        "/apps/x/keys/%1F/delete",
    ];
    // Before sign-in: refused before the redirect to the sign-in page.
    for path in paths {
        assert_eq!(app.get(path).await.status().as_u16(), 400, "{path}");
    }
    app.signed_in_admin().await;
    for path in paths {
        let response = app.get(path).await;
        assert_eq!(response.status().as_u16(), 400, "{path}");
        let page = response.text().await.unwrap();
        assert!(page.contains("could not be understood"), "{path}: {page}");
    }
    let response = app.post_form("/apps/%00/delete", &[]).await;
    assert_eq!(response.status().as_u16(), 400);
    // The same id with ordinary escapes is simply not found.
    assert_eq!(app.get("/apps/no%20such").await.status().as_u16(), 404);
}

#[actix_web::test]
async fn oversized_bodies_and_headers_are_refused() {
    let app = spawn_app().await;
    let token = app.csrf().await;
    let big = format!("email={}&csrf_token={token}", "a".repeat(70 * 1024));
    let response = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);

    let response = app
        .client
        .get(app.url("/login"))
        .header("x-filler", "b".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 431);
}

#[actix_web::test]
async fn a_form_post_in_another_format_is_refused() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/login"))
        .header("content-type", "application/json")
        .body(r#"{"email":"a@b.c"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
}

#[actix_web::test]
async fn error_pages_show_no_internals() {
    let app = spawn_app().await;
    let html = app.get_html("/nope", 404).await;
    assert!(html.contains("Not found"));
    assert!(!html.to_lowercase().contains("diesel") && !html.contains("panicked"));
}

#[actix_web::test]
async fn answers_made_by_middleware_carry_the_headers_and_hsts_under_https() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.public_url = url::Url::parse("https://keys.example.com").unwrap();
    })
    .await;
    let token = app.csrf().await;
    let big = format!("email={}&csrf_token={token}", "a".repeat(70 * 1024));
    let answers = [
        ("403 from the guard", app.post_raw("/logout", &[]).await),
        (
            "413",
            app.client
                .post(app.url("/login"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(big)
                .send()
                .await
                .unwrap(),
        ),
        (
            "415",
            app.client
                .post(app.url("/login"))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap(),
        ),
        ("404 of the API", app.get("/api/v2/nothing").await),
        ("401 of the API", app.get("/api/v2/services").await),
    ];
    for (what, response) in answers {
        assert_security_headers(&response, what);
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=63072000; includeSubDomains",
            "{what}"
        );
        assert!(response.headers().contains_key("x-request-id"), "{what}");
    }
}

#[actix_web::test]
async fn an_error_names_the_request_id_the_log_has() {
    let app = spawn_app().await;
    let page = app.get("/no/such/page").await;
    let id = page.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(
        page.text().await.unwrap().contains(&id),
        "the page shows it"
    );
    let api = app.get("/api/v2/services").await;
    let id = api.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["meta"]["request_id"], id.as_str());
    assert!(
        crate::helpers::captured_logs().contains(&id),
        "the log has it"
    );
}

#[actix_web::test]
async fn a_panic_is_answered_with_a_500_and_its_request_id_not_a_dropped_connection() {
    let app = spawn_app().await;
    for (path, json) in [("/__debug/panic", false), ("/api/__debug/panic", true)] {
        let response = app.get(path).await;
        assert_eq!(response.status().as_u16(), 500, "{path}");
        assert_security_headers(&response, path);
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.text().await.unwrap();
        assert!(body.contains(&id), "{path}: the answer names the request");
        assert!(
            !body.contains("asked for"),
            "{path}: the cause is not shown"
        );
        if json {
            let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(doc["errors"][0]["code"], "internal_error");
        }
        let logs = crate::helpers::captured_logs();
        assert!(
            logs.lines()
                .any(|l| l.contains(&id) && l.contains("a panic the test suite asked for")),
            "{path}: the panic is logged with the id"
        );
    }
    // The server goes on serving.
    assert_eq!(app.get("/healthz").await.status().as_u16(), 200);
}

#[actix_web::test]
async fn oversized_headers_close_the_connection_and_compressed_bodies_are_refused() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/v2/services"))
        .header("x-filler", "b".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 431);
    assert_eq!(response.headers()["connection"], "close");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["code"], "headers_too_large");

    for path in ["/login", "/api/v2/guests"] {
        let response = app
            .client
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("content-encoding", "gzip")
            .body(vec![0x1f, 0x8b, 0x08, 0x00])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 415, "{path}");
    }
}

#[actix_web::test]
async fn a_state_change_from_another_site_is_refused_even_with_a_valid_token_and_audited() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let token = app.csrf().await;
    let body = serde_html_form::to_string([
        ("name", "Hijacked"),
        ("time_zone", "UTC"),
        ("csrf_token", token.as_str()),
    ])
    .unwrap();
    let post = |headers: Vec<(&'static str, String)>| {
        let mut request = app
            .client
            .post(app.url("/settings/organization"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    for headers in [
        vec![("sec-fetch-site", "cross-site".to_owned())],
        vec![("origin", "https://evil.example".to_owned())],
        vec![("origin", "null".to_owned())],
    ] {
        let response = post(headers.clone()).await.unwrap();
        assert_eq!(response.status().as_u16(), 403, "{headers:?}");
        assert!(response.text().await.unwrap().contains("another site"));
    }
    assert!(!app.get_html("/settings", 200).await.contains("Hijacked"));
    let refusals = app.audit_changes("request.refused").await;
    assert_eq!(refusals.len(), 3);
    assert_eq!(refusals[0]["route"], "/settings/organization");
    let actors: Vec<_> = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "request.refused")
        .map(|(_, actor, _)| actor)
        .collect();
    assert!(
        actors.iter().all(|a| a == "admin@example.com"),
        "{actors:?}"
    );

    // The same request from this site, as a browser sends it, goes through.
    let ours = post(vec![
        ("origin", app.address.clone()),
        ("sec-fetch-site", "same-origin".to_owned()),
    ])
    .await
    .unwrap();
    assert_eq!(ours.status().as_u16(), 303);
    assert!(app.get_html("/settings", 200).await.contains("Hijacked"));
}

#[actix_web::test]
async fn a_second_csrf_token_is_a_bad_request() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let token = app.csrf().await;
    let response = app
        .post_raw(
            "/settings/organization",
            &[("csrf_token", "forged"), ("csrf_token", token.as_str())],
        )
        .await;
    assert_eq!(response.status().as_u16(), 400);
}

#[actix_web::test]
async fn a_known_path_answers_a_wrong_method_with_405_and_head_like_get() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/login", "GET, HEAD, POST"),
        (reqwest::Method::PUT, "/settings", "GET, HEAD"),
        (reqwest::Method::GET, "/logout", "POST"),
        (reqwest::Method::TRACE, "/login", "GET, HEAD, POST"),
        (reqwest::Method::POST, "/api/v2/services", "GET, HEAD"),
        (reqwest::Method::TRACE, "/api/v1/auth/check", "GET, HEAD"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405, "{method} {path}");
        assert_eq!(response.headers()["allow"], allow, "{method} {path}");
    }
    for path in ["/nowhere", "/api/nowhere"] {
        let response = app
            .client
            .request(reqwest::Method::TRACE, app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405, "TRACE {path}");
    }
    for path in ["/login", "/healthz", "/api/openapi.json"] {
        let head = app.client.head(app.url(path)).send().await.unwrap();
        let get = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "HEAD {path}"
        );
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} has no body"
        );
    }
}

#[actix_web::test]
async fn json_that_is_not_json_api_says_its_charset() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    for path in ["/healthz", "/readyz", "/api/openapi.json"] {
        let response = app.get(path).await;
        assert_eq!(
            response.headers()["content-type"],
            "application/json; charset=utf-8",
            "{path}"
        );
    }
    let check = app
        .client
        .get(app.url("/api/v1/auth/check"))
        .header("authorization", format!("apikey {key}"))
        .header("x-required-permission", "services:read")
        .send()
        .await
        .unwrap();
    assert_eq!(check.status().as_u16(), 200);
    assert_eq!(
        check.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let body: serde_json::Value = check.json().await.unwrap();
    assert_eq!(body["allowed"], true);
    let services = app
        .client
        .get(app.url("/api/v2/services"))
        .header("authorization", format!("apikey {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        services.headers()["content-type"],
        "application/vnd.api+json"
    );
}

/// Whether the log has the request line of the answer with this id.
fn logged(id: &str) -> bool {
    crate::helpers::captured_logs()
        .lines()
        .any(|l| l.contains(id) && l.contains("handled"))
}

#[actix_web::test]
async fn api_access_lines_follow_the_setting() {
    use keyward::config::AccessLog;
    for (mode, ok_logged, refused_logged) in [
        (AccessLog::All, true, true),
        (AccessLog::Refused, false, true),
        (AccessLog::None, false, false),
    ] {
        let app = crate::helpers::spawn_app_with(|s| s.api_access_log = mode).await;
        let key = app.demo_key().await;
        let ok = app
            .client
            .get(app.url("/api/v2/services"))
            .header("authorization", format!("apikey {key}"))
            .send()
            .await
            .unwrap();
        let refused = app.get("/api/v2/services").await;
        let console = app.get("/login").await;
        let id = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_owned();
        let (ok, refused, console) = (id(&ok), id(&refused), id(&console));
        assert_eq!(logged(&ok), ok_logged, "{mode:?}: a 200");
        assert_eq!(logged(&refused), refused_logged, "{mode:?}: a 401");
        assert!(logged(&console), "{mode:?}: console lines are always kept");
    }
}
