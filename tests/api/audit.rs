//! The audit trail: one record per action, filters, pages, CSV, and atomicity.

use diesel::connection::SimpleConnection;
use keyward::db::DbConn;

use crate::helpers::{TestApp, input_value, location, on_postgres, spawn_app};

#[actix_web::test]
async fn every_action_of_the_lifecycle_is_recorded_with_its_actor_and_changes() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let created = app
        .create_app(
            "Audited",
            "bot",
            &["services:read", "appointments:read"],
            &[],
        )
        .await;
    let id = &created.id;
    app.new_key(id, "Second", &["services:read"]).await;
    let key_id = app.key_ids(id).await[1].clone();
    app.post_form(
        &format!("/apps/{id}/keys/{key_id}/edit"),
        &[
            ("name", "Second renamed"),
            ("permissions", "services:read"),
            ("active", "on"),
        ],
    )
    .await;
    app.post_form(&format!("/apps/{id}/keys/{key_id}/inactivate"), &[])
        .await;
    app.post_form(&format!("/apps/{id}/keys/{key_id}/activate"), &[])
        .await;
    app.post_form(&format!("/apps/{id}/keys/{key_id}/inactivate"), &[])
        .await;
    app.post_form(&format!("/apps/{id}/keys/{key_id}/delete"), &[])
        .await;
    app.post_form(&format!("/apps/{id}/inactivate"), &[]).await;

    let actions: Vec<(String, String, Option<String>)> = app.audit_actions().await;
    let by_the_admin = [
        "admin.signed_in",
        "app.created",
        "app.changed",
        "app.secret_generated",
        "key.created",
        "app.activated",
        "key.edited",
        "key.inactivated",
        "key.activated",
        "key.deleted",
        "app.inactivated",
    ];
    for expected in by_the_admin {
        let found = actions.iter().find(|(a, _, _)| a == expected);
        let (_, actor, _) = found.unwrap_or_else(|| panic!("{expected} is recorded"));
        assert_eq!(actor, "admin@example.com", "{expected}");
    }
    // Each records where the request came from (the test's own setup does not).
    let origins: Vec<(String, Option<String>, Option<String>)> = app
        .db()
        .run(|conn| {
            use diesel::prelude::*;
            use keyward::db::schema::audit_events::dsl::*;
            audit_events
                .select((action, ip, user_agent))
                .load(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    let checked: Vec<_> = origins
        .iter()
        .filter(|(a, _, _)| by_the_admin.contains(&a.as_str()))
        .collect();
    assert!(checked.len() >= by_the_admin.len());
    for (action, ip, agent) in checked {
        assert_eq!(ip.as_deref(), Some("127.0.0.1"), "{action}");
        assert_eq!(
            agent.as_deref(),
            Some(crate::helpers::USER_AGENT),
            "{action}"
        );
    }

    let page = app.get_html("/audit", 200).await;
    assert!(
        page.contains("Key deleted")
            && page.contains("Secret generated")
            && page.contains("App created")
    );
    assert!(
        page.contains("name: Second → Second renamed"),
        "what changed"
    );
    assert!(page.contains("127.0.0.1"), "the IP address");
    assert!(
        !page.contains(&created.secret) && !page.contains(&created.key),
        "never a secret"
    );
}

#[actix_web::test]
async fn the_audit_page_filters_by_actor_action_app_and_date() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let one = app
        .create_app("First App", "bot", &["services:read"], &[])
        .await;
    let two = app
        .create_app("Second App", "bot", &["services:read"], &[])
        .await;

    let by_action = app.get_html("/audit?action=key.created", 200).await;
    assert!(by_action.contains("First key (kw_") && !by_action.contains("<td>Signed in</td>"));
    let by_app = app.get_html(&format!("/audit?app={}", two.id), 200).await;
    let target = |name: &str| format!("<td data-label=\"Target\">{name}");
    assert!(by_app.contains(&target("Second App")) && !by_app.contains(&target("First App")));
    let by_actor = app.get_html("/audit?actor=someone@example.com", 200).await;
    assert!(by_actor.contains("No record matches these filters"));
    let by_actor = app.get_html("/audit?actor=ADMIN@example.com", 200).await;
    assert!(by_actor.contains("First App"));
    let today = keyward::clock::fmt::iso(keyward::clock::now())[..10].to_owned();
    let dated = app
        .get_html(&format!("/audit?from={today}&to={today}"), 200)
        .await;
    assert!(dated.contains("First App"));
    let old = app
        .get_html("/audit?from=2000-01-01&to=2000-01-31", 200)
        .await;
    assert!(old.contains("No record matches"));
    let bad = app.get_html("/audit?from=yesterday", 200).await;
    assert!(bad.contains("Enter a date like"));

    // An app is picked by its name, in any case, from the organization's
    // apps (offered as suggestions); a record's link by id shows the name.
    let page = app.get_html("/audit", 200).await;
    assert!(page.contains(r#"<datalist id="app-names"><option value="First App"></option><option value="Second App"></option></datalist>"#));
    let by_name = app.get_html("/audit?app=second%20app", 200).await;
    assert!(by_name.contains(&target("Second App")) && !by_name.contains(&target("First App")));
    assert_eq!(
        crate::helpers::input_value(&by_name, "app").unwrap(),
        "Second App"
    );
    assert_eq!(
        crate::helpers::input_value(&by_app, "app").unwrap(),
        "Second App"
    );
    let unknown = app.get_html("/audit?app=Third%20App", 200).await;
    assert!(unknown.contains("No application is named “Third App”"));
    assert!(unknown.contains("No record matches these filters"));
    assert_eq!(crate::helpers::error_summary(&unknown)[0].0, "app");
    let _ = one;

    // An actor by the start of their email, in any case; a middle part
    // matches nothing.
    assert!(
        app.get_html("/audit?actor=Adm", 200)
            .await
            .contains("First App")
    );
    assert!(
        app.get_html("/audit?actor=dmin", 200)
            .await
            .contains("No record matches")
    );
    assert!(
        app.get_html("/audit?actor=%25", 200)
            .await
            .contains("No record matches"),
        "a % is a character, not a wildcard"
    );

    // Routine sign-ins are hidden until asked for, by the box or the action.
    let signed_in = "<td data-label=\"Action\">Signed in</td>";
    assert!(!app.get_html("/audit", 200).await.contains(signed_in));
    assert!(
        app.get_html("/audit?routine=on", 200)
            .await
            .contains(signed_in)
    );
    assert!(
        app.get_html("/audit?action=admin.signed_in", 200)
            .await
            .contains(signed_in)
    );
    // A refused sign-in is not routine.
    app.sign_in("admin@example.com", "not the password at all")
        .await;
    app.sign_in("admin@example.com", crate::helpers::PASSWORD)
        .await;
    assert!(app.get_html("/audit", 200).await.contains("Sign-in failed"));
}

#[actix_web::test]
async fn the_audit_trail_pages_by_keyset_without_gaps_or_repeats() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let created = app.create_app("Busy", "bot", &["services:read"], &[]).await;
    let key_id = app.key_ids(&created.id).await[0].clone();
    for _ in 0..30 {
        app.post_form(
            &format!("/apps/{}/keys/{key_id}/inactivate", created.id),
            &[],
        )
        .await;
        app.post_form(&format!("/apps/{}/keys/{key_id}/activate", created.id), &[])
            .await;
    }
    let total = app.audit_actions().await.len();
    assert!(total > 60);
    let mut seen = 0;
    // Every record, the routine sign-ins too.
    let mut path = "/audit?routine=on".to_owned();
    let mut pages = 0;
    loop {
        let html = app.get_html(&path, 200).await;
        seen += html.matches("<time datetime=").count();
        pages += 1;
        match crate::helpers::older_link(&html) {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(seen, total, "every record exactly once");
    assert_eq!(pages, total.div_ceil(50));
}

#[actix_web::test]
async fn the_csv_export_holds_the_filtered_view_and_opens_in_a_spreadsheet() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let created = app
        .create_app("=cmd|' /C calc'!A0", "bot", &["services:read"], &[])
        .await;
    let response = app.get("/audit.csv?action=app.created").await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment; filename=\"keyward-audit-")
    );
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "a UTF-8 BOM");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(reader.headers().unwrap().iter().next(), Some("time_utc"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "only the filtered action");
    assert_eq!(&rows[0][1], "admin@example.com");
    assert_eq!(&rows[0][2], "app.created");
    assert_eq!(&rows[0][4], "'=cmd|' /C calc'!A0", "a formula is defused");
    assert_eq!(&rows[0][6], created.id.as_str());
    assert!(!text.contains(&created.secret) && !text.contains(&created.key));
}

#[actix_web::test]
async fn the_export_streams_every_matching_record() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let created = app.create_app("Many", "bot", &["services:read"], &[]).await;
    let key_id = app.key_ids(&created.id).await[0].clone();
    let org = app.org_id().await;
    let app_id = created.id.clone();
    app.db()
        .run(move |conn| {
            use keyward::db::models::{Action, Actor, AuditEvent, NewAuditEvent, Target};
            keyward::db::write_tx(conn, |conn| {
                for i in 0..2500 {
                    AuditEvent::record(
                        conn,
                        NewAuditEvent {
                            organization_id: &org,
                            actor: &Actor::system("bulk"),
                            action: Action::KeyEdited,
                            target: Target {
                                app_id: Some(app_id.as_str().into()),
                                ..Target::new("key", key_id.clone(), format!("k{i}"))
                            },
                            changes: serde_json::json!({}),
                        },
                        keyward::clock::now(),
                    )?;
                }
                Ok::<_, diesel::result::Error>(())
            })
            .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    let text = app.get("/audit.csv?actor=bulk").await.text().await.unwrap();
    assert_eq!(text.lines().count(), 2501, "the header and every record");
}

async fn fail_audit_inserts(app: &TestApp) {
    app.db()
        .run(|conn| {
            let sql = match conn {
                DbConn::Sqlite(_) => {
                    "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events WHEN NEW.action = 'key.created' \
                     BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END;"
                }
                DbConn::Postgres(_) => {
                    "CREATE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN \
                       IF NEW.action = 'key.created' THEN RAISE EXCEPTION 'audit store unavailable'; END IF; RETURN NEW; \
                     END $$ LANGUAGE plpgsql; \
                     CREATE TRIGGER audit_down BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_down();"
                }
            };
            conn.batch_execute(sql).map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
}

#[actix_web::test]
async fn when_the_audit_record_cannot_be_written_the_key_is_not_created_and_not_shown() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let created = app
        .create_app("Atomic", "bot", &["services:read"], &[])
        .await;
    fail_audit_inserts(&app).await;
    let response = app
        .post_new_key(&created.id, "Doomed", &["services:read"], "")
        .await;
    assert_eq!(response.status().as_u16(), 500);
    let html = response.text().await.unwrap();
    assert!(
        input_value(&html, "new-api-key").is_none(),
        "no key is shown"
    );
    assert!(!html.contains("kw_"));
    assert_eq!(
        app.key_ids(&created.id).await.len(),
        1,
        "only the wizard's key"
    );
    let _ = (location, on_postgres);
}

#[actix_web::test]
async fn a_limited_admin_sees_no_record_of_the_api_keys_section() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let created = app
        .create_app("Hidden Integration", "bot", &["services:read"], &[])
        .await;
    let masked = &created.key[..15];
    app.post_form(
        "/settings/organization",
        &[("name", "Salon Rive"), ("time_zone", "UTC")],
    )
    .await;
    // A limited admin, in a client of its own.
    let limited = app.sibling().await;
    limited
        .signed_in_as("lim@example.com", keyward::db::models::Role::Limited)
        .await;
    let page = limited.get_html("/audit?routine=on", 200).await;
    let csv = limited
        .get("/audit.csv?routine=on")
        .await
        .text()
        .await
        .unwrap();
    for what in [&page, &csv] {
        assert!(!what.contains("Hidden Integration"), "no app names");
        assert!(!what.contains(masked), "no masked keys");
        assert!(!what.contains("app.created") && !what.contains("key.created"));
    }
    let sign_ins: Vec<&str> = csv
        .lines()
        .filter(|l| l.contains("admin.signed_in"))
        .collect();
    assert_eq!(sign_ins.len(), 1, "only its own sign-in: {sign_ins:?}");
    assert!(sign_ins[0].contains("lim@example.com"));
    assert!(
        page.contains("Salon Rive"),
        "organization-level records stay"
    );
    assert!(
        page.contains("lim@example.com"),
        "the admin's own records stay"
    );
    assert!(
        !page.contains("Key created"),
        "the filter offers no key actions"
    );
    assert!(!page.contains(r#"name="app""#), "nor an app filter");
    // Asking for them does not help.
    let asked = limited
        .get_html(
            &format!("/audit?action=key.created&app={}", created.id),
            200,
        )
        .await;
    assert!(!asked.contains("Hidden Integration"));
    // A full-access admin still sees everything.
    assert!(
        app.get_html("/audit", 200)
            .await
            .contains("Hidden Integration")
    );
}
