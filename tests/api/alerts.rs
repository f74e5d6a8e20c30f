//! The Expiry of API keys alert, against a real SMTP server: who gets what, once.

use std::time::Duration as StdDuration;

use keyward::clock::Timestamp;
use keyward::db::models::Actor;
use keyward::domain::scopes::PermissionSet;
use keyward::domain::{Description, Name};
use keyward::jobs::expiry_alerts::{RunReport, run_once};
use keyward::services::keys::KeyFields;
use time::Duration;

use crate::helpers::{TestApp, error_summary, location, spawn_app_with};
use crate::smtp::{Behaviour, SmtpServer};

async fn app_with_mail(smtp: &SmtpServer) -> TestApp {
    let url = smtp.url();
    spawn_app_with(move |s| s.smtp_url = Some(secrecy::SecretString::from(url))).await
}

/// Adds staff through the Staff page and returns their emails.
async fn add_staff(app: &TestApp, people: &[(&str, &str)]) {
    for (name, email) in people {
        let response = app
            .post_form("/staff", &[("name", name), ("email", email)])
            .await;
        assert_eq!(location(&response), "/staff", "{name} added");
    }
}

async fn staff_id(app: &TestApp, email: &str) -> String {
    let (org, email) = (app.org_id().await, email.to_owned());
    app.db()
        .run(move |conn| {
            keyward::db::models::platform::Employee::list_all(conn, &org)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.email == email)
        .unwrap()
        .id
        .to_string()
}

/// Switches the alert on at `thresholds` for `recipients`, through Settings.
async fn alerts_on(app: &TestApp, thresholds: &str, recipients: &[&str]) {
    let mut fields = vec![
        ("alerts_enabled", "on".to_owned()),
        ("thresholds", thresholds.to_owned()),
    ];
    for email in recipients {
        fields.push(("recipients", staff_id(app, email).await));
    }
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let response = app.post_form("/settings/alerts", &fields).await;
    assert_eq!(location(&response), "/settings", "alert settings saved");
}

/// A key of `app_id` expiring at `expires_at`; returns its id.
async fn key_expiring(app: &TestApp, app_id: &str, name: &str, expires_at: Timestamp) -> String {
    let (org, app_id, digest_key, name) = (
        app.org_id().await,
        keyward::domain::AppId::from(app_id),
        app.state.digest_key.clone(),
        name.to_owned(),
    );
    app.db()
        .run(move |conn| {
            keyward::db::write_tx(conn, |conn| {
                let fields = KeyFields {
                    name: Name::parse(&name).unwrap(),
                    description: Description::parse(&format!("Used by the {name} service"))
                        .unwrap(),
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
        .0
        .id
        .to_string()
}

async fn run(app: &TestApp, now: Timestamp) -> RunReport {
    let url = app.state.settings.public_url.to_string();
    run_once(
        app.db(),
        &app.state.mailer,
        &app.org_id().await,
        &url,
        &app.state.instance_id,
        now,
    )
    .await
    .unwrap()
}

async fn ready(smtp: &SmtpServer) -> (TestApp, String) {
    let app = app_with_mail(smtp).await;
    app.signed_in_admin().await;
    let created = app
        .create_app("Webstore", "external_webstore", &["services:read"], &[])
        .await;
    add_staff(
        &app,
        &[
            ("Ana Silva", "ana@salon.example"),
            ("Ben Okafor", "ben@salon.example"),
        ],
    )
    .await;
    (app, created.id)
}

#[actix_web::test]
async fn each_recipient_gets_one_email_with_the_key_and_a_link_and_later_runs_send_none() {
    let smtp = SmtpServer::start();
    let (app, app_id) = ready(&smtp).await;
    let admin_email = "admin@example.com";
    alerts_on(&app, "7", &["ana@salon.example", "ben@salon.example"]).await;
    let now = keyward::clock::now();
    let key_id = key_expiring(&app, &app_id, "Checkout", now + Duration::days(6)).await;

    let report = run(&app, now).await;
    assert_eq!((report.queued, report.sent, report.failed), (2, 2, 0));
    let mails = smtp.messages();
    assert_eq!(mails.len(), 2);
    let mut to: Vec<String> = mails.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, vec!["ana@salon.example", "ben@salon.example"]);
    let link = app.url(&format!("/apps/{app_id}#key-{key_id}"));
    for m in &mails {
        assert_eq!(
            m.subject,
            "API key “Checkout” of Webstore expires in 6 days"
        );
        for part in [&m.text, &m.html] {
            assert!(
                part.contains("Webstore") && part.contains("Checkout"),
                "{part}"
            );
            assert!(part.contains("kw_") && part.contains('…'), "the masked key");
            assert!(part.contains(&link), "the link to the key");
            assert!(
                part.contains("(UTC)"),
                "the expiry in the organization's time zone"
            );
            // What the key is for, whose app it is, and whom to tell: Ana and
            // Ben have no console account.
            assert!(part.contains("Used by the Checkout service"), "{part}");
            assert!(part.contains("https://example.com/"), "the app's URI");
            assert!(part.contains("forward this email to an admin"), "{part}");
            assert!(part.contains(admin_email), "the admin to contact");
        }
        assert!(m.html.contains("Open the key in Keyward</a>"));
        assert!(m.message_id.starts_with("alert-"));
    }
    for later in [now + Duration::minutes(10), now + Duration::days(1)] {
        assert_eq!(run(&app, later).await, RunReport::default());
    }
    assert_eq!(smtp.messages().len(), 2, "none sent twice");
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(page.contains("7-day alert sent to ana@salon.example"));
}

#[actix_web::test]
async fn each_threshold_and_the_expiry_give_one_email_in_the_organization_s_time_zone() {
    let smtp = SmtpServer::start();
    let (app, app_id) = ready(&smtp).await;
    app.post_form(
        "/settings/organization",
        &[("name", "Salon"), ("time_zone", "Europe/Paris")],
    )
    .await;
    alerts_on(&app, "30, 7, 1", &["ana@salon.example"]).await;
    let start = keyward::clock::now();
    let expires = start + Duration::days(20);
    key_expiring(&app, &app_id, "Nightly", expires).await;

    let at = |days_before: i64| expires - Duration::days(days_before);
    assert_eq!(run(&app, start).await.sent, 1, "30 days");
    assert_eq!(run(&app, start + Duration::days(5)).await.sent, 0);
    assert_eq!(run(&app, at(6)).await.sent, 1, "7 days");
    assert_eq!(
        run(&app, expires - Duration::hours(12)).await.sent,
        1,
        "1 day"
    );
    assert_eq!(
        run(&app, expires + Duration::hours(1)).await.sent,
        1,
        "expired"
    );
    assert_eq!(run(&app, expires + Duration::days(2)).await.sent, 0);
    let subjects: Vec<String> = smtp.messages().into_iter().map(|m| m.subject).collect();
    assert_eq!(
        subjects,
        vec![
            "API key “Nightly” of Webstore expires in 20 days",
            "API key “Nightly” of Webstore expires in 6 days",
            "API key “Nightly” of Webstore expires tomorrow",
            "API key “Nightly” of Webstore has expired",
        ]
    );
    assert!(smtp.messages()[0].text.contains("(Europe/Paris)"));
}

#[actix_web::test]
async fn inactive_keys_and_keys_of_inactive_apps_get_no_alert() {
    let smtp = SmtpServer::start();
    let (app, app_id) = ready(&smtp).await;
    alerts_on(&app, "7", &["ana@salon.example"]).await;
    let now = keyward::clock::now();
    let key_id = key_expiring(&app, &app_id, "Off", now + Duration::days(3)).await;
    app.post_form(&format!("/apps/{app_id}/keys/{key_id}/inactivate"), &[])
        .await;
    let other = app
        .create_app("Closed", "bot", &["services:read"], &[])
        .await;
    key_expiring(&app, &other.id, "Of a closed app", now + Duration::days(3)).await;
    app.post_form(&format!("/apps/{}/inactivate", other.id), &[])
        .await;
    assert_eq!(run(&app, now).await, RunReport::default());
    assert!(smtp.messages().is_empty());
}

#[actix_web::test]
async fn changing_the_expiry_re_arms_the_alert() {
    let smtp = SmtpServer::start();
    let (app, app_id) = ready(&smtp).await;
    alerts_on(&app, "7", &["ana@salon.example"]).await;
    let now = keyward::clock::now();
    let key_id = key_expiring(&app, &app_id, "Renewed", now + Duration::days(5)).await;
    assert_eq!(run(&app, now).await.sent, 1);
    // Extended by a month, then due again a month later.
    let extended = keyward::clock::fmt::iso(now + Duration::days(35))[..16].to_owned();
    let response = app
        .post_form(
            &format!("/apps/{app_id}/keys/{key_id}/edit"),
            &[
                ("name", "Renewed"),
                ("expires_at", &extended),
                ("active", "on"),
                ("permissions", "services:read"),
            ],
        )
        .await;
    assert_eq!(location(&response), format!("/apps/{app_id}"));
    assert_eq!(
        run(&app, now + Duration::days(1)).await.sent,
        0,
        "not due yet"
    );
    assert_eq!(
        run(&app, now + Duration::days(29)).await.sent,
        1,
        "due again for the new expiry"
    );
    assert_eq!(smtp.messages().len(), 2);
}

#[actix_web::test]
async fn with_the_mail_server_down_the_alert_waits_shows_as_pending_and_arrives_once() {
    let mut smtp = SmtpServer::start();
    let (app, app_id) = ready(&smtp).await;
    alerts_on(&app, "7", &["ana@salon.example"]).await;
    let now = keyward::clock::now();
    key_expiring(&app, &app_id, "Patient", now + Duration::days(4)).await;

    smtp.stop();
    let report = run(&app, now).await;
    assert_eq!((report.queued, report.sent, report.failed), (1, 0, 1));
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(
        page.contains("7-day alert to ana@salon.example pending"),
        "the console shows it pending"
    );
    assert!(page.contains("alert-error"), "with its error");
    assert_eq!(
        run(&app, now + Duration::seconds(20)).await,
        RunReport::default(),
        "waits for its retry time"
    );

    smtp.resume();
    let report = run(&app, now + Duration::minutes(2)).await;
    assert_eq!((report.sent, report.failed), (1, 0));
    assert_eq!(
        run(&app, now + Duration::minutes(30)).await,
        RunReport::default()
    );
    assert_eq!(smtp.messages().len(), 1, "exactly once");
    assert!(
        app.get_html(&format!("/apps/{app_id}"), 200)
            .await
            .contains("7-day alert sent to ana@salon.example")
    );
}

#[actix_web::test]
async fn two_instances_running_at_the_same_moment_send_each_alert_once() {
    let smtp = SmtpServer::start();
    let (one, app_id) = ready(&smtp).await;
    add_staff(&one, &[("Chloé Martin", "chloe@salon.example")]).await;
    alerts_on(
        &one,
        "7",
        &[
            "ana@salon.example",
            "ben@salon.example",
            "chloe@salon.example",
        ],
    )
    .await;
    let two = one.sibling().await;
    let now = keyward::clock::now();
    for i in 0..8 {
        key_expiring(
            &one,
            &app_id,
            &format!("Key {i}"),
            now + Duration::days(2) + Duration::minutes(i),
        )
        .await;
    }
    let (a, b) = tokio::join!(run(&one, now), run(&two, now));
    assert_eq!(
        a.queued + b.queued,
        24,
        "each row planned once: {a:?} {b:?}"
    );
    assert_eq!(a.sent + b.sent, 24);
    let mails = smtp.messages();
    assert_eq!(mails.len(), 24);
    let mut ids: Vec<&str> = mails.iter().map(|m| m.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 24, "no alert twice");
}

#[actix_web::test]
async fn an_alert_left_claimed_by_a_crashed_run_is_resent_with_the_same_message_id() {
    use diesel::prelude::*;
    use keyward::db::schema::key_alerts;
    let smtp = SmtpServer::start();
    let (app, app_id) = ready(&smtp).await;
    alerts_on(&app, "7", &["ana@salon.example"]).await;
    let now = keyward::clock::now();
    key_expiring(&app, &app_id, "Crash", now + Duration::days(2)).await;
    assert_eq!(run(&app, now).await.sent, 1);
    // As if a run had claimed it again and died before marking it sent.
    let id: String = app
        .db()
        .run(move |conn| {
            let id: String = key_alerts::table.select(key_alerts::id).first(conn)?;
            diesel::update(key_alerts::table.find(&id))
                .set((
                    key_alerts::status.eq("sending"),
                    key_alerts::claimed_until.eq(Some(now + Duration::minutes(5))),
                ))
                .execute(conn)?;
            Ok::<_, keyward::db::DbError>(id)
        })
        .await
        .unwrap();
    assert_eq!(
        run(&app, now + Duration::minutes(1)).await.sent,
        0,
        "not while the lease holds"
    );
    assert_eq!(
        run(&app, now + Duration::minutes(6)).await.sent,
        1,
        "after the lease"
    );
    let mails = smtp.messages();
    assert_eq!(mails.len(), 2);
    assert_eq!(
        mails[0].message_id, mails[1].message_id,
        "a repeat a mail system can recognise"
    );
    assert_eq!(mails[1].message_id, format!("alert-{id}@127.0.0.1"));
}

#[actix_web::test]
async fn without_a_mail_server_the_email_lands_in_the_outbox() {
    let app = crate::helpers::spawn_app().await;
    app.signed_in_admin().await;
    let created = app
        .create_app("Outboxed", "bot", &["services:read"], &[])
        .await;
    add_staff(&app, &[("Ana Silva", "ana@salon.example")]).await;
    alerts_on(&app, "7", &["ana@salon.example"]).await;
    let now = keyward::clock::now();
    key_expiring(&app, &created.id, "Local", now + Duration::days(1)).await;
    assert_eq!(run(&app, now).await.sent, 1);
    let outbox = app.state.settings.outbox_dir();
    let files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].extension().is_some_and(|e| e == "eml"));
    let mail = crate::smtp::parse(&std::fs::read(&files[0]).unwrap());
    assert_eq!(mail.to, vec!["ana@salon.example"]);
    assert!(mail.subject.contains("“Local” of Outboxed"));
    assert!(
        app.get_html("/settings", 200)
            .await
            .contains("outbox folder")
    );
}

#[actix_web::test]
async fn the_test_email_reaches_the_admin_and_a_failure_is_reported() {
    let mut smtp = SmtpServer::start();
    let app = app_with_mail(&smtp).await;
    app.signed_in_admin().await;
    let response = app.post_form("/settings/test-email", &[]).await;
    assert_eq!(location(&response), "/settings");
    assert!(
        app.get_html("/settings", 200)
            .await
            .contains("A test email was sent to admin@example.com")
    );
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["admin@example.com"]);
    assert_eq!(mails[0].subject, "Keyward test email");
    smtp.stop();
    app.post_form("/settings/test-email", &[]).await;
    assert!(
        app.get_html("/settings", 200)
            .await
            .contains("The test email could not be sent")
    );
    tokio::time::sleep(StdDuration::from_millis(10)).await;
}

#[actix_web::test]
async fn alert_settings_are_checked_and_audited() {
    let smtp = SmtpServer::start();
    let (app, _) = ready(&smtp).await;
    let response = app
        .post_form(
            "/settings/alerts",
            &[("alerts_enabled", "on"), ("thresholds", "7, soon")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let page = response.text().await.unwrap();
    assert!(page.contains("Enter whole numbers of days"));
    let summary = error_summary(&page);
    assert_eq!(summary.len(), 1, "{summary:?}");
    assert_eq!(summary[0].0, "thresholds");
    assert!(summary[0].1.contains("Enter whole numbers of days"));
    assert!(
        page.contains(r#"value="7, soon""#),
        "what was typed is kept"
    );
    let response = app
        .post_form(
            "/settings/organization",
            &[("name", "Salon"), ("time_zone", "Mars/Olympus")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let page = response.text().await.unwrap();
    assert!(
        page.contains(r#"value="Mars/Olympus""#),
        "what was typed is kept"
    );
    let response = app
        .post_form(
            "/settings/alerts",
            &[("alerts_enabled", "on"), ("thresholds", "7")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Choose at least one recipient")
    );
    alerts_on(&app, "30,7", &["ben@salon.example"]).await;
    let settings = app.get_html("/settings", 200).await;
    assert!(settings.contains(r#"value="30, 7""#));
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|(a, _, _)| a == "organization.alerts_changed")
    );
}

#[actix_web::test]
async fn a_stalled_mail_server_costs_a_send_its_timeout_not_minutes() {
    let smtp = SmtpServer::start_with(Behaviour::Stall);
    let url = smtp.url();
    let app = spawn_app_with(move |s| {
        s.smtp_url = Some(secrecy::SecretString::from(url));
        s.smtp_timeout = std::time::Duration::from_secs(2);
    })
    .await;
    app.signed_in_admin().await;
    let created = app
        .create_app("Webstore", "external_webstore", &["services:read"], &[])
        .await;
    add_staff(&app, &[("Ana Silva", "ana@salon.example")]).await;
    alerts_on(&app, "7", &["ana@salon.example"]).await;
    let now = keyward::clock::now();
    key_expiring(&app, &created.id, "Patient", now + Duration::days(4)).await;
    let started = std::time::Instant::now();
    let report = run(&app, now).await;
    // Not a speed measurement: without the bound the send waited for the
    // server forever (two minutes per command in practice).
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!((report.sent, report.failed), (0, 1));
    let page = app.get_html(&format!("/apps/{}", created.id), 200).await;
    assert!(page.contains("pending") && page.contains("no answer within 2 s"));
}

#[actix_web::test]
async fn a_mail_server_that_refuses_for_good_is_not_retried_and_the_refusal_is_shown() {
    let smtp = SmtpServer::start_with(Behaviour::Refuse);
    let (app, app_id) = ready(&smtp).await;
    alerts_on(&app, "7", &["ana@salon.example"]).await;
    let now = keyward::clock::now();
    key_expiring(&app, &app_id, "Refused", now + Duration::days(4)).await;
    let report = run(&app, now).await;
    assert_eq!((report.sent, report.failed), (0, 1));
    // Later runs leave it alone.
    for minutes in [2, 30, 600] {
        assert_eq!(
            run(&app, now + Duration::minutes(minutes)).await,
            RunReport::default(),
            "not retried after {minutes} minutes"
        );
    }
    let page = app.get_html(&format!("/apps/{app_id}"), 200).await;
    assert!(page.contains("refused by the mail server, not retried"));
    assert!(page.contains("550"));
    let refusals = app.audit_changes("alert.failed").await;
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0]["recipient"], "ana@salon.example");
}

#[actix_web::test]
async fn a_run_never_sends_a_row_whose_claim_it_lost() {
    use keyward::db::models::alert;
    let mut smtp = SmtpServer::start();
    let (app, app_id) = ready(&smtp).await;
    alerts_on(&app, "7", &["ana@salon.example"]).await;
    let now = keyward::clock::now();
    key_expiring(&app, &app_id, "Contended", now + Duration::days(4)).await;
    // Planned while the mail server is down: the alert waits, pending.
    smtp.stop();
    assert_eq!(run(&app, now).await.queued, 1);
    smtp.resume();
    let row_id = app
        .db()
        .run(|conn| {
            use diesel::prelude::*;
            keyward::db::schema::key_alerts::table
                .select(keyward::db::schema::key_alerts::id)
                .first::<String>(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    // Run A claims it at minute 2 and then stalls past its five-minute lease.
    let (a, at) = (row_id.clone(), now + Duration::minutes(2));
    let claimed = app
        .db()
        .run(move |conn| {
            alert::claim(conn, &a, "run-a", at, at + Duration::minutes(5))
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    assert!(claimed);
    // Run B, at minute 8, finds the lease over, takes the row and sends it.
    let report = run(&app, now + Duration::minutes(8)).await;
    assert_eq!(report.sent, 1);
    // Run A wakes up: it no longer holds the claim, so it must not send.
    let (a, late) = (row_id.clone(), now + Duration::minutes(8));
    let still_held = app
        .db()
        .run(move |conn| {
            alert::renew_claim(conn, &a, "run-a", late, late + Duration::minutes(5))
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    assert!(!still_held, "a lost claim cannot be renewed");
    assert_eq!(smtp.messages().len(), 1, "sent once");
}

#[actix_web::test]
async fn a_rolled_key_is_alerted_as_expiring_at_its_grace_end() {
    let smtp = SmtpServer::start();
    let (app, app_id) = ready(&smtp).await;
    alerts_on(&app, "1", &["ana@salon.example"]).await;
    let now = keyward::clock::now();
    let key_id = key_expiring(&app, &app_id, "Checkout", now + Duration::days(90)).await;
    assert_eq!(
        run(&app, now).await,
        RunReport::default(),
        "90 days away: no alert"
    );

    let response = app
        .post_form(
            &format!("/apps/{app_id}/keys/{key_id}/roll"),
            &[("grace", "24")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303, "rolled");
    let report = run(&app, keyward::clock::now()).await;
    assert_eq!((report.queued, report.sent), (1, 1));
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].subject,
        "API key “Checkout” of Webstore expires tomorrow"
    );
}
