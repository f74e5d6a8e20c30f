//! Keys operators can trust in production: rolling with a grace period,
//! address allowlists, rate limits, the addresses a key is used from, and
//! the inventory of retired keys.

use std::time::Duration;

use crate::helpers::{
    TestApp, created_id, csrf_in, error_summary, input_value, location, spawn_app, spawn_app_with,
};

const SERVICES: &str = "/api/v2/services";

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

/// New API Key through the form, expiring in 30 days, with `extra` fields
/// (restrictions); the response as it is.
async fn post_key(
    app: &TestApp,
    app_id: &str,
    name: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut fields = vec![("expires_in", "30")];
    fields.extend_from_slice(extra);
    app.post_key_form(app_id, name, &fields).await
}

/// A new key with `extra` fields (`services:read` unless they name
/// permissions); returns its id and token.
pub async fn key_with(
    app: &TestApp,
    app_id: &str,
    name: &str,
    extra: &[(&str, &str)],
) -> (String, String) {
    let response = post_key(app, app_id, name, extra).await;
    let id = created_id(&response);
    let html = app.get_html(&location(&response), 200).await;
    (id, input_value(&html, "new-api-key").expect("shown once"))
}

/// Rolls a key through the Roll key page; returns the new key's id and token.
async fn roll(
    app: &TestApp,
    app_id: &str,
    key_id: &str,
    fields: &[(&str, &str)],
) -> (String, String) {
    let response = post_roll(app, app_id, key_id, fields).await;
    let id = created_id(&response);
    let html = app.get_html(&location(&response), 200).await;
    assert!(
        html.contains(r#"id="replaces""#),
        "the created page names the key it replaces"
    );
    (id, input_value(&html, "new-api-key").expect("shown once"))
}

async fn post_roll(
    app: &TestApp,
    app_id: &str,
    key_id: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let form = app
        .get_html(&format!("/apps/{app_id}/keys/{key_id}/roll"), 200)
        .await;
    let token = csrf_in(&form);
    let mut all = vec![("csrf_token", token.as_str())];
    all.extend_from_slice(fields);
    app.post_raw(&format!("/apps/{app_id}/keys/{key_id}/roll"), &all)
        .await
}

async fn call(app: &TestApp, key: &str) -> (u16, String) {
    let response = app
        .api(
            reqwest::Method::GET,
            SERVICES,
            Some(&format!("apikey {key}")),
        )
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        return (200, String::new());
    }
    app.api_error(response).await
}

#[actix_web::test]
async fn a_rolled_key_works_beside_the_new_one_until_its_grace_ends() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let (old_id, old) = key_with(
        &app,
        &app_id,
        "Payments",
        &[("allowed_ips", ""), ("rate_per_minute", "600")],
    )
    .await;

    let form = app
        .get_html(&format!("/apps/{app_id}/keys/{old_id}/roll"), 200)
        .await;
    for label in [
        "None: the old key stops now",
        "1 hour",
        "24 hours",
        "7 days",
        "Custom",
        "when the new key is first used",
    ] {
        assert!(form.contains(label), "{label}");
    }
    let (new_id, new) = roll(&app, &app_id, &old_id, &[("grace", "1")]).await;
    assert_ne!(old, new);
    assert_eq!(call(&app, &old).await, (200, String::new()));
    assert_eq!(call(&app, &new).await, (200, String::new()));

    // The new key copies the old one: name, permissions, restrictions.
    let (o, n) = (
        app.stored_key(&app_id, &old_id).await.unwrap(),
        app.stored_key(&app_id, &new_id).await.unwrap(),
    );
    assert_eq!(
        (n.name.as_str(), n.permissions.as_str()),
        ("Payments", "services:read")
    );
    assert_eq!(n.rate_per_minute, Some(600));
    assert_eq!(
        n.rolled_from_id.as_ref().map(|k| k.to_string()),
        Some(old_id.clone())
    );
    assert_eq!(
        o.rolled_to_id.as_ref().map(|k| k.to_string()),
        Some(new_id.clone())
    );
    let grace_end = o.expires_at.unwrap();
    let hour = keyward::clock::now() + time::Duration::hours(1) - grace_end;
    assert!(
        hour.abs() < time::Duration::seconds(30),
        "the grace ends in an hour"
    );
    // The new key lives as long as the old one was to live: 30 days.
    let lifetime = n.expires_at.unwrap() - n.created_at;
    assert!((lifetime - time::Duration::days(30)).abs() < time::Duration::seconds(30));

    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(
        page.contains(&format!(r#"id="rolling-{old_id}""#)),
        "the old key says where it rolled to"
    );
    assert!(page.contains(">Rolling<"));
    assert!(page.contains("Rolled from"));
    assert!(page.contains(">Rate-limited<"));
    let rolled = app.audit_changes("key.rolled").await;
    assert_eq!(rolled.len(), 1);
    assert_eq!(rolled[0]["grace_seconds"], 3600);
    assert!(
        !rolled[0].to_string().contains(&new),
        "no secret in the audit trail"
    );

    // An hour later the old key is refused, whatever the cache holds; the
    // new key carries on.
    app.state
        .verifier
        .clock()
        .advance(time::Duration::minutes(59));
    assert_eq!(call(&app, &old).await, (200, String::new()));
    app.state
        .verifier
        .clock()
        .advance(time::Duration::minutes(2));
    assert_eq!(call(&app, &old).await, (401, "key_rolled".to_owned()));
    assert_eq!(call(&app, &new).await, (200, String::new()));
}

#[actix_web::test]
async fn a_grace_from_first_use_waits_for_the_new_key() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let (old_id, old) = key_with(&app, &app_id, "Sync", &[]).await;
    let (_, new) = roll(
        &app,
        &app_id,
        &old_id,
        &[("grace", "1"), ("first_use", "on")],
    )
    .await;
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(page.contains("works until the new key is first used, then for 1 hour"));

    // Days pass: the integration never switched, and is not cut off.
    let clock = app.state.verifier.clock();
    clock.advance(time::Duration::days(2));
    assert_eq!(call(&app, &old).await, (200, String::new()));
    app.state.verifier.flush_usage().await.unwrap();
    assert_eq!(call(&app, &old).await, (200, String::new()));

    // The new key's first call starts the hour.
    assert_eq!(call(&app, &new).await, (200, String::new()));
    app.state.verifier.flush_usage().await.unwrap();
    assert_eq!(app.audit_changes("key.grace_started").await.len(), 1);
    clock.advance(time::Duration::minutes(59));
    assert_eq!(call(&app, &old).await, (200, String::new()));
    clock.advance(time::Duration::minutes(2));
    assert_eq!(call(&app, &old).await, (401, "key_rolled".to_owned()));
    assert_eq!(call(&app, &new).await, (200, String::new()));
}

#[actix_web::test]
async fn a_second_roll_replaces_an_unused_new_key_and_bad_rolls_are_refused() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let (old_id, old) = key_with(&app, &app_id, "Reports", &[]).await;
    let before = app.key_ids(&app_id).await.len();

    // A grace that cannot be read is a field error, and nothing changes.
    for grace in [
        &[("grace", "custom"), ("grace_hours", "a day")][..],
        &[("grace", "custom"), ("grace_hours", "721")],
        &[("grace", "12")],
    ] {
        let response = post_roll(&app, &app_id, &old_id, grace).await;
        assert_eq!(response.status().as_u16(), 422, "{grace:?}");
        let html = response.text().await.unwrap();
        assert_eq!(error_summary(&html).len(), 1, "{html}");
    }
    assert_eq!(app.key_ids(&app_id).await.len(), before);

    let (first, first_token) = roll(&app, &app_id, &old_id, &[("grace", "24")]).await;
    let (second, second_token) = roll(
        &app,
        &app_id,
        &old_id,
        &[("grace", "custom"), ("grace_hours", "2")],
    )
    .await;
    assert!(
        app.stored_key(&app_id, &first).await.is_none(),
        "the unused new key is replaced"
    );
    assert_eq!(call(&app, &first_token).await.0, 401);
    assert_eq!(call(&app, &second_token).await, (200, String::new()));
    assert_eq!(call(&app, &old).await, (200, String::new()));
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(
        page.contains("Replaced by a second roll"),
        "the replaced key is among the retired"
    );

    // Once the new key is in use, a further roll of the old key is refused.
    app.state.verifier.flush_usage().await.unwrap();
    let response = post_roll(&app, &app_id, &old_id, &[("grace", "0")]).await;
    assert_eq!(response.status().as_u16(), 409);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("which is in use already: roll that key instead"),
        "{html}"
    );
    assert!(app.stored_key(&app_id, &second).await.is_some());

    // Rolling with no grace stops the old key at once; a rolled-out key
    // cannot be rolled again.
    let (_, third) = roll(&app, &app_id, &second, &[("grace", "0")]).await;
    assert_eq!(
        call(&app, &second_token).await,
        (401, "key_rolled".to_owned())
    );
    assert_eq!(call(&app, &third).await, (200, String::new()));
    let response = app.get(&format!("/apps/{app_id}/keys/{second}/roll")).await;
    assert_eq!(
        response.status().as_u16(),
        303,
        "back to the app page with why"
    );
}

#[actix_web::test]
async fn an_allowlist_refuses_other_addresses_without_a_hint() {
    let app = spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let app_id = ready(&app).await;

    // Bad entries are field errors naming the entry, and make nothing.
    let before = app.key_ids(&app_id).await.len();
    let response = post_key(
        &app,
        &app_id,
        "Bad",
        &[("allowed_ips", "10.1.2.0/24\n10.1.2.300")],
    )
    .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("“10.1.2.300” is not an IP address"), "{html}");
    assert!(
        error_summary(&html)
            .iter()
            .any(|(target, _)| target == "allowed_ips")
    );
    let response = post_key(&app, &app_id, "Bad", &[("rate_per_second", "0")]).await;
    assert_eq!(response.status().as_u16(), 422);
    assert_eq!(app.key_ids(&app_id).await.len(), before);

    let (key_id, key) = key_with(
        &app,
        &app_id,
        "Warehouse",
        &[("allowed_ips", "10.1.2.0/24, 2001:db8::/32")],
    )
    .await;
    // From 127.0.0.1 (the test client itself): refused, and no hint of the list.
    let response = app
        .api(
            reqwest::Method::GET,
            SERVICES,
            Some(&format!("apikey {key}")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let body = response.text().await.unwrap();
    assert!(body.contains("ip_not_allowed"), "{body}");
    assert!(
        !body.contains("10.1.2") && !body.contains("2001:db8"),
        "{body}"
    );
    // Through a trusted proxy, from inside the range: accepted.
    let through = |from: &'static str| {
        app.api(
            reqwest::Method::GET,
            SERVICES,
            Some(&format!("apikey {key}")),
        )
        .header("x-forwarded-for", from)
        .send()
    };
    assert_eq!(through("10.1.2.77").await.unwrap().status().as_u16(), 200);
    assert_eq!(through("2001:db8::5").await.unwrap().status().as_u16(), 200);
    assert_eq!(through("10.1.3.1").await.unwrap().status().as_u16(), 403);
    // The auth check applies it to the address the proxy forwards.
    let check = |from: &'static str| {
        app.api(
            reqwest::Method::GET,
            "/api/v1/auth/check",
            Some(&format!("apikey {key}")),
        )
        .header("x-required-permission", "services:read")
        .header("x-forwarded-for", from)
        .send()
    };
    assert_eq!(check("10.1.2.8").await.unwrap().status().as_u16(), 200);
    assert_eq!(check("192.0.2.1").await.unwrap().status().as_u16(), 403);

    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(page.contains(">IP-restricted<"));
    assert!(page.contains("Only from 10.1.2.0/24, 2001:db8::/32"));
    let edit = app
        .get_html(&format!("/apps/{app_id}/keys/{key_id}/edit"), 200)
        .await;
    assert!(
        edit.contains("10.1.2.0/24\n2001:db8::/32"),
        "the edit form keeps the list"
    );

    // Any address is allowed, with a warning.
    let (_, _) = key_with(&app, &app_id, "Anywhere", &[("allowed_ips", "0.0.0.0/0")]).await;
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(page.contains(">Any address<"));
    let audit = app.audit_changes("key.created").await;
    assert!(
        audit
            .iter()
            .any(|c| c["allowed_ips"] == serde_json::json!(["10.1.2.0/24", "2001:db8::/32"]))
    );
}

#[actix_web::test]
async fn the_key_page_shows_the_addresses_it_was_used_from_and_refusals_are_not_uses() {
    let app = spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let app_id = ready(&app).await;
    let (key_id, key) =
        key_with(&app, &app_id, "Kiosk", &[("allowed_ips", "203.0.113.0/24")]).await;
    let from = |address: String| {
        app.api(
            reqwest::Method::GET,
            SERVICES,
            Some(&format!("apikey {key}")),
        )
        .header("x-forwarded-for", address)
        .send()
    };
    // A refused address is not a use.
    assert_eq!(
        from("198.51.100.1".to_owned())
            .await
            .unwrap()
            .status()
            .as_u16(),
        403
    );
    app.state.verifier.flush_usage().await.unwrap();
    assert!(
        app.stored_key(&app_id, &key_id)
            .await
            .unwrap()
            .last_used_at
            .is_none()
    );
    // Seven addresses, many calls each from the first: the last five are kept.
    for _ in 0..20 {
        assert_eq!(
            from("203.0.113.1".to_owned())
                .await
                .unwrap()
                .status()
                .as_u16(),
            200
        );
    }
    for i in 2..=7 {
        assert_eq!(
            from(format!("203.0.113.{i}"))
                .await
                .unwrap()
                .status()
                .as_u16(),
            200
        );
        app.state.verifier.flush_usage().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let edit = app
        .get_html(&format!("/apps/{app_id}/keys/{key_id}/edit"), 200)
        .await;
    let listed: Vec<String> = (1..=7)
        .map(|i| format!("203.0.113.{i}"))
        .filter(|a| edit.contains(&format!("<code>{a}</code>")))
        .collect();
    assert_eq!(
        listed,
        [
            "203.0.113.3",
            "203.0.113.4",
            "203.0.113.5",
            "203.0.113.6",
            "203.0.113.7"
        ]
    );
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(page.contains("From 203.0.113.7 and 4 more"));
}

/// Waits until early in a second, so a scenario that must fit in one
/// second does.
async fn start_of_a_second() {
    let now = time::OffsetDateTime::now_utc();
    let into = Duration::from_nanos(u64::from(now.nanosecond()));
    tokio::time::sleep(Duration::from_secs(1) - into + Duration::from_millis(5)).await;
}

#[actix_web::test]
async fn a_rate_limited_key_gets_429_with_its_windows_on_the_sixth_call_in_a_second() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let (key_id, key) = key_with(
        &app,
        &app_id,
        "Poller",
        &[("rate_per_second", "5"), ("rate_per_minute", "100")],
    )
    .await;
    let send = || {
        app.api(
            reqwest::Method::GET,
            SERVICES,
            Some(&format!("apikey {key}")),
        )
        .send()
    };
    for attempt in 0..3 {
        start_of_a_second().await;
        let started = std::time::Instant::now();
        let mut answers = Vec::new();
        for _ in 0..6 {
            answers.push(send().await.unwrap());
        }
        if started.elapsed() > Duration::from_millis(900) {
            assert!(attempt < 2, "six calls never fit in one second");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
        assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);
        let first = &answers[0];
        assert_eq!(
            first.headers()["ratelimit-policy"],
            r#""per-second";q=5;w=1, "per-minute";q=100;w=60"#
        );
        assert!(
            first.headers()["ratelimit"]
                .to_str()
                .unwrap()
                .starts_with(r#""per-second";r=4;t=1, "per-minute";r="#)
        );
        let refused = answers.pop().unwrap();
        assert_eq!(refused.headers()["retry-after"], "1");
        assert!(
            refused.headers()["ratelimit"]
                .to_str()
                .unwrap()
                .starts_with(r#""per-second";r=0;t=1"#)
        );
        assert_eq!(
            app.api_error(refused).await,
            (429, "rate_limited".to_owned())
        );
        break;
    }
    // Alone, an instance writes no counts, only that it is there.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let written = app
        .db()
        .run(move |conn| {
            use diesel::prelude::*;
            use keyward::db::schema::rate_counts::dsl;
            dsl::rate_counts
                .filter(dsl::key_id.eq(key_id))
                .count()
                .get_result::<i64>(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(written, 0);
    // The auth check answers with the fields too.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let check = app
        .api(
            reqwest::Method::GET,
            "/api/v1/auth/check",
            Some(&format!("apikey {key}")),
        )
        .header("x-required-permission", "services:read")
        .send()
        .await
        .unwrap();
    assert_eq!(check.status().as_u16(), 200);
    assert!(check.headers().contains_key("ratelimit"));
}

#[actix_web::test]
async fn a_rate_limit_holds_across_two_instances_within_the_stated_bound() {
    let one = spawn_app().await;
    let app_id = ready(&one).await;
    let (_, key) = key_with(&one, &app_id, "Shared", &[("rate_per_second", "5")]).await;
    let two = one.sibling().await;
    let send = |app: &TestApp| {
        app.api(
            reqwest::Method::GET,
            SERVICES,
            Some(&format!("apikey {key}")),
        )
        .send()
    };
    // Warm both caches outside the measured second.
    assert_eq!(send(&one).await.unwrap().status().as_u16(), 200);
    assert_eq!(send(&two).await.unwrap().status().as_u16(), 200);
    // As the README states: an instance learns the others' counts within two
    // sync intervals (200 ms); requests spaced by more than that never pass
    // the limit together.
    for attempt in 0..3 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        start_of_a_second().await;
        let started = std::time::Instant::now();
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(send(&one).await.unwrap().status().as_u16());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        for _ in 0..3 {
            statuses.push(send(&two).await.unwrap().status().as_u16());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let last = send(&one).await.unwrap();
        if started.elapsed() > Duration::from_millis(950) {
            assert!(attempt < 2, "the scenario never fit in one second");
            continue;
        }
        statuses.push(last.status().as_u16());
        assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
        assert_eq!(last.headers()["retry-after"], "1");
        return;
    }
}

#[actix_web::test]
async fn retired_keys_are_listed_without_their_secret_and_can_be_recreated() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let (gone_id, gone) = key_with(
        &app,
        &app_id,
        "Old sync",
        &[("allowed_ips", "192.0.2.0/24"), ("rate_per_second", "9")],
    )
    .await;
    // Switched off the way the page does, then deleted.
    app.post_form(&format!("/apps/{app_id}/keys/{gone_id}/inactivate"), &[])
        .await;
    let response = app
        .post_form(&format!("/apps/{app_id}/keys/{gone_id}/delete"), &[])
        .await;
    assert_eq!(location(&response), format!("/apps/{app_id}"), "deleted");
    assert!(app.stored_key(&app_id, &gone_id).await.is_none());
    let dump = app.database_dump().await;
    assert!(
        !dump.contains(&gone[gone.len() - 20..]),
        "no trace of the secret"
    );

    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    let retired = &page[page.find(r#"id="retired-keys""#).unwrap()..];
    assert!(retired.contains("Old sync"));
    assert!(retired.contains("Deleted"));
    assert!(retired.contains("from 192.0.2.0/24; at most 9/s"));
    assert!(retired.contains(&format!("/apps/{app_id}/keys/new?from={gone_id}")));

    // Recreate brings back its name, permissions and restrictions.
    let form = app
        .get_html(&format!("/apps/{app_id}/keys/new?from={gone_id}"), 200)
        .await;
    assert_eq!(input_value(&form, "name").as_deref(), Some("Old sync"));
    assert!(form.contains(r#"value="services:read" checked"#));
    assert!(form.contains("192.0.2.0/24</textarea>"));
    assert_eq!(input_value(&form, "rate_per_second").as_deref(), Some("9"));
    // A key in service is not a retired key.
    let (live_id, _) = key_with(&app, &app_id, "Live", &[]).await;
    assert_eq!(
        app.get(&format!("/apps/{app_id}/keys/new?from={live_id}"))
            .await
            .status()
            .as_u16(),
        404
    );

    // A key that expired moves from the keys to the retired keys.
    let org = app.org_id().await;
    let (a, digest_key) = (
        keyward::domain::AppId::from(app_id.as_str()),
        app.state.digest_key.clone(),
    );
    let expires_at = keyward::clock::now() + time::Duration::milliseconds(1200);
    let (night, _) = app
        .db()
        .run(move |conn| {
            keyward::db::write_tx(conn, |conn| {
                let fields = keyward::services::keys::KeyFields {
                    name: keyward::domain::Name::parse("Night batch").unwrap(),
                    description: keyward::domain::Description::default(),
                    expires_at: Some(expires_at),
                    active: true,
                    permissions: keyward::domain::scopes::PermissionSet::from_stored(
                        "services:read",
                    ),
                    allowed_ips: Default::default(),
                    rate_limits: Default::default(),
                };
                keyward::services::keys::create(
                    conn,
                    &org,
                    &keyward::db::models::Actor::system("test"),
                    &a,
                    &fields,
                    None,
                    &digest_key,
                )
            })
            .map_err(|e| keyward::db::DbError::Unavailable(e.to_string()))
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    let (keys, retired) = page.split_at(page.find(r#"id="retired-keys""#).unwrap());
    assert!(!keys.contains("Night batch"));
    assert!(retired.contains("Night batch") && retired.contains("Expired"));
    let form = app
        .get_html(&format!("/apps/{app_id}/keys/new?from={}", night.id), 200)
        .await;
    assert_eq!(input_value(&form, "name").as_deref(), Some("Night batch"));
    assert!(form.contains(r#"value="services:read" checked"#));

    // Past the organization's retention, the inventory forgets them.
    let later = keyward::clock::now() + time::Duration::days(91);
    let forgotten = app
        .db()
        .run(move |conn| {
            keyward::services::keys::forget_retired(conn, later)
                .map_err(|e| keyward::db::DbError::Unavailable(e.to_string()))
        })
        .await
        .unwrap();
    assert_eq!(forgotten, 2);
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(page.contains(r#"id="no-retired-keys""#));
}

#[actix_web::test]
async fn the_key_policy_sets_the_default_rate_limits_and_the_retention() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    let response = app
        .post_form(
            "/settings/policy",
            &[
                ("rate_per_second", "50"),
                ("rate_per_minute", "10"),
                ("retired_days", "90"),
            ],
        )
        .await;
    assert_eq!(
        response.status().as_u16(),
        422,
        "a minute below a second is refused"
    );
    let html = response.text().await.unwrap();
    assert!(
        error_summary(&html)
            .iter()
            .any(|(t, _)| t == "rate_per_minute")
    );
    let response = app
        .post_form(
            "/settings/policy",
            &[
                ("rate_per_second", "50"),
                ("rate_per_minute", ""),
                ("retired_days", "30"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303, "saved");
    let form = app.get_html(&format!("/apps/{app_id}/keys/new"), 200).await;
    assert_eq!(input_value(&form, "rate_per_second").as_deref(), Some("50"));
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(page.contains("stay listed for 30 days"));
}

#[actix_web::test]
async fn deleting_the_new_key_of_a_roll_gives_the_old_key_its_own_expiry_back() {
    let app = spawn_app().await;
    let app_id = ready(&app).await;
    // The wizard's key is rolled like any other.
    let wizard_key = app.key_ids(&app_id).await[0].clone();
    let before = app
        .stored_key(&app_id, &wizard_key)
        .await
        .unwrap()
        .expires_at;
    let (new_id, _) = roll(&app, &app_id, &wizard_key, &[("grace", "1")]).await;
    assert_ne!(
        app.stored_key(&app_id, &wizard_key)
            .await
            .unwrap()
            .expires_at,
        before
    );
    app.post_form(&format!("/apps/{app_id}/keys/{new_id}/inactivate"), &[])
        .await;
    let response = app
        .post_form(&format!("/apps/{app_id}/keys/{new_id}/delete"), &[])
        .await;
    assert_eq!(location(&response), format!("/apps/{app_id}"));
    let old = app.stored_key(&app_id, &wizard_key).await.unwrap();
    assert_eq!(old.expires_at, before, "its own expiry again");
    assert!(old.rolled_to_id.is_none());
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(!page.contains(">Rolling<"));
    let deleted = app.audit_changes("key.deleted").await;
    assert!(deleted[0]["roll_cancelled_for"].is_string());
}
