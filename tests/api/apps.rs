//! Apps after the wizard: edits, narrowing scopes, activation, deletion, access.

use keyward::db::models::{ApiKey, App, Role};

use crate::helpers::{TestApp, location, spawn_app};

async fn stored_app(app: &TestApp, id: &str) -> App {
    let (org, id) = (app.org_id().await, keyward::domain::AppId::from(id));
    app.db()
        .run(move |conn| App::find(conn, &org, &id).map_err(keyward::db::DbError::from))
        .await
        .unwrap()
        .unwrap()
}

async fn keys_of(app: &TestApp, id: &str) -> Vec<ApiKey> {
    let id = keyward::domain::AppId::from(id);
    app.db()
        .run(move |conn| ApiKey::list_for_app(conn, &id).map_err(keyward::db::DbError::from))
        .await
        .unwrap()
}

#[actix_web::test]
async fn editing_an_app_changes_its_details_and_narrowing_scopes_narrows_its_keys() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let created = app
        .create_app(
            "Kiosk",
            "client_app",
            &["services:read", "appointments:read", "appointments:create"],
            &["guests:read"],
        )
        .await;
    app.new_key(&created.id, "Narrow", &["appointments:create"])
        .await;

    let edit = app
        .get_html(&format!("/apps/{}/edit", created.id), 200)
        .await;
    assert!(
        edit.contains(r#"value="Kiosk""#)
            && edit.contains(
                r#"id="apikey-services-read" name="apikey" value="services:read" checked"#
            )
    );
    let response = app
        .post_form(
            &format!("/apps/{}/edit", created.id),
            &[
                ("name", "Kiosk 2"),
                ("uri", "https://kiosk.example.com"),
                ("login_user_type", "employee"),
                ("source_app", "bot"),
                ("apikey", "services:read"),
                ("apikey", "appointments:read"),
                ("jwt", "guests:read"),
                ("op", "save"),
            ],
        )
        .await;
    assert_eq!(location(&response), format!("/apps/{}", created.id));
    let stored = stored_app(&app, &created.id).await;
    assert_eq!(stored.name, "Kiosk 2");
    assert_eq!(stored.source_app, "bot");
    assert_eq!(stored.apikey_scopes, "appointments:read services:read");
    let keys = keys_of(&app, &created.id).await;
    assert_eq!(
        keys[0].permissions, "appointments:read services:read",
        "the first key lost appointments:create"
    );
    assert_eq!(
        keys[1].permissions, "",
        "the narrow key lost its only permission"
    );
    let page = app.get_html(&format!("/apps/{}", created.id), 200).await;
    assert!(page.contains("Bot booking"));
    let actions: Vec<(String, String, Option<String>)> = app.audit_actions().await;
    assert!(
        actions
            .iter()
            .any(|(a, _, t)| a == "app.changed" && t.as_deref() == Some("Kiosk 2"))
    );
    assert_eq!(
        actions.iter().filter(|(a, _, _)| a == "key.edited").count(),
        2
    );
}

#[actix_web::test]
async fn edit_errors_keep_the_form() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let one = app.create_app("One", "bot", &["services:read"], &[]).await;
    app.create_app("Two", "bot", &["services:read"], &[]).await;
    let response = app
        .post_form(
            &format!("/apps/{}/edit", one.id),
            &[
                ("name", "TWO"),
                ("uri", "https://x.example.com"),
                ("login_user_type", "guest"),
                ("source_app", "bot"),
                ("apikey", "services:read"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("An app with this name exists already.")
    );
    let response = app
        .post_form(
            &format!("/apps/{}/edit", one.id),
            &[
                ("name", "One"),
                ("uri", "https://x.example.com"),
                ("login_user_type", "guest"),
                ("source_app", "bot"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Select at least one permission")
    );
    assert_eq!(stored_app(&app, &one.id).await.uri, "https://example.com/");
}

#[actix_web::test]
async fn an_app_is_inactivated_and_activated_again() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let created = app
        .create_app("Switch", "bot", &["services:read"], &[])
        .await;
    let response = app
        .post_form(&format!("/apps/{}/inactivate", created.id), &[])
        .await;
    assert_eq!(location(&response), format!("/apps/{}", created.id));
    assert_eq!(stored_app(&app, &created.id).await.status, "inactive");
    assert!(
        app.get_html(&format!("/apps/{}", created.id), 200)
            .await
            .contains("none of its keys work")
    );
    app.post_form(&format!("/apps/{}/activate", created.id), &[])
        .await;
    assert_eq!(stored_app(&app, &created.id).await.status, "active");
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, _, _)| a)
        .collect();
    assert!(actions.contains(&"app.inactivated".to_owned()));
    assert_eq!(
        actions.iter().filter(|a| *a == "app.activated").count(),
        2,
        "at Finish and again now"
    );
}

#[actix_web::test]
async fn an_app_is_deleted_only_when_it_has_no_keys() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let created = app.create_app("Temp", "bot", &["services:read"], &[]).await;
    let response = app
        .post_form(&format!("/apps/{}/delete", created.id), &[])
        .await;
    assert_eq!(location(&response), format!("/apps/{}", created.id));
    assert!(
        app.get_html(&format!("/apps/{}", created.id), 200)
            .await
            .contains("Delete this app&#39;s keys first")
    );
    let key_id = app.key_ids(&created.id).await[0].clone();
    app.post_form(
        &format!("/apps/{}/keys/{key_id}/inactivate", created.id),
        &[],
    )
    .await;
    app.post_form(&format!("/apps/{}/keys/{key_id}/delete", created.id), &[])
        .await;
    let response = app
        .post_form(&format!("/apps/{}/delete", created.id), &[])
        .await;
    assert_eq!(location(&response), "/apps");
    assert_eq!(
        app.get(&format!("/apps/{}", created.id))
            .await
            .status()
            .as_u16(),
        404
    );
}

#[actix_web::test]
async fn names_with_markup_or_sql_are_shown_escaped_and_stored_intact() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let name = r#"<script>alert('x')</script> "; DROP TABLE apps; --"#;
    let created = app.create_app(name, "bot", &["services:read"], &[]).await;
    assert_eq!(stored_app(&app, &created.id).await.name, name);
    let key_name = "<img src=x onerror=alert(1)> ' OR '1'='1";
    app.new_key(&created.id, key_name, &["services:read"]).await;
    for path in [
        "/apps".to_owned(),
        format!("/apps/{}", created.id),
        "/audit".to_owned(),
    ] {
        let html = app.get_html(&path, 200).await;
        assert!(
            !html.contains("<script>alert") && !html.contains("<img src=x"),
            "{path} is escaped"
        );
        assert!(
            html.contains("&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;") || path != "/apps",
            "{path} shows the name"
        );
    }
    let keys = keys_of(&app, &created.id).await;
    assert_eq!(keys[1].name, key_name);
    let found = app
        .get_html(
            &format!("/apps?q={}", keyward::error::urlencode("drop table")),
            200,
        )
        .await;
    assert!(
        found.contains("DROP TABLE"),
        "search treats the text as text"
    );
    let none = app.get_html("/apps?q=%25", 200).await;
    assert!(
        none.contains("No application matches"),
        "a % is not a wildcard"
    );
}

#[actix_web::test]
async fn a_limited_admin_gets_403_on_every_page_and_action_of_the_section() {
    let app = spawn_app().await;
    let full = app.signed_in_admin().await;
    let created = app
        .create_app("Secret Project", "bot", &["services:read"], &[])
        .await;
    let key_id = app.key_ids(&created.id).await[0].clone();
    let _ = full;
    app.post_form("/logout", &[]).await;
    app.signed_in_as("lim@example.com", Role::Limited).await;
    let id = &created.id;
    for path in [
        "/apps".to_owned(),
        "/apps/new".to_owned(),
        format!("/apps/{id}"),
        format!("/apps/{id}/edit"),
        format!("/apps/{id}/wizard"),
        format!("/apps/{id}/wizard/secrets"),
        format!("/apps/{id}/keys/new"),
        format!("/apps/{id}/keys/{key_id}/edit"),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status().as_u16(), 403, "GET {path}");
        assert!(
            !response.text().await.unwrap().contains("Secret Project"),
            "{path}"
        );
    }
    for path in [
        "/apps/new".to_owned(),
        format!("/apps/{id}/edit"),
        format!("/apps/{id}/inactivate"),
        format!("/apps/{id}/delete"),
        format!("/apps/{id}/keys"),
        format!("/apps/{id}/keys/{key_id}/inactivate"),
        format!("/apps/{id}/keys/{key_id}/delete"),
        format!("/apps/{id}/wizard/finish"),
    ] {
        assert_eq!(
            app.post_form(&path, &[("name", "x")])
                .await
                .status()
                .as_u16(),
            403,
            "POST {path}"
        );
    }
    assert_eq!(app.key_ids(id).await.len(), 1);
    assert_eq!(stored_app(&app, id).await.status, "active");
}

#[actix_web::test]
async fn every_form_of_the_section_needs_the_csrf_token() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let created = app
        .create_app("Guarded", "bot", &["services:read"], &[])
        .await;
    let id = &created.id;
    let key_id = app.key_ids(id).await[0].clone();
    let before = app.audit_actions().await.len();
    for path in [
        "/apps/new".to_owned(),
        format!("/apps/{id}/edit"),
        format!("/apps/{id}/inactivate"),
        format!("/apps/{id}/activate"),
        format!("/apps/{id}/delete"),
        format!("/apps/{id}/wizard/details"),
        format!("/apps/{id}/wizard/scopes"),
        format!("/apps/{id}/wizard/secrets"),
        format!("/apps/{id}/wizard/key"),
        format!("/apps/{id}/wizard/finish"),
        format!("/apps/{id}/keys"),
        format!("/apps/{id}/keys/{key_id}/edit"),
        format!("/apps/{id}/keys/{key_id}/inactivate"),
        format!("/apps/{id}/keys/{key_id}/activate"),
        format!("/apps/{id}/keys/{key_id}/delete"),
        "/logout".to_owned(),
    ] {
        let response = app
            .post_raw(&path, &[("name", "x"), ("csrf_token", "wrong")])
            .await;
        assert_eq!(response.status().as_u16(), 403, "POST {path}");
    }
    assert_eq!(app.audit_actions().await.len(), before, "nothing changed");
    assert_eq!(app.key_ids(id).await.len(), 1);
}

#[actix_web::test]
async fn the_list_searches_and_pages_through_many_apps() {
    use keyward::db::models::{Actor, AppDetails};
    use keyward::domain::{AppUri, Description, LoginUserType, Name, SourceApp};
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let org = app.org_id().await;
    app.db()
        .run(move |conn| {
            keyward::db::write_tx(conn, |conn| {
                for i in 0..120 {
                    let details = AppDetails {
                        name: Name::parse(&format!("App {i:03}")).unwrap(),
                        uri: AppUri::parse("https://example.com").unwrap(),
                        description: Description::default(),
                        login_user_type: LoginUserType::Guest,
                        source_app: SourceApp::Bot,
                        post_login: vec![],
                        post_logout: vec![],
                    };
                    keyward::services::apps::create_draft(
                        conn,
                        &org,
                        &Actor::system("test"),
                        &details,
                        &format!("n{i}"),
                    )?;
                }
                Ok::<_, keyward::services::OpError>(())
            })
        })
        .await
        .unwrap();
    let first = app.get_html("/apps", 200).await;
    assert!(first.contains("App 000") && first.contains("App 049") && !first.contains("App 050"));
    let start = first.find("/apps?q=&#38;after=").expect("a next page link");
    let end = first[start..].find('"').unwrap() + start;
    let next = crate::helpers::html_unescape(&first[start..end]);
    let second = app.get_html(&next, 200).await;
    assert!(
        second.contains("App 050") && second.contains("App 099") && !second.contains("App 049")
    );
    let found = app.get_html("/apps?q=app+11", 200).await;
    assert!(found.contains("App 110") && found.contains("App 119") && !found.contains("App 100"));
}
