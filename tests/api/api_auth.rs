//! External requests: every error code, every permission boundary, and each way a
//! key stops working, on this instance at once and on another within a second.

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::helpers::{TestApp, captured_logs, on_postgres, spawn_app};

async fn status_of(app: &TestApp, path: &str, authorization: Option<&str>) -> (u16, String) {
    let response = app
        .api(Method::GET, path, authorization)
        .send()
        .await
        .unwrap();
    if response.status().is_success() {
        return (response.status().as_u16(), String::new());
    }
    app.api_error(response).await
}

#[actix_web::test]
async fn a_key_from_the_wizard_lists_services_with_either_scheme_in_any_case() {
    let app = spawn_app().await;
    app.demo_key().await;
    app.signed_in_admin().await;
    let created = app
        .create_app("Shop", "external_webstore", &["services:read"], &[])
        .await;
    for header in [
        format!("apikey {}", created.key),
        format!("Bearer {}", created.key),
        format!("APIKEY {}", created.key),
        format!("bearer {}", created.key),
    ] {
        let response = app
            .api(Method::GET, "/api/v2/services", Some(&header))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{header}");
        assert_eq!(
            response.headers()["content-type"],
            "application/vnd.api+json"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["data"].as_array().unwrap().len(), 5);
        assert_eq!(body["data"][0]["type"], "services");
    }
}

#[actix_web::test]
async fn every_refusal_has_its_status_and_code_and_never_echoes_the_credential() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    let mut typo = key.clone().into_bytes();
    typo[8] = if typo[8] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    let unknown = secrecy::ExposeSecret::expose_secret(
        &keyward::domain::key_token::ParsedKey::generate().token,
    )
    .to_owned();

    let missing = app
        .api(Method::GET, "/api/v2/services", None)
        .send()
        .await
        .unwrap();
    assert_eq!(
        missing.headers()["www-authenticate"],
        r#"ApiKey realm="keyward", Bearer realm="keyward""#
    );
    assert_eq!(
        app.api_error(missing).await,
        (401, "missing_credentials".to_owned())
    );
    for (header, code) in [
        (format!("Basic {key}"), "invalid_credentials"),
        (format!("apikey {typo}"), "invalid_credentials"),
        (format!("apikey {unknown}"), "invalid_credentials"),
        ("apikey ".to_owned(), "invalid_credentials"),
        ("Bearer some.jwt.token".to_owned(), "invalid_credentials"),
        (format!("apikey {key} {key}"), "invalid_credentials"),
    ] {
        let response = app
            .api(Method::GET, "/api/v2/services", Some(&header))
            .send()
            .await
            .unwrap();
        assert!(response.headers().contains_key("www-authenticate"));
        let text = response.text().await.unwrap();
        assert!(
            !text.contains(&key) && !text.contains(&typo) && !text.contains(&unknown),
            "{header}: echoed"
        );
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["errors"][0]["code"], code, "{header}");
        assert_eq!(body["errors"][0]["status"], "401");
    }
    let two = reqwest::Client::new()
        .get(app.url("/api/v2/services"))
        .header("authorization", format!("apikey {key}"))
        .header("authorization", format!("apikey {key}"))
        .send()
        .await
        .unwrap();
    // Two credentials make a malformed request (RFC 6750 §3.1), not a wrong one.
    assert_eq!(
        app.api_error(two).await,
        (400, "invalid_request".to_owned())
    );
}

#[actix_web::test]
async fn each_route_needs_its_own_permission() {
    let app = spawn_app().await;
    app.demo_key().await;
    app.signed_in_admin().await;
    let created = app
        .create_app(
            "Reader",
            "bot",
            &["services:read", "appointments:read"],
            &[],
        )
        .await;
    let header = format!("apikey {}", created.key);
    assert_eq!(
        status_of(&app, "/api/v2/services", Some(&header)).await.0,
        200
    );
    assert_eq!(
        status_of(&app, "/api/v2/appointments", Some(&header))
            .await
            .0,
        200
    );
    for path in [
        "/api/v2/payments",
        "/api/v2/installments",
        "/api/v2/working_hours",
        "/api/v2/guests",
        "/api/v2/employees",
    ] {
        assert_eq!(
            status_of(&app, path, Some(&header)).await,
            (403, "insufficient_permission".to_owned()),
            "{path}"
        );
    }
    let response = app
        .api(Method::POST, "/api/v2/appointments", Some(&header))
        .header("content-type", "application/vnd.api+json")
        .body(r#"{"data":{"type":"appointments"}}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = (response.status().as_u16(), response.text().await.unwrap());
    assert_eq!(status, 403);
    assert!(
        body.contains("appointments:create"),
        "names the missing permission"
    );
}

#[actix_web::test]
async fn a_session_cookie_never_authenticates_the_api_and_a_key_in_the_url_is_ignored() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    app.signed_in_admin().await;
    let with_cookie = app
        .client
        .get(app.url("/api/v2/services"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.api_error(with_cookie).await,
        (401, "missing_credentials".to_owned())
    );
    let in_query = app
        .api(
            Method::GET,
            &format!("/api/v2/services?apikey={key}&key={key}"),
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.api_error(in_query).await,
        (401, "missing_credentials".to_owned())
    );
    assert!(
        !captured_logs().contains(&key),
        "a key in a URL is never logged"
    );
}

#[actix_web::test]
async fn the_operator_switching_off_external_connectivity_gives_402_and_is_audited_in_both_trails()
{
    let app = spawn_app().await;
    let key = app.demo_key().await;
    app.signed_in_admin().await;
    let operator = app.operator("ops@platform.example").await;
    let header = format!("apikey {key}");
    assert_eq!(
        status_of(&app, "/api/v2/services", Some(&header)).await.0,
        200
    );
    // The admin sees the subscription, and has nothing to switch it with.
    let settings = app.get_html("/settings", 200).await;
    assert!(settings.contains("Ask the operator to change it."));
    assert!(!settings.contains(r#"name="external_connectivity""#));
    assert_eq!(
        app.post_form("/settings/features", &[("external_connectivity", "on")])
            .await
            .status()
            .as_u16(),
        404,
        "the admins' switch is gone"
    );
    assert!(
        !app.get_html("/apps", 200)
            .await
            .contains("connectivity-banner")
    );
    app.operator_sets_connectivity(&operator, false).await;
    assert_eq!(
        status_of(&app, "/api/v2/services", Some(&header)).await,
        (402, "payment_required".to_owned())
    );
    // Every console page of the organization says so while it is off.
    for page in ["/apps", "/staff", "/audit", "/settings"] {
        let html = app.get_html(page, 200).await;
        assert!(
            html.contains("External systems' API calls are refused with 402."),
            "{page}"
        );
    }
    // The organization's trail names the operator; so does the operators'.
    let changed: Vec<_> = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(a, ..)| a == "organization.features_changed")
        .map(|(_, actor, _)| actor)
        .collect();
    assert_eq!(changed, vec!["operator ops@platform.example"]);
    assert!(
        app.operator_events()
            .await
            .iter()
            .any(|(a, actor, org, changes)| {
                a == "organization.features_changed"
                    && actor == "ops@platform.example"
                    && org.is_some()
                    && changes["external_connectivity"]
                        == serde_json::json!({"from": true, "to": false})
            })
    );
    app.operator_sets_connectivity(&operator, true).await;
    assert_eq!(
        status_of(&app, "/api/v2/services", Some(&header)).await.0,
        200
    );
    assert!(
        !app.get_html("/apps", 200)
            .await
            .contains("connectivity-banner")
    );
}

#[actix_web::test]
async fn an_admin_cannot_reach_the_operators_console() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    for page in [
        "/operator/organizations",
        "/operator/audit",
        "/operator/organizations/new",
    ] {
        let response = app.get(page).await;
        assert_eq!(response.status().as_u16(), 303, "{page}");
        assert!(
            response.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/login"),
            "{page}: an admin's session is no operator's"
        );
    }
    let org = app.org_id().await;
    let response = app
        .post_form(&format!("/operator/organizations/{org}/suspend"), &[])
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert!(
        !app.get_html("/settings", 200)
            .await
            .contains("suspended-banner"),
        "nothing was suspended"
    );
}

#[actix_web::test]
async fn use_is_recorded_in_batches_not_on_every_request() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    let header = format!("apikey {key}");
    for _ in 0..10 {
        assert_eq!(
            status_of(&app, "/api/v2/services", Some(&header)).await.0,
            200
        );
    }
    let last_used = || async {
        use diesel::prelude::*;
        app.db()
            .run(|conn| {
                keyward::db::schema::api_keys::table
                    .filter(keyward::db::schema::api_keys::name.like("Demo key%"))
                    .select(keyward::db::schema::api_keys::last_used_at)
                    .first::<Option<keyward::clock::Timestamp>>(conn)
                    .map_err(keyward::db::DbError::from)
            })
            .await
            .unwrap()
    };
    assert!(last_used().await.is_none(), "no write per request");
    assert_eq!(
        app.state.verifier.flush_usage().await.unwrap(),
        1,
        "one write for ten uses"
    );
    assert!(last_used().await.is_some());
}

#[actix_web::test]
async fn many_invalid_keys_from_one_client_are_told_to_wait() {
    let app = spawn_app().await;
    let key = app.demo_key().await;
    let mut last = (0, String::new());
    for _ in 0..70 {
        let unknown = secrecy::ExposeSecret::expose_secret(
            &keyward::domain::key_token::ParsedKey::generate().token,
        )
        .to_owned();
        last = status_of(&app, "/api/v2/services", Some(&format!("apikey {unknown}"))).await;
    }
    assert_eq!(last, (429, "too_many_failures".to_owned()));
    let response = app
        .api(
            Method::GET,
            "/api/v2/services",
            Some(&format!("apikey {key}")),
        )
        .send()
        .await
        .unwrap();
    // A key that verifies always passes: a neighbour behind the same address
    // cannot shut the client out.
    assert_eq!(response.status().as_u16(), 200, "a good key still passes");
    let never_cached = app.demo_key().await;
    assert_eq!(
        status_of(
            &app,
            "/api/v2/services",
            Some(&format!("apikey {never_cached}"))
        )
        .await,
        (200, String::new()),
        "an uncached good key too"
    );
    let unknown = secrecy::ExposeSecret::expose_secret(
        &keyward::domain::key_token::ParsedKey::generate().token,
    )
    .to_owned();
    let refused = app
        .api(
            Method::GET,
            "/api/v2/services",
            Some(&format!("apikey {unknown}")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 429, "bad ones still wait");
    assert!(refused.headers().contains_key("retry-after"));
}

/// Waits until `check` holds on `app`, for at most a second after `since`.
async fn within_a_second(app: &TestApp, header: &str, expected: (u16, &str), since: Instant) {
    let deadline = since + Duration::from_secs(1);
    loop {
        let got = status_of(app, "/api/v2/services", Some(header)).await;
        if got.0 == expected.0 && got.1 == expected.1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still {got:?} a second after the change"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Pair {
    one: TestApp,
    two: TestApp,
    app_id: String,
    key_id: String,
    header: String,
    /// The demo app's key, of another app.
    demo: String,
}

async fn two_instances_with_a_cached_key() -> Pair {
    let one = spawn_app().await;
    let demo = format!("apikey {}", one.demo_key().await);
    one.signed_in_admin().await;
    let created = one
        .create_app(
            "Everywhere",
            "bot",
            &["services:read", "appointments:read"],
            &[],
        )
        .await;
    let two = one.sibling().await;
    let header = format!("apikey {}", created.key);
    // Both instances have verified (and cached) the key.
    for _ in 0..3 {
        assert_eq!(
            status_of(&one, "/api/v2/services", Some(&header)).await.0,
            200
        );
        assert_eq!(
            status_of(&two, "/api/v2/services", Some(&header)).await.0,
            200
        );
    }
    let key_id = one.key_ids(&created.id).await[0].clone();
    Pair {
        one,
        two,
        app_id: created.id,
        key_id,
        header,
        demo,
    }
}

#[actix_web::test]
async fn inactivating_a_key_stops_it_here_at_once_and_elsewhere_within_a_second() {
    let p = two_instances_with_a_cached_key().await;
    let changed = Instant::now();
    p.one
        .post_form(
            &format!("/apps/{}/keys/{}/inactivate", p.app_id, p.key_id),
            &[],
        )
        .await;
    assert_eq!(
        status_of(&p.one, "/api/v2/services", Some(&p.header)).await,
        (401, "key_inactive".to_owned())
    );
    within_a_second(&p.two, &p.header, (401, "key_inactive"), changed).await;
    p.one
        .post_form(
            &format!("/apps/{}/keys/{}/activate", p.app_id, p.key_id),
            &[],
        )
        .await;
    within_a_second(&p.two, &p.header, (200, ""), Instant::now()).await;
}

#[actix_web::test]
async fn deleting_a_key_stops_it_everywhere_within_a_second() {
    let p = two_instances_with_a_cached_key().await;
    p.one
        .post_form(
            &format!("/apps/{}/keys/{}/inactivate", p.app_id, p.key_id),
            &[],
        )
        .await;
    within_a_second(&p.two, &p.header, (401, "key_inactive"), Instant::now()).await;
    let changed = Instant::now();
    p.one
        .post_form(&format!("/apps/{}/keys/{}/delete", p.app_id, p.key_id), &[])
        .await;
    assert_eq!(
        status_of(&p.one, "/api/v2/services", Some(&p.header)).await,
        (401, "invalid_credentials".to_owned())
    );
    within_a_second(&p.two, &p.header, (401, "invalid_credentials"), changed).await;
}

#[actix_web::test]
async fn removing_a_permission_stops_it_everywhere_within_a_second() {
    let p = two_instances_with_a_cached_key().await;
    let changed = Instant::now();
    p.one
        .post_form(
            &format!("/apps/{}/keys/{}/edit", p.app_id, p.key_id),
            &[
                ("name", "First key"),
                ("active", "on"),
                ("permissions", "appointments:read"),
            ],
        )
        .await;
    assert_eq!(
        status_of(&p.one, "/api/v2/services", Some(&p.header)).await,
        (403, "insufficient_permission".to_owned())
    );
    within_a_second(&p.two, &p.header, (403, "insufficient_permission"), changed).await;
}

#[actix_web::test]
async fn inactivating_the_app_stops_its_keys_everywhere_within_a_second() {
    let p = two_instances_with_a_cached_key().await;
    let changed = Instant::now();
    p.one
        .post_form(&format!("/apps/{}/inactivate", p.app_id), &[])
        .await;
    assert_eq!(
        status_of(&p.one, "/api/v2/services", Some(&p.header)).await,
        (401, "app_inactive".to_owned())
    );
    within_a_second(&p.two, &p.header, (401, "app_inactive"), changed).await;
}

/// Asks each instance with each header once, expecting a pass, and returns
/// how many of those answers the instances read from the database.
async fn cache_misses_of(apps: [&TestApp; 2], headers: &[&str]) -> u64 {
    let before: u64 = apps.iter().map(|a| a.state.verifier.cache_stats().1).sum();
    for app in apps {
        for header in headers {
            assert_eq!(
                status_of(app, "/api/v2/services", Some(header)).await.0,
                200,
                "{header} passes"
            );
        }
    }
    let after: u64 = apps.iter().map(|a| a.state.verifier.cache_stats().1).sum();
    after - before
}

#[actix_web::test]
async fn a_change_makes_only_what_it_names_be_read_again_on_every_instance() {
    let p = two_instances_with_a_cached_key().await;
    let second = format!(
        "apikey {}",
        p.one.new_key(&p.app_id, "Second", &["services:read"]).await
    );
    let second_id = p.one.key_ids(&p.app_id).await[1].clone();
    let both = [&p.one, &p.two];
    // The other instance has read the key's creation from the feed (a read
    // that began before it would be done again).
    p.two.state.verifier.poll().await.unwrap();
    cache_misses_of(both, &[&second, &p.demo]).await;
    assert_eq!(
        cache_misses_of(both, &[&p.header, &second, &p.demo]).await,
        0,
        "every key is cached on both instances"
    );

    // One key changes: it stops on both instances; its app's other key and
    // another app's key are still answered from the cache.
    let changed = Instant::now();
    p.one
        .post_form(
            &format!("/apps/{}/keys/{second_id}/inactivate", p.app_id),
            &[],
        )
        .await;
    within_a_second(&p.two, &second, (401, "key_inactive"), changed).await;
    assert_eq!(
        status_of(&p.one, "/api/v2/services", Some(&second)).await,
        (401, "key_inactive".to_owned())
    );
    assert_eq!(
        cache_misses_of(both, &[&p.header, &p.demo]).await,
        0,
        "a change to one key leaves the others cached"
    );

    // The app changes: its keys stop everywhere, the other app's key stays cached.
    let changed = Instant::now();
    p.one
        .post_form(&format!("/apps/{}/inactivate", p.app_id), &[])
        .await;
    within_a_second(&p.two, &p.header, (401, "app_inactive"), changed).await;
    assert_eq!(
        status_of(&p.one, "/api/v2/services", Some(&p.header)).await,
        (401, "app_inactive".to_owned())
    );
    assert_eq!(
        cache_misses_of(both, &[&p.demo]).await,
        0,
        "a change to one app leaves other apps' keys cached"
    );
}

#[actix_web::test]
async fn an_instance_that_finds_a_gap_in_the_change_feed_reads_everything_again() {
    use diesel::RunQueryDsl;
    let p = two_instances_with_a_cached_key().await;
    let both = [&p.one, &p.two];
    cache_misses_of(both, &[&p.demo]).await;
    assert_eq!(cache_misses_of(both, &[&p.header, &p.demo]).await, 0);
    // Rows the instances never read are gone (as if pruned while they
    // could not reach the database), then a change to another key follows.
    p.one
        .db()
        .run(|conn| {
            diesel::sql_query("UPDATE change_head SET seq = seq + 3")
                .execute(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    let other = p.one.new_key(&p.app_id, "Other", &["services:read"]).await;
    let other = format!("apikey {other}");
    // The instance that made the change read the feed at once; the other
    // reads it at its next poll. Each drops what it cached, so every key is
    // read again, and still passes.
    p.two.state.verifier.poll().await.unwrap();
    assert_eq!(
        cache_misses_of(both, &[&p.header, &p.demo, &other]).await,
        6,
        "each instance reads each key again"
    );
    assert!(captured_logs().contains("the change feed could not be followed"));
    assert_eq!(
        cache_misses_of(both, &[&p.header, &p.demo, &other]).await,
        0
    );
}

#[actix_web::test]
async fn an_expiry_stops_a_cached_key_the_moment_it_passes() {
    use keyward::db::models::Actor;
    use keyward::domain::scopes::PermissionSet;
    use keyward::domain::{Description, Name};
    use keyward::services::keys::KeyFields;
    let p = two_instances_with_a_cached_key().await;
    let (org, app_id, digest_key) = (
        p.one.org_id().await,
        keyward::domain::AppId::from(p.app_id.as_str()),
        p.one.state.digest_key.clone(),
    );
    let expires_at = keyward::clock::now() + time::Duration::milliseconds(3000);
    let token = p
        .one
        .db()
        .run(move |conn| {
            keyward::db::write_tx(conn, |conn| {
                let fields = KeyFields {
                    name: Name::parse("Short-lived").unwrap(),
                    description: Description::default(),
                    expires_at: Some(expires_at),
                    active: true,
                    permissions: PermissionSet::from_stored("services:read"),
                    allowed_ips: Default::default(),
                    rate_limits: Default::default(),
                };
                keyward::services::keys::create(
                    conn,
                    &org,
                    &Actor::system("test"),
                    &app_id,
                    &fields,
                    None,
                    &digest_key,
                )
            })
        })
        .await
        .unwrap()
        .1;
    let header = format!("apikey {}", secrecy::ExposeSecret::expose_secret(&token));
    assert_eq!(
        status_of(&p.one, "/api/v2/services", Some(&header)).await.0,
        200
    );
    assert_eq!(
        status_of(&p.two, "/api/v2/services", Some(&header)).await.0,
        200
    );
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert_eq!(
        status_of(&p.one, "/api/v2/services", Some(&header)).await,
        (401, "key_expired".to_owned())
    );
    assert_eq!(
        status_of(&p.two, "/api/v2/services", Some(&header)).await,
        (401, "key_expired".to_owned())
    );
}

/// PostgreSQL only: with the database unreachable, an uncached key gets 503 with
/// Retry-After — never a pass, never a 401 — and quickly.
#[actix_web::test]
async fn an_unreachable_database_gives_503_never_a_pass_or_a_401() {
    if !on_postgres() {
        return;
    }
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, PgConnection};
    let app = spawn_app().await;
    let key = app.demo_key().await;
    let other = app.demo_key().await;
    assert_eq!(
        status_of(&app, "/api/v2/services", Some(&format!("apikey {key}")))
            .await
            .0,
        200
    );
    let keyward::config::DatabaseUrl::Postgres(url) = &app.data.database_url else {
        unreachable!()
    };
    let name = url.rsplit('/').next().unwrap().to_owned();
    let mut admin =
        PgConnection::establish(&std::env::var("KEYWARD_TEST_DATABASE_URL").unwrap()).unwrap();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
        ))
        .unwrap();
    let started = Instant::now();
    let response = app
        .api(
            Method::GET,
            "/api/v2/services",
            Some(&format!("apikey {other}")),
        )
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        app.api_error(response).await,
        (503, "service_unavailable".to_owned())
    );
    // Not a speed measurement: without the bound the request would hang on the pool.
    assert!(started.elapsed() < Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let cached = status_of(&app, "/api/v2/services", Some(&format!("apikey {key}"))).await;
    assert_eq!(
        cached,
        (503, "service_unavailable".to_owned()),
        "an unconfirmed cache is not trusted after a second"
    );
    // Many refusals during the outage are the database's fault, not the
    // client's: none counts towards its failures.
    for _ in 0..70 {
        let got = status_of(&app, "/api/v2/services", Some(&format!("apikey {other}"))).await;
        assert_eq!(got.0, 503);
    }
    admin
        .batch_execute(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = status_of(&app, "/api/v2/services", Some(&format!("apikey {other}"))).await;
        assert_ne!(got.0, 429, "a good key is never told to wait");
        if got.0 == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {got:?} after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn the_reverse_proxy_check_names_the_app_and_key_or_refuses_like_the_api() {
    let app = spawn_app().await;
    app.demo_key().await;
    app.signed_in_admin().await;
    let created = app
        .create_app("Proxy", "bot", &["appointments:read"], &[])
        .await;
    let header = format!("Bearer {}", created.key);
    let ok = app
        .api(Method::GET, "/api/v1/auth/check", Some(&header))
        .header("x-required-permission", "appointments:read")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.headers()["x-keyward-app-id"], created.id.as_str());
    assert_eq!(
        ok.headers()["x-keyward-key-id"],
        app.key_ids(&created.id).await[0].as_str()
    );
    assert_eq!(ok.headers()["x-keyward-permissions"], "appointments:read");
    let by_query = app
        .api(
            Method::GET,
            "/api/v1/auth/check?permission=appointments:read",
            Some(&header),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status().as_u16(), 200);
    let denied = app
        .api(Method::GET, "/api/v1/auth/check", Some(&header))
        .header("x-required-permission", "payments:read")
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.api_error(denied).await,
        (403, "insufficient_permission".to_owned())
    );
    let anonymous = app
        .api(
            Method::GET,
            "/api/v1/auth/check?permission=appointments:read",
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.api_error(anonymous).await,
        (401, "missing_credentials".to_owned())
    );
    let unnamed = app
        .api(Method::GET, "/api/v1/auth/check", Some(&header))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.api_error(unnamed).await,
        (400, "missing_permission".to_owned()),
        "fails closed"
    );
    let unknown = app
        .api(Method::GET, "/api/v1/auth/check", Some(&header))
        .header("x-required-permission", "everything:all")
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.api_error(unknown).await,
        (400, "invalid_permission".to_owned())
    );
}
