//! Webhooks: endpoints registered in Settings, events written with the change
//! that makes them, delivered signed (checked by the Standard Webhooks
//! project's own Python library) and retried, once even with two instances,
//! never to an address inside the network, and an endpoint failing for a
//! day switched off with an email to the admins.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use keyward::config::Settings;
use keyward::db::DbConn;
use keyward::db::models::Role;
use keyward::db::models::webhook::{WebhookDelivery, WebhookEndpoint};
use keyward::jobs::webhooks::{WebhookJob, run_once};
use serde_json::Value;

use crate::helpers::{TestApp, error_summary, input_value, location, spawn_app, spawn_app_with};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A receiver on loopback (`tests/webhooks/receiver.py`), which checks each
/// signature with the `standardwebhooks` package.
pub struct Receiver {
    child: Child,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Receiver {
    /// Listens on `port`, answers 500 to the first `fail_first` requests,
    /// and checks signatures with each of `secrets`.
    pub fn start(port: u16, fail_first: usize, secrets: &[&str]) -> Self {
        Self::start_with(port, fail_first, secrets, false)
    }

    /// [`start`](Self::start), answering every request with a redirect when
    /// `redirect`.
    fn start_with(port: u16, fail_first: usize, secrets: &[&str], redirect: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("requests.jsonl");
        let child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/webhooks/receiver.py"
            ))
            .arg(port.to_string())
            .arg(&file)
            .arg(fail_first.to_string())
            .args(secrets)
            .env("RECEIVER_REDIRECT", if redirect { "1" } else { "0" })
            .spawn()
            .expect("python3 with standardwebhooks (pip install standardwebhooks)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            file,
            _dir: dir,
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits until `n` requests came (at most `seconds`).
    pub async fn wait_for(&self, n: usize, seconds: u64) -> Vec<Value> {
        for _ in 0..seconds * 10 {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the receiver got {} requests, not {n}: {:?}",
            self.requests().len(),
            self.requests()
        );
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Delivers webhooks on its own, retrying a second later.
fn delivering(settings: &mut Settings) {
    settings.run_scheduler = true;
    settings.webhook_retry_schedule = vec![time::Duration::seconds(1); 4];
}

/// Registers an endpoint through the form; its id and the secret shown once.
async fn add_endpoint(app: &TestApp, url: &str, events: &[&str]) -> (String, String) {
    let mut fields = vec![
        ("url", url),
        ("description", "Operations' receiver"),
        ("active", "on"),
    ];
    fields.extend(events.iter().map(|e| ("events", *e)));
    let response = app.post_form("/settings/webhooks", &fields).await;
    assert_eq!(response.status().as_u16(), 303, "the endpoint is added");
    let page = location(&response);
    let id = page.rsplit('/').next().unwrap().to_owned();
    let html = app.get_html(&page, 200).await;
    let secret = input_value(&html, "signing-secret").expect("the secret is shown once");
    assert!(secret.starts_with("whsec_"));
    let again = app.get_html(&page, 200).await;
    assert!(
        input_value(&again, "signing-secret").is_none(),
        "and only once"
    );
    (id, secret)
}

/// The delivery job as a server runs it, with its clock in the test's hands.
fn job_of(app: &TestApp, allow_loopback: bool) -> WebhookJob {
    WebhookJob {
        db: app.state.db.clone(),
        outbound: keyward::outbound::Outbound::new(allow_loopback).unwrap(),
        sealing: app.state.sealing_key.clone(),
        mailer: Arc::clone(&app.state.mailer),
        public_url: app.state.settings.public_url.to_string(),
        worker: "test".to_owned(),
        schedule: Arc::new(app.state.settings.webhook_retry_schedule.clone()),
        metrics: None,
    }
}

async fn deliveries(app: &TestApp, endpoint: &str) -> Vec<WebhookDelivery> {
    let endpoint = keyward::domain::EndpointId::from(endpoint);
    app.db()
        .run(move |conn| {
            WebhookDelivery::recent(conn, &endpoint, 100).map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap()
}

/// The endpoint's deliveries once the newest has recorded `attempts` attempts
/// (or after five seconds, as they are then).
async fn attempts_recorded(app: &TestApp, endpoint: &str, attempts: i32) -> Vec<WebhookDelivery> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let rows = deliveries(app, endpoint).await;
        if rows.first().is_some_and(|r| r.attempts >= attempts)
            || std::time::Instant::now() > deadline
        {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn endpoint(app: &TestApp, id: &str) -> WebhookEndpoint {
    let (org, id) = (app.org_id().await, keyward::domain::EndpointId::from(id));
    app.db()
        .run(move |conn| WebhookEndpoint::find(conn, &org, &id).map_err(keyward::db::DbError::from))
        .await
        .unwrap()
        .unwrap()
}

async fn inactivate(app: &TestApp, app_id: &str, key_id: &str) -> reqwest::Response {
    app.post_form(&format!("/apps/{app_id}/keys/{key_id}/inactivate"), &[])
        .await
}

#[actix_web::test]
async fn a_key_switched_off_reaches_the_receiver_signed_and_once_though_it_fails_twice_and_two_instances_deliver()
 {
    let app = spawn_app_with(delivering).await;
    let other = app.sibling_with(delivering).await;
    app.signed_in_admin().await;
    let created = app
        .create_app("Billing Sync", "bot", &["services:read"], &[])
        .await;
    let key_id = app.key_ids(&created.id).await[0].clone();
    let port = free_port();
    let (endpoint_id, secret) = add_endpoint(
        &app,
        &format!("http://127.0.0.1:{port}/keyward"),
        &["key.inactivated", "key.deleted"],
    )
    .await;
    let receiver = Receiver::start(port, 2, &[&secret]);

    let response = inactivate(&app, &created.id, &key_id).await;
    assert_eq!(response.status().as_u16(), 303);
    let requests = receiver.wait_for(3, 20).await;
    // Time for a stray fourth attempt from either instance to show.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let requests_after = receiver.requests();
    assert_eq!(requests_after.len(), 3, "{requests_after:?}");
    let statuses: Vec<i64> = requests
        .iter()
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 204]);
    let id = requests[0]["id"].as_str().unwrap();
    assert!(id.starts_with("msg_"));
    for r in &requests {
        assert_eq!(r["id"], id, "every attempt carries the same webhook-id");
        assert_eq!(r["verified"], serde_json::json!([true]), "signature: {r}");
        assert_eq!(r["content_type"], "application/json");
        assert_eq!(r["path"], "/keyward");
    }
    let body = &requests[2]["body"];
    assert_eq!(body["type"], "key.inactivated");
    assert_eq!(body["id"], id);
    assert_eq!(body["version"], 1);
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(body["data"]["key"]["id"], key_id.as_str());
    assert_eq!(body["data"]["key"]["active"], false);
    let masked = body["data"]["key"]["masked"].as_str().unwrap();
    assert!(masked.starts_with("kw_"), "{masked}");
    assert!(
        masked.ends_with(&created.key[created.key.len() - 4..]),
        "{masked}"
    );
    assert_eq!(body["data"]["app"]["id"], created.id.as_str());
    assert_eq!(body["data"]["app"]["name"], "Billing Sync");
    assert_eq!(body["data"]["actor"]["label"], "admin@example.com");
    let text = body.to_string();
    assert!(!text.contains(&created.key), "never the key");
    assert!(!text.contains(&created.secret), "never the app secret");

    let rows = deliveries(&app, &endpoint_id).await;
    assert_eq!(rows.len(), 1, "one delivery per endpoint and event");
    assert_eq!(rows[0].status, "succeeded");
    assert_eq!(rows[0].attempts, 3);
    assert_eq!(rows[0].last_status, Some(204));
    let html = app
        .get_html(&format!("/settings/webhooks/{endpoint_id}"), 200)
        .await;
    assert!(html.contains("key.inactivated"));
    assert!(html.contains("succeeded"));
    drop(other);
}

#[actix_web::test]
async fn a_key_change_whose_audit_record_fails_sends_no_webhook() {
    let app = spawn_app_with(delivering).await;
    app.signed_in_admin().await;
    let created = app
        .create_app("Audited", "bot", &["services:read"], &[])
        .await;
    let key_id = app.key_ids(&created.id).await[0].clone();
    let port = free_port();
    let (endpoint_id, secret) = add_endpoint(
        &app,
        &format!("http://127.0.0.1:{port}/"),
        &["key.inactivated"],
    )
    .await;
    let receiver = Receiver::start(port, 0, &[&secret]);
    app.db()
        .run(|conn| {
            let sql = match conn {
                DbConn::Sqlite(_) => {
                    "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events WHEN NEW.action = 'key.inactivated' \
                     BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END;"
                }
                DbConn::Postgres(_) => {
                    "CREATE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN \
                       IF NEW.action = 'key.inactivated' THEN RAISE EXCEPTION 'audit store unavailable'; END IF; RETURN NEW; \
                     END $$ LANGUAGE plpgsql; \
                     CREATE TRIGGER audit_down BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_down();"
                }
            };
            conn.batch_execute(sql).map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    let response = inactivate(&app, &created.id, &key_id).await;
    assert_eq!(response.status().as_u16(), 500);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(receiver.requests().is_empty(), "nothing was sent");
    assert!(deliveries(&app, &endpoint_id).await.is_empty());
    let html = app.get_html(&format!("/apps/{}", created.id), 200).await;
    assert!(!html.contains("Inactive"), "the key is still active");
}

#[actix_web::test]
async fn webhook_urls_inside_the_network_are_refused_when_saved_and_when_sent() {
    let app = spawn_app_with(|s| s.webhooks_allow_loopback = false).await;
    app.signed_in_admin().await;
    for url in [
        "https://127.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://localhost/hook",
        "http://127.0.0.1:9/hook",
    ] {
        let response = app
            .post_form(
                "/settings/webhooks",
                &[("url", url), ("events", "key.created"), ("active", "on")],
            )
            .await;
        assert_eq!(response.status().as_u16(), 422, "{url}");
        let html = response.text().await.unwrap();
        let problems = error_summary(&html);
        assert_eq!(problems[0].0, "url", "{url}: {problems:?}");
        assert!(
            problems[0].1.contains("public addresses") || problems[0].1.contains("https://"),
            "{url}: {problems:?}"
        );
        assert!(html.contains(url.trim_end_matches("/hook")) || url.contains('['));
    }
    let html = app.get_html("/settings/webhooks", 200).await;
    assert!(html.contains("id=\"no-endpoints\""), "nothing was saved");

    // Endpoints whose names resolved elsewhere when saved (stored as they
    // were): at send time, the address connected to is checked again.
    let port = free_port();
    let receiver = Receiver::start(port, 0, &[]);
    let org = app.org_id().await;
    let sealing = app.state.sealing_key.clone();
    let urls = [
        format!("http://127.0.0.1:{port}/"),
        format!("https://localhost:{port}/"),
        "https://169.254.169.254/latest/meta-data".to_owned(),
        "https://[fd00:ec2::254]/".to_owned(),
    ];
    for url in urls.clone() {
        let (org, sealing) = (org.clone(), sealing.clone());
        app.db()
            .run(move |conn| {
                let id = keyward::domain::EndpointId::generate();
                let now = keyward::clock::now();
                WebhookEndpoint::insert(
                    conn,
                    &WebhookEndpoint {
                        secret_sealed: sealing.seal(
                            b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                            &WebhookEndpoint::sealing_context(&id),
                        ),
                        id,
                        organization_id: org,
                        url,
                        description: String::new(),
                        events: "key.created".to_owned(),
                        active: true,
                        previous_secret_sealed: None,
                        previous_secret_until: None,
                        failing_since: None,
                        disabled_reason: None,
                        created_at: now,
                        updated_at: now,
                    },
                )
                .map_err(keyward::db::DbError::from)
            })
            .await
            .unwrap();
    }
    app.create_app("Trigger", "bot", &["services:read"], &[])
        .await;
    let report = run_once(&job_of(&app, false), keyward::clock::now())
        .await
        .unwrap();
    assert_eq!(report.failed, 4, "{report:?}");
    assert_eq!(report.succeeded, 0);
    let org_for_list = org.clone();
    let endpoints = app
        .db()
        .run(move |conn| {
            WebhookEndpoint::list(conn, &org_for_list).map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    for e in endpoints {
        let rows = deliveries(&app, e.id.as_str()).await;
        assert_eq!(rows.len(), 1, "{}", e.url);
        let error = rows[0].last_error.clone().unwrap_or_default();
        assert!(
            error.contains("webhooks go only to public addresses"),
            "{}: {error}",
            e.url
        );
        assert_eq!(rows[0].last_status, None, "{}: never connected", e.url);
    }
    assert!(receiver.requests().is_empty(), "nothing reached loopback");
}

#[actix_web::test]
async fn an_endpoint_failing_for_a_day_is_switched_off_and_the_admins_are_emailed() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let created = app
        .create_app("Flaky Receiver", "bot", &["services:read"], &[])
        .await;
    let key_id = app.key_ids(&created.id).await[0].clone();
    // Nothing listens there: every attempt fails to connect.
    let port = free_port();
    let (endpoint_id, _) = add_endpoint(
        &app,
        &format!("http://127.0.0.1:{port}/"),
        &["key.inactivated"],
    )
    .await;
    inactivate(&app, &created.id, &key_id).await;
    let job = job_of(&app, true);
    let t0 = keyward::clock::now();
    let first = run_once(&job, t0).await.unwrap();
    assert_eq!((first.failed, first.disabled), (1, 0));
    let failing = endpoint(&app, &endpoint_id).await;
    assert!(failing.active);
    assert!(failing.failing_since.is_some());
    let rows = deliveries(&app, &endpoint_id).await;
    assert_eq!(rows[0].status, "pending", "to be tried again");
    assert!(
        rows[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("could not connect")
    );
    // Not due yet: the schedule's first delay is 5 seconds.
    assert_eq!(run_once(&job, t0).await.unwrap().failed, 0);
    let second = run_once(&job, t0 + time::Duration::seconds(6))
        .await
        .unwrap();
    assert_eq!((second.failed, second.disabled), (1, 0));
    let html = app
        .get_html(&format!("/settings/webhooks/{endpoint_id}"), 200)
        .await;
    assert!(html.contains("Failing"));

    let later = t0 + time::Duration::hours(25);
    let third = run_once(&job, later).await.unwrap();
    assert_eq!((third.failed, third.disabled), (1, 1));
    let off = endpoint(&app, &endpoint_id).await;
    assert!(!off.active);
    assert!(off.disabled_reason.as_deref().unwrap().contains("24 hours"));
    let rows = deliveries(&app, &endpoint_id).await;
    assert_eq!(rows[0].attempts, 3);
    assert_eq!(rows[0].status, "failed");
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|(action, _, _)| action == "webhook.disabled")
    );
    let outbox = app.state.settings.outbox_dir();
    let mails: Vec<(String, String, String)> = std::fs::read_dir(&outbox)
        .unwrap()
        .filter_map(|e| {
            let raw = std::fs::read(e.unwrap().path()).unwrap();
            let message = mail_parser::MessageParser::default().parse(&raw)?;
            Some((
                message.subject().unwrap_or_default().to_owned(),
                message
                    .to()
                    .and_then(|to| to.first())
                    .and_then(|a| a.address())
                    .unwrap_or_default()
                    .to_owned(),
                message.body_text(0).unwrap_or_default().into_owned(),
            ))
        })
        .filter(|(subject, _, _)| subject.contains("webhook endpoint was switched off"))
        .collect();
    assert_eq!(mails.len(), 1, "one email to the one admin: {mails:?}");
    assert_eq!(mails[0].1, "admin@example.com");
    assert!(
        mails[0].2.contains(&format!("127.0.0.1:{port}")),
        "{}",
        mails[0].2
    );
    assert!(
        mails[0]
            .2
            .contains(&format!("/settings/webhooks/{endpoint_id}"))
    );
    let html = app
        .get_html(&format!("/settings/webhooks/{endpoint_id}"), 200)
        .await;
    assert!(html.contains("Switched off by Keyward"));
    // Nothing more is tried.
    let after = run_once(&job, later + time::Duration::hours(11))
        .await
        .unwrap();
    assert_eq!(after, keyward::jobs::webhooks::RunReport::default());
}

#[actix_web::test]
async fn test_events_are_signed_with_both_secrets_during_a_roll_and_can_be_resent() {
    let app = spawn_app_with(delivering).await;
    app.signed_in_admin().await;
    let port = free_port();
    let (endpoint_id, old) = add_endpoint(
        &app,
        &format!("http://127.0.0.1:{port}/in"),
        &["app.created"],
    )
    .await;
    let roll = app
        .post_form(
            &format!("/settings/webhooks/{endpoint_id}/roll"),
            &[("grace", "24h")],
        )
        .await;
    assert_eq!(roll.status().as_u16(), 303);
    let html = app.get_html(&location(&roll), 200).await;
    let new = input_value(&html, "signing-secret").expect("the new secret, once");
    assert_ne!(new, old);
    assert!(html.contains("The previous secret also signs until"));
    let receiver = Receiver::start(
        port,
        0,
        &[&old, &new, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    );

    let sent = app
        .post_form(&format!("/settings/webhooks/{endpoint_id}/test"), &[])
        .await;
    assert_eq!(sent.status().as_u16(), 303);
    let requests = receiver.wait_for(1, 10).await;
    assert_eq!(requests[0]["body"]["type"], "webhook.test");
    assert_eq!(
        requests[0]["verified"],
        serde_json::json!([true, true, false]),
        "both secrets sign during the grace, no other does"
    );
    assert_eq!(
        requests[0]["signature"]
            .as_str()
            .unwrap()
            .split(' ')
            .count(),
        2
    );

    let rows = deliveries(&app, &endpoint_id).await;
    let resend = app
        .post_form(
            &format!(
                "/settings/webhooks/{endpoint_id}/deliveries/{}/resend",
                rows[0].id
            ),
            &[],
        )
        .await;
    assert_eq!(resend.status().as_u16(), 303);
    let requests = receiver.wait_for(2, 10).await;
    assert_eq!(requests[1]["id"], requests[0]["id"], "the same event again");
    // The attempt is recorded once the receiver's answer is read: after the
    // receiver saw the request.
    let rows = attempts_recorded(&app, &endpoint_id, 2).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attempts, 2);

    // Rolled without grace, only the newest secret signs.
    let roll = app
        .post_form(
            &format!("/settings/webhooks/{endpoint_id}/roll"),
            &[("grace", "0")],
        )
        .await;
    let html = app.get_html(&location(&roll), 200).await;
    let newest = input_value(&html, "signing-secret").unwrap();
    app.post_form(&format!("/settings/webhooks/{endpoint_id}/test"), &[])
        .await;
    let requests = receiver.wait_for(3, 10).await;
    assert_eq!(
        requests[2]["verified"],
        serde_json::json!([false, false, false]),
        "neither earlier secret signs any more"
    );
    assert_eq!(
        requests[2]["signature"]
            .as_str()
            .unwrap()
            .split(' ')
            .count(),
        1
    );
    assert!(newest.starts_with("whsec_"));
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(action, _, _)| action)
        .collect();
    for wanted in [
        "webhook.created",
        "webhook.secret_rolled",
        "webhook.test_sent",
        "webhook.resent",
    ] {
        assert!(actions.iter().any(|a| a == wanted), "{wanted}: {actions:?}");
    }
}

#[actix_web::test]
async fn keys_reaching_an_alert_threshold_or_expiring_are_announced_once() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let created = app
        .create_app("Expiring", "bot", &["services:read"], &[])
        .await;
    let key_id = app.key_ids(&created.id).await[0].clone();
    let (endpoint_id, _) = add_endpoint(
        &app,
        "http://127.0.0.1:9/",
        &["key.expiring", "key.expired"],
    )
    .await;
    let now = keyward::clock::now();
    let expires = now + time::Duration::days(3);
    let k = key_id.clone();
    app.db()
        .run(move |conn| {
            use diesel::prelude::*;
            use keyward::db::schema::api_keys;
            diesel::update(api_keys::table.filter(api_keys::id.eq(k)))
                .set(api_keys::expires_at.eq(Some(expires)))
                .execute(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    let org = app.org_id().await;
    let url = app.state.settings.public_url.to_string();
    for at in [now, now + time::Duration::hours(1)] {
        keyward::jobs::expiry_alerts::run_once(app.db(), &app.state.mailer, &org, &url, "t", at)
            .await
            .unwrap();
    }
    let rows = deliveries(&app, &endpoint_id).await;
    assert_eq!(rows.len(), 1, "the 7-day threshold, once");
    assert_eq!(rows[0].event_type, "key.expiring");
    let event_id = rows[0].event_id.clone();
    let event = app
        .db()
        .run(move |conn| {
            keyward::db::models::webhook::WebhookEvent::find(conn, &event_id)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap()
        .unwrap();
    let body: Value = serde_json::from_str(&event.payload).unwrap();
    assert_eq!(body["data"]["threshold_days"], 7);
    assert_eq!(body["data"]["key"]["id"], key_id.as_str());
    assert!(body["data"]["expires_at"].as_str().is_some());

    for at in [
        now + time::Duration::days(2) + time::Duration::hours(1),
        now + time::Duration::days(4),
        now + time::Duration::days(5),
    ] {
        keyward::jobs::expiry_alerts::run_once(app.db(), &app.state.mailer, &org, &url, "t", at)
            .await
            .unwrap();
    }
    let types: Vec<String> = deliveries(&app, &endpoint_id)
        .await
        .into_iter()
        .map(|d| d.event_type)
        .collect();
    assert_eq!(types, ["key.expired", "key.expiring", "key.expiring"]);
}

#[actix_web::test]
async fn the_endpoint_form_names_every_bad_field_and_only_full_admins_reach_it() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let response = app
        .post_form(
            "/settings/webhooks",
            &[
                ("url", "hooks.example.com"),
                ("description", &"d".repeat(1001)),
                ("events", "key.nope"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    let fields: Vec<String> = error_summary(&html).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["url", "description", "events"]);
    let response = app
        .post_form("/settings/webhooks", &[("url", "https://93.184.216.34/in")])
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    let problems = error_summary(&html);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, "events");
    // A name that does not resolve (RFC 6761 reserves .invalid) is named.
    let response = app
        .post_form(
            "/settings/webhooks",
            &[
                ("url", "https://hooks.invalid/in"),
                ("events", "key.created"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    let problems = error_summary(&html);
    assert_eq!(problems[0].0, "url");
    assert!(
        problems[0].1.contains("could not be resolved"),
        "{problems:?}"
    );
    let html = app.get_html("/settings/webhooks", 200).await;
    assert!(html.contains("id=\"no-endpoints\""));
    assert!(
        app.get_html(
            "/settings/webhooks/00000000-0000-0000-0000-000000000000",
            404
        )
        .await
        .contains("Not found")
    );

    let limited = app.sibling().await;
    limited
        .signed_in_as("limited@example.com", Role::Limited)
        .await;
    limited.get_html("/settings/webhooks", 403).await;
    let response = limited
        .post_form(
            "/settings/webhooks",
            &[("url", "http://127.0.0.1:9/"), ("events", "key.created")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 403);
}

#[actix_web::test]
async fn the_openapi_document_describes_every_webhook_event_and_its_signature_headers() {
    let app = spawn_app().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let events = doc["webhooks"].as_object().expect("a webhooks section");
    for event in keyward::domain::webhook::EventType::SUBSCRIBABLE {
        let post = &events[event.as_str()]["post"];
        let headers: Vec<&str> = post["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            headers,
            ["webhook-id", "webhook-timestamp", "webhook-signature"],
            "{}",
            event.as_str()
        );
        let body = &post["requestBody"]["content"]["application/json"]["schema"]["allOf"];
        assert_eq!(body[0]["$ref"], "#/components/schemas/WebhookEvent");
        assert_eq!(body[1]["properties"]["type"]["const"], event.as_str());
    }
    assert!(events.contains_key("webhook.test"));
    let schema = &doc["components"]["schemas"]["WebhookEvent"];
    assert_eq!(schema["properties"]["version"]["const"], 1);
    assert_eq!(
        schema["required"],
        serde_json::json!([
            "id",
            "type",
            "version",
            "timestamp",
            "organization_id",
            "data"
        ])
    );
}

#[actix_web::test]
async fn a_receiver_that_redirects_is_not_followed_and_the_attempt_fails() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let port = free_port();
    let (endpoint_id, secret) = add_endpoint(
        &app,
        &format!("http://127.0.0.1:{port}/hook"),
        &["app.created"],
    )
    .await;
    let receiver = Receiver::start_with(port, 0, &[&secret], true);
    app.create_app("Redirected", "bot", &["services:read"], &[])
        .await;
    let report = run_once(&job_of(&app, true), keyward::clock::now())
        .await
        .unwrap();
    assert_eq!(report.failed, 1, "{report:?}");
    let requests = receiver.requests();
    assert_eq!(
        requests.len(),
        1,
        "the redirect was not followed: {requests:?}"
    );
    assert_eq!(requests[0]["path"], "/hook");
    let rows = deliveries(&app, &endpoint_id).await;
    assert_eq!(rows[0].last_status, Some(307));
    assert!(
        rows[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("never follow"),
        "{:?}",
        rows[0].last_error
    );
    assert_eq!(rows[0].status, "pending", "tried again later");
}

#[actix_web::test]
async fn a_receiver_answering_without_end_is_read_only_64_kib() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Announces 64 MiB and writes until the sender hangs up.
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut socket, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request);
        let _ = socket.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 67108864\r\n\r\n");
        let chunk = [b'x'; 65536];
        let mut written = 0usize;
        while written < 64 << 20 {
            match socket.write(&chunk) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        written
    });
    let outbound = keyward::outbound::Outbound::new(true).unwrap();
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let attempt = outbound.post(&url, &[], "{}".to_owned()).await;
    assert_eq!(attempt.status, Some(200));
    assert!(attempt.succeeded(), "{attempt:?}");
    let written = tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
    assert!(
        written < 32 << 20,
        "the sender stopped reading early: {written} bytes were taken"
    );
}
