//! How every key is used: counts by key and outcome (flushed in batches,
//! added up across instances), the charts on the key, app and Usage pages,
//! the request log with its filters and export, and their retention.

use crate::helpers::{TestApp, error_summary, spawn_app};
use crate::key_restrictions::key_with;

const SERVICES: &str = "/api/v2/services";
const APPOINTMENTS: &str = "/api/v2/appointments";

async fn ready(app: &TestApp) -> String {
    app.signed_in_admin().await;
    app.create_app(
        "Web Booking",
        "external_webstore",
        &["services:read", "appointments:read"],
        &[],
    )
    .await
    .id
}

/// `n` calls of `path` with `key`; asserts each answer's status.
async fn call(app: &TestApp, key: &str, path: &str, n: usize, status: u16) {
    for _ in 0..n {
        let response = app
            .api(reqwest::Method::GET, path, Some(&format!("apikey {key}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "GET {path}");
    }
}

/// The total of `outcome` the page's chart shows, if it shows one.
fn total(html: &str, outcome: &str) -> Option<u64> {
    let marker = format!(r#"id="usage-total-{outcome}">"#);
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('<')? + start;
    html[start..end].parse().ok()
}

/// The rows of the request log's table.
fn log_rows(html: &str) -> usize {
    html.split(r#"id="request-log""#)
        .nth(1)
        .map_or(0, |table| table.matches("<tr>").count().saturating_sub(1))
}

#[actix_web::test]
async fn each_keys_requests_are_counted_by_outcome_and_shown_on_its_pages() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    // No sample of the allowed requests: the log then holds exactly the refusals.
    let saved = app
        .post_form(
            "/settings/usage",
            &[
                ("usage_minutes_hours", "48"),
                ("usage_hours_days", "90"),
                ("usage_days_days", "730"),
                ("log_sample_percent", "0"),
                ("log_retention_days", "30"),
                ("log_max_rows", "1000000"),
            ],
        )
        .await;
    assert_eq!(saved.status().as_u16(), 303);
    app.state.verifier.poll().await.unwrap();
    app.state.verifier.invalidate();
    let (key_id, key) = key_with(&app, &app_id, "Storefront", &[]).await;
    let (other_id, other) = key_with(&app, &app_id, "Back office", &[]).await;
    call(&app, &key, SERVICES, 7, 200).await;
    // services:read only: the appointments are refused.
    call(&app, &key, APPOINTMENTS, 3, 403).await;
    let check = app
        .api(
            reqwest::Method::GET,
            "/api/v1/auth/check?permission=services:read",
            Some(&format!("apikey {key}")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(check.status().as_u16(), 200);
    call(&app, &other, APPOINTMENTS, 1, 403).await;

    // Nothing is written per request: the counts appear with the flush.
    let page = format!("/apps/{app_id}/keys/{key_id}");
    let html = app.get_html(&page, 200).await;
    assert_eq!(total(&html, "allowed"), None, "not flushed yet");
    app.state.verifier.flush_usage().await.unwrap();

    let html = app.get_html(&page, 200).await;
    assert_eq!(total(&html, "allowed"), Some(8), "seven reads and a check");
    assert_eq!(total(&html, "403"), Some(3));
    assert!(html.contains("<svg"), "drawn as SVG");
    assert!(html.contains("Show the numbers as a table"));
    // The other ranges count the same requests.
    for range in ["7d", "30d"] {
        let html = app.get_html(&format!("{page}?range={range}"), 200).await;
        assert_eq!(total(&html, "allowed"), Some(8), "{range}");
        assert_eq!(total(&html, "403"), Some(3), "{range}");
    }
    // The app's chart adds up its keys.
    let html = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert_eq!(total(&html, "allowed"), Some(8));
    assert_eq!(total(&html, "403"), Some(4));

    // The Usage page: the busiest key first, with its allowed and refused.
    let html = app.get_html("/usage", 200).await;
    let top = html.split(r#"id="top-keys""#).nth(1).unwrap();
    let first = top.find("Storefront").unwrap();
    assert!(first < top.find("Back office").unwrap());
    assert!(top.contains(r#"<td class="num">8</td>"#), "{top}");
    assert_eq!(total(&html, "403"), Some(4));

    // The request log: the refused requests, with their error code.
    let html = app.get_html("/logs", 200).await;
    assert_eq!(log_rows(&html), 4, "{html}");
    assert!(html.contains("insufficient_permission"));
    assert!(html.contains("/api/v2/appointments"));
    // Filtered to one key.
    let html = app.get_html(&format!("/logs?key={key_id}"), 200).await;
    assert_eq!(log_rows(&html), 3);
    assert!(html.contains(r#"id="key-filter""#));
    let html = app.get_html(&format!("/logs?key={other_id}"), 200).await;
    assert_eq!(log_rows(&html), 1);
    let html = app.get_html("/logs?outcome=allowed", 200).await;
    assert_eq!(
        log_rows(&html),
        0,
        "the default 1 % sample of 8 is rarely one; 403s never"
    );
    let html = app.get_html("/logs?q=APPOINTMENTS", 200).await;
    assert_eq!(log_rows(&html), 4, "the search ignores case");

    // The export: the same rows, never a secret.
    let csv = app.get(&format!("/logs.csv?key={key_id}")).await;
    assert_eq!(csv.status().as_u16(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert_eq!(csv.lines().count(), 1 + 3, "{csv}");
    assert!(csv.contains("insufficient_permission"));
    assert!(!csv.contains(&key) && !csv.contains(&other));
    let logs = app.get_html("/logs", 200).await;
    assert!(!logs.contains(&key), "never a secret");
}

#[actix_web::test]
async fn bad_log_filters_are_named_and_search_nothing() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let (_, key) = key_with(&app, &app_id, "Storefront", &[]).await;
    call(&app, &key, APPOINTMENTS, 1, 403).await;
    app.state.verifier.flush_usage().await.unwrap();
    for (query, field) in [
        ("outcome=404", "outcome"),
        ("from=yesterday", "from"),
        ("app=00000000-0000-0000-0000-000000000000", "app"),
        ("key=not-a-key", "key"),
    ] {
        let html = app.get_html(&format!("/logs?{query}"), 200).await;
        let problems = error_summary(&html);
        assert!(
            problems.iter().any(|(id, _)| id == field),
            "{query}: {problems:?}"
        );
        assert_eq!(log_rows(&html), 0, "{query}");
        let csv = app.get(&format!("/logs.csv?{query}")).await;
        assert_eq!(csv.status().as_u16(), 400, "{query}");
    }
}

#[actix_web::test]
async fn two_instances_add_their_counts_up() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let (key_id, key) = key_with(&app, &app_id, "Storefront", &[]).await;
    let sibling = app.sibling().await;
    call(&app, &key, SERVICES, 4, 200).await;
    call(&sibling, &key, SERVICES, 5, 200).await;
    call(&sibling, &key, APPOINTMENTS, 2, 403).await;
    app.state.verifier.flush_usage().await.unwrap();
    sibling.state.verifier.flush_usage().await.unwrap();
    // And a second flush of each adds what came after.
    call(&app, &key, SERVICES, 1, 200).await;
    app.state.verifier.flush_usage().await.unwrap();
    let html = app
        .get_html(&format!("/apps/{app_id}/keys/{key_id}"), 200)
        .await;
    assert_eq!(total(&html, "allowed"), Some(10));
    assert_eq!(total(&html, "403"), Some(2));
}

#[actix_web::test]
async fn the_usage_settings_are_checked_saved_and_audited_and_the_sample_applies() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let (_, key) = key_with(&app, &app_id, "Storefront", &[]).await;
    let bad = app
        .post_form(
            "/settings/usage",
            &[
                ("usage_minutes_hours", "0"),
                ("usage_hours_days", "90"),
                ("usage_days_days", "730"),
                ("log_sample_percent", "120"),
                ("log_retention_days", "30"),
                ("log_max_rows", "12"),
            ],
        )
        .await;
    assert_eq!(bad.status().as_u16(), 422);
    let problems: Vec<String> = error_summary(&bad.text().await.unwrap())
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        problems,
        ["usage_minutes_hours", "log_sample_percent", "log_max_rows"]
    );
    assert!(
        app.audit_changes("organization.usage_settings_changed")
            .await
            .is_empty(),
        "nothing changed"
    );
    let saved = app
        .post_form(
            "/settings/usage",
            &[
                ("usage_minutes_hours", "24"),
                ("usage_hours_days", "90"),
                ("usage_days_days", "730"),
                ("log_sample_percent", "100"),
                ("log_retention_days", "7"),
                ("log_max_rows", "1,000,000"),
            ],
        )
        .await;
    assert_eq!(saved.status().as_u16(), 303);
    let changes = app
        .audit_changes("organization.usage_settings_changed")
        .await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["log_sample_percent"]["to"], "100");
    assert_eq!(changes[0]["usage_minutes_hours"]["from"], 48);
    let html = app.get_html("/settings", 200).await;
    assert!(html.contains(r#"value="24""#));

    // Every allowed request is now logged (the check polls the setting).
    app.state.verifier.poll().await.unwrap();
    app.state.verifier.invalidate();
    call(&app, &key, SERVICES, 3, 200).await;
    app.state.verifier.flush_usage().await.unwrap();
    let html = app.get_html("/logs?outcome=allowed", 200).await;
    assert_eq!(log_rows(&html), 3);
}

#[actix_web::test]
async fn old_counts_and_log_rows_are_forgotten_and_the_log_keeps_its_cap() {
    use keyward::db::models::request_log::RequestLog;
    use keyward::db::models::usage::UsageCount;
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let org = app.org_id().await;
    let now = keyward::clock::now();
    let unix = now.assume_utc().unix_timestamp();
    let minute = |ago: i64| UsageCount {
        organization_id: org.clone(),
        app_id: keyward::domain::AppId::from(app_id.as_str()),
        key_id: "k".to_owned(),
        period_seconds: 60,
        bucket: (unix - ago).div_euclid(60) * 60,
        outcome: "allowed".to_owned(),
        count: 1,
    };
    let log = |ago_seconds: i64, n: usize| RequestLog {
        id: uuid::Uuid::now_v7().to_string(),
        organization_id: org.clone(),
        at: now - time::Duration::seconds(ago_seconds) + time::Duration::microseconds(n as i64),
        app_id: keyward::domain::AppId::from(app_id.as_str()),
        key_id: None,
        credential: "access_token".to_owned(),
        method: "GET".to_owned(),
        route: "/api/v2/services".to_owned(),
        status: 401,
        outcome: "401".to_owned(),
        error_code: Some("token_expired".to_owned()),
        client: None,
        latency_us: 100,
        request_id: format!("r{n}"),
    };
    // One count 50 hours ago (past the 48 hours of minutes, within the 90
    // days of hours), one now; a log row 31 days old, and 1,005 recent.
    let minutes = [minute(50 * 3600), minute(0)];
    let mut logs = vec![log(31 * 86_400, 0)];
    logs.extend((1..=1005).map(|n| log(60, n)));
    app.db()
        .run(move |conn| {
            keyward::db::write_tx(conn, |conn| {
                let minutes: Vec<_> = minutes.iter().map(UsageCount::as_minute).collect();
                keyward::services::usage::record(conn, &minutes, &logs)
            })
        })
        .await
        .unwrap();
    app.post_form(
        "/settings/usage",
        &[
            ("usage_minutes_hours", "48"),
            ("usage_hours_days", "90"),
            ("usage_days_days", "730"),
            ("log_sample_percent", "1"),
            ("log_retention_days", "30"),
            ("log_max_rows", "1000"),
        ],
    )
    .await;
    let count = |period: i32| {
        let org = org.clone();
        app.db().run(move |conn| {
            use diesel::prelude::*;
            use keyward::db::schema::usage_counts::dsl::*;
            usage_counts
                .filter(organization_id.eq(org))
                .filter(key_id.eq("k"))
                .filter(period_seconds.eq(period))
                .count()
                .get_result::<i64>(conn)
                .map_err(keyward::db::DbError::from)
        })
    };
    assert_eq!(count(60).await.unwrap(), 2);
    let forgotten = app
        .db()
        .run(move |conn| keyward::services::usage::prune(conn, now))
        .await
        .unwrap();
    assert_eq!(count(60).await.unwrap(), 1, "minutes older than 48 h go");
    assert!(count(3600).await.unwrap() >= 1, "their hours stay");
    assert_eq!(count(86_400).await.unwrap(), 2, "both days stay");
    assert_eq!(
        forgotten,
        2 + 1 + 5,
        "a minute (the key's and the organization's), the old row, the 5 over the cap"
    );
    let kept = app
        .db()
        .run(move |conn| {
            use diesel::prelude::*;
            use keyward::db::schema::request_logs::dsl::*;
            request_logs
                .select(request_id)
                .order(at.asc())
                .load::<String>(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(kept.len(), 1000);
    assert_eq!(kept[0], "r6", "the oldest go first");
}

#[actix_web::test]
async fn usage_and_logs_are_for_full_access_admins_only() {
    let app = spawn_app().await;
    app.signed_in_as("lim@example.com", keyward::db::models::Role::Limited)
        .await;
    for path in ["/usage", "/logs", "/logs.csv"] {
        assert_eq!(app.get(path).await.status().as_u16(), 403, "{path}");
    }
    let html = app.get_html("/settings", 200).await;
    assert!(
        !html.contains(r#"href="/usage""#),
        "not in a limited admin's menu"
    );
    assert!(
        !html.contains(r#"action="/settings/usage""#),
        "shown, not editable"
    );
}
