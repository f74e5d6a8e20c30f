//! The Manage Applications wizard, step by step, over HTTP.

use keyward::db::models::App;

use crate::helpers::{TestApp, csrf_in, hidden_value, input_value, location, spawn_app};

async fn app_row(app: &TestApp, id: &str) -> App {
    let (org, id) = (app.org_id().await, keyward::domain::AppId::from(id));
    app.db()
        .run(move |conn| App::find(conn, &org, &id).map_err(keyward::db::DbError::from))
        .await
        .unwrap()
        .expect("the app exists")
}

async fn app_count(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    app.db()
        .run(|conn| {
            keyward::db::schema::apps::table
                .count()
                .get_result(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap()
}

/// Posts step 1 and returns the draft's id.
async fn draft(app: &TestApp, name: &str) -> String {
    let response = app
        .post_form(
            "/apps/new",
            &[
                ("name", name),
                ("uri", "https://example.com"),
                ("login_user_type", "employee"),
                ("source_app", "bot"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    location(&response)
        .trim_start_matches("/apps/")
        .trim_end_matches("/wizard/scopes")
        .to_owned()
}

#[actix_web::test]
async fn the_whole_wizard_makes_an_active_app_with_its_first_key() {
    let app = spawn_app().await;
    app.signed_in_admin().await;

    let list = app.get_html("/apps", 200).await;
    assert!(list.contains("No applications yet"));
    let form = app.get_html("/apps/new", 200).await;
    for label in [
        "Name",
        "URI",
        "Description",
        "Login User Type",
        "Source App",
        "Post Logout Redirect URLs",
        "Post Login Redirect URLs",
        ">Add<",
        ">Next<",
    ] {
        assert!(form.contains(label), "{label}");
    }
    let nonce = hidden_value(&form, "nonce").unwrap();
    let csrf = csrf_in(&form);
    let response = app
        .post_raw(
            "/apps/new",
            &[
                ("name", "Web Booking"),
                ("uri", "https://shop.example.com"),
                ("description", "The web store"),
                ("login_user_type", "guest"),
                ("source_app", "external_webstore"),
                (
                    "post_login_redirect_urls",
                    "https://shop.example.com/signed-in",
                ),
                ("post_logout_redirect_urls", "http://localhost:3000/bye"),
                ("nonce", &nonce),
                ("op", "next"),
                ("csrf_token", &csrf),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    let scopes_url = location(&response);
    let id = scopes_url
        .trim_start_matches("/apps/")
        .trim_end_matches("/wizard/scopes")
        .to_owned();

    let scopes = app.get_html(&scopes_url, 200).await;
    assert!(scopes.contains("APIKEY GROUPS") && scopes.contains("JWT GROUPS"));
    assert!(scopes.contains(r#"<label for="apikey-appointments-create">"#));
    let response = app
        .post_form(
            &scopes_url,
            &[
                ("apikey", "services:read"),
                ("apikey", "appointments:create"),
                ("jwt", "appointments:read"),
            ],
        )
        .await;
    assert_eq!(location(&response), format!("/apps/{id}/wizard/secrets"));

    let secrets = app
        .get_html(&format!("/apps/{id}/wizard/secrets"), 200)
        .await;
    assert_eq!(input_value(&secrets, "application-id").unwrap(), id);
    let secret = input_value(&secrets, "app-secret").unwrap();
    assert!(secret.starts_with("kws_"));
    assert!(
        secrets.contains("Copy") && secrets.contains("Copy the Application ID and the Secret now")
    );
    let response = app
        .post_form(&format!("/apps/{id}/wizard/secrets"), &[])
        .await;
    assert_eq!(location(&response), format!("/apps/{id}/wizard/key"));

    let key_step = app.get_html(&format!("/apps/{id}/wizard/key"), 200).await;
    assert!(key_step.contains("Generate API Key"));
    let response = app
        .post_form(&format!("/apps/{id}/wizard/key"), &[("name", "Storefront")])
        .await;
    // Post/redirect/get: the key is on the page the answer leads to, once.
    assert_eq!(location(&response), format!("/apps/{id}/wizard/finish"));
    let revealed = app.get_html(&location(&response), 200).await;
    let later = app
        .get_html(&format!("/apps/{id}/wizard/finish"), 200)
        .await;
    assert!(input_value(&later, "new-api-key").is_none() && later.contains("Finish"));
    let key = input_value(&revealed, "new-api-key").unwrap();
    assert!(key.starts_with("kw_"));
    assert!(revealed.contains("will not be shown again"));
    assert!(revealed.contains(r#"data-copy-target="new-api-key""#));
    // The key works from Finish on, as the step says; until then the API
    // says why with its own code.
    assert!(revealed.contains("It starts working when you select Finish"));
    let (status, body) = app.api_get("/api/v2/services", &key).await;
    assert_eq!(
        (status, body["errors"][0]["code"].as_str()),
        (401, Some("app_draft"))
    );
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("setup is not finished")
    );

    let response = app
        .post_form(&format!("/apps/{id}/wizard/finish"), &[])
        .await;
    assert_eq!(location(&response), format!("/apps/{id}"));
    assert_eq!(app.api_get("/api/v2/services", &key).await.0, 200);
    let page = app.get_html(&format!("/apps/{id}"), 200).await;
    assert!(page.contains("Web Booking") && page.contains("Active"));
    assert!(
        page.contains("External Webstore") && page.contains("Web booking"),
        "the Source App mark"
    );
    assert!(
        page.contains(&key[..15]) && page.contains(&key[key.len() - 4..]),
        "the masked key"
    );
    assert!(!page.contains(&key), "never the key itself");
    assert!(!page.contains(&secret), "never the secret");
    assert!(
        page.contains("https://shop.example.com/signed-in")
            && page.contains("http://localhost:3000/bye")
    );

    let row = app_row(&app, &id).await;
    assert_eq!(row.status, "active");
    let hash = row.secret_hash.clone().unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(
        app.state
            .hasher
            .check(&secret, Some(hash))
            .await
            .unwrap()
            .matches,
        "the shown secret is the stored one"
    );
}

#[actix_web::test]
async fn each_details_field_is_checked_beside_it_and_what_was_typed_is_kept() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let response = app
        .post_form(
            "/apps/new",
            &[
                ("name", "  "),
                ("uri", "example.com/app"),
                ("description", &"d".repeat(1001)),
                ("login_user_type", "robot"),
                ("source_app", ""),
                ("new_post_login_redirect_url", "http://evil.example.com/cb"),
                ("new_post_logout_redirect_url", "https://*.example.com/x"),
                ("op", "next"),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let html = response.text().await.unwrap();
    for message in [
        "Enter a name.",
        "Enter an absolute URL starting with https:// or http://.",
        "Use at most 1000 characters.",
        "Choose Guest or Employee.",
        "Choose a source app.",
        "http:// is allowed only for localhost",
        "Wildcards are not allowed",
    ] {
        assert!(html.contains(message), "{message}");
    }
    assert!(
        html.contains(r#"value="example.com/app""#),
        "typed values are kept"
    );
    assert!(html.contains("http://evil.example.com/cb"));
    assert!(html.contains(r#"aria-invalid="true""#));
    assert_eq!(app_count(&app).await, 0, "nothing saved");

    let fragment = app
        .post_form(
            "/apps/new",
            &[
                ("name", "A"),
                ("uri", "https://a.example.com"),
                ("login_user_type", "guest"),
                ("source_app", "bot"),
                ("new_post_login_redirect_url", "https://a.example.com/#x"),
                ("op", "next"),
            ],
        )
        .await;
    assert_eq!(fragment.status().as_u16(), 422);
    assert!(fragment.text().await.unwrap().contains("fragment"));
}

#[actix_web::test]
async fn redirect_urls_are_added_and_removed_without_javascript() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let base = [
        ("name", "Mobile"),
        ("uri", "https://m.example.com"),
        ("login_user_type", "guest"),
        ("source_app", "external_cma"),
    ];
    let mut fields = base.to_vec();
    fields.extend([
        ("new_post_login_redirect_url", "https://m.example.com/in"),
        ("op", "add_login"),
    ]);
    let html = app
        .post_form("/apps/new", &fields)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(r#"name="post_login_redirect_urls" value="https://m.example.com/in""#));
    assert!(html.contains(r#"value="Mobile""#), "other fields are kept");
    assert_eq!(app_count(&app).await, 0, "Add saves nothing yet");

    let mut fields = base.to_vec();
    fields.extend([
        ("post_login_redirect_urls", "https://m.example.com/in"),
        ("post_login_redirect_urls", "https://m.example.com/in2"),
        ("op", "remove_login:0"),
    ]);
    let html = app
        .post_form("/apps/new", &fields)
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains(r#"value="https://m.example.com/in""#));
    assert!(html.contains(r#"value="https://m.example.com/in2""#));

    let mut fields = base.to_vec();
    fields.extend([
        ("post_logout_redirect_urls", "https://m.example.com/out"),
        ("new_post_logout_redirect_url", "https://m.example.com/out"),
        ("op", "add_logout"),
    ]);
    let response = app.post_form("/apps/new", &fields).await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("in the list already")
    );

    // A URL typed but not added is saved with Next: nothing typed is lost.
    let mut fields = base.to_vec();
    fields.extend([
        (
            "new_post_logout_redirect_url",
            "https://m.example.com/typed",
        ),
        ("op", "next"),
    ]);
    let response = app.post_form("/apps/new", &fields).await;
    let id = location(&response)
        .trim_start_matches("/apps/")
        .trim_end_matches("/wizard/scopes")
        .to_owned();
    assert_eq!(
        app_row(&app, &id).await.post_logout_urls(),
        vec!["https://m.example.com/typed"]
    );
}

#[actix_web::test]
async fn app_names_are_unique_regardless_of_case() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    draft(&app, "Web Booking").await;
    // The same name in another case, with a run of spaces, or in full-width
    // letters: each looks the same in a list, so each is refused.
    for look_alike in ["web booking", "Web   Booking", "Ｗｅｂ Booking"] {
        let response = app
            .post_form(
                "/apps/new",
                &[
                    ("name", look_alike),
                    ("uri", "https://x.example.com"),
                    ("login_user_type", "guest"),
                    ("source_app", "bot"),
                ],
            )
            .await;
        assert_eq!(response.status().as_u16(), 422, "{look_alike}");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("An app with this name exists already.")
        );
    }
    assert_eq!(app_count(&app).await, 1);
    // A name is stored with one space where several were typed.
    draft(&app, "  Chat    Bot ").await;
    assert!(app.get_html("/apps", 200).await.contains(">Chat Bot<"));
}

#[actix_web::test]
async fn the_back_link_keeps_what_was_saved_and_a_draft_survives_a_restart() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let id = draft(&app, "Chat Bot").await;
    let back = app
        .get_html(&format!("/apps/{id}/wizard/details"), 200)
        .await;
    assert!(back.contains(r#"value="Chat Bot""#));
    assert!(back.contains(r#"value="bot" selected"#));
    assert!(back.contains(r#"value="employee" checked"#));

    let app = app.restart().await;
    let list = app.get_html("/apps", 200).await;
    assert!(list.contains("Chat Bot") && list.contains("Draft") && list.contains("Continue setup"));
    let response = app.get(&format!("/apps/{id}/wizard")).await;
    assert_eq!(location(&response), format!("/apps/{id}/wizard/scopes"));
    assert_eq!(
        location(&app.get(&format!("/apps/{id}")).await),
        format!("/apps/{id}/wizard"),
        "a draft has no app page yet"
    );
}

#[actix_web::test]
async fn the_scopes_step_needs_a_permission_of_the_catalog() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let id = draft(&app, "Empty").await;
    let response = app
        .post_form(&format!("/apps/{id}/wizard/scopes"), &[])
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Select at least one permission")
    );
    let response = app
        .post_form(
            &format!("/apps/{id}/wizard/scopes"),
            &[("apikey", "services:delete")],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Unknown permission")
    );
    assert_eq!(app_row(&app, &id).await.wizard_step, "scopes");
}

#[actix_web::test]
async fn leaving_the_secrets_step_gives_a_new_secret_and_the_old_one_stops_working() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let id = draft(&app, "Rotating").await;
    app.post_form(
        &format!("/apps/{id}/wizard/scopes"),
        &[("apikey", "services:read")],
    )
    .await;
    let first = input_value(
        &app.get_html(&format!("/apps/{id}/wizard/secrets"), 200)
            .await,
        "app-secret",
    )
    .unwrap();
    // Away to the scopes and back: the step offers a new secret, and makes it
    // only when asked by a POST.
    app.get_html(&format!("/apps/{id}/wizard/scopes"), 200)
        .await;
    let again = app
        .get_html(&format!("/apps/{id}/wizard/secrets"), 200)
        .await;
    assert_eq!(input_value(&again, "app-secret"), None, "never shown again");
    assert!(again.contains("Generate a new Secret"));
    app.post_form(&format!("/apps/{id}/wizard/secrets/new"), &[])
        .await;
    let second = input_value(
        &app.get_html(&format!("/apps/{id}/wizard/secrets"), 200)
            .await,
        "app-secret",
    )
    .unwrap();
    assert_ne!(first, second);
    let hash = app_row(&app, &id).await.secret_hash;
    assert!(
        !app.state
            .hasher
            .check(&first, hash.clone())
            .await
            .unwrap()
            .matches,
        "the old secret never works"
    );
    assert!(app.state.hasher.check(&second, hash).await.unwrap().matches);

    // Coming back from the key step (its Back) starts the secrets step over too.
    app.post_form(&format!("/apps/{id}/wizard/secrets"), &[])
        .await;
    app.post_form(&format!("/apps/{id}/wizard/secrets/new"), &[])
        .await;
    let third = input_value(
        &app.get_html(&format!("/apps/{id}/wizard/secrets"), 200)
            .await,
        "app-secret",
    )
    .unwrap();
    assert_ne!(third, second);
    assert_eq!(
        app_row(&app, &id).await.wizard_step,
        "secrets",
        "Next is needed again"
    );
    let generated = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "app.secret_generated")
        .count();
    assert_eq!(generated, 3);
}

#[actix_web::test]
async fn a_step_posted_out_of_order_is_refused() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let id = draft(&app, "Hasty").await;
    for step in ["secrets", "key", "finish"] {
        let response = app
            .post_form(&format!("/apps/{id}/wizard/{step}"), &[("name", "k")])
            .await;
        assert_eq!(response.status().as_u16(), 409, "{step}");
    }
    app.post_form(
        &format!("/apps/{id}/wizard/scopes"),
        &[("apikey", "services:read")],
    )
    .await;
    // The secret has not been shown yet: Next on the secrets step is refused.
    assert_eq!(
        app.post_form(&format!("/apps/{id}/wizard/secrets"), &[])
            .await
            .status()
            .as_u16(),
        409
    );
    assert_eq!(
        app.post_form(&format!("/apps/{id}/wizard/key"), &[("name", "k")])
            .await
            .status()
            .as_u16(),
        409
    );
    assert!(app.key_ids(&id).await.is_empty());
    assert_eq!(app_row(&app, &id).await.status, "draft");
    // Pages of later steps send the admin back to the current one.
    assert_eq!(
        location(&app.get(&format!("/apps/{id}/wizard/finish")).await),
        format!("/apps/{id}/wizard/secrets")
    );
}

#[actix_web::test]
async fn double_submitted_steps_make_one_app_and_one_key() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let form = app.get_html("/apps/new", 200).await;
    let (nonce, csrf) = (hidden_value(&form, "nonce").unwrap(), csrf_in(&form));
    let fields = [
        ("name", "Twice"),
        ("uri", "https://t.example.com"),
        ("login_user_type", "guest"),
        ("source_app", "bot"),
        ("nonce", &nonce),
        ("csrf_token", &csrf),
    ];
    let one = location(&app.post_raw("/apps/new", &fields).await);
    let two = location(&app.post_raw("/apps/new", &fields).await);
    assert_eq!(one, two, "the second submit lands on the same draft");
    assert_eq!(app_count(&app).await, 1);

    let id = one
        .trim_start_matches("/apps/")
        .trim_end_matches("/wizard/scopes")
        .to_owned();
    app.post_form(&one, &[("apikey", "services:read")]).await;
    app.get_html(&format!("/apps/{id}/wizard/secrets"), 200)
        .await;
    app.post_form(&format!("/apps/{id}/wizard/secrets"), &[])
        .await;
    let first = app
        .post_form(&format!("/apps/{id}/wizard/key"), &[("name", "k")])
        .await;
    assert_eq!(location(&first), format!("/apps/{id}/wizard/finish"));
    // The first answer was dropped (a double click): the second lands on the
    // one view of the key.
    let again = app
        .post_form(&format!("/apps/{id}/wizard/key"), &[("name", "k")])
        .await;
    assert_eq!(location(&again), format!("/apps/{id}/wizard/finish"));
    let shown = app
        .get_html(&format!("/apps/{id}/wizard/finish"), 200)
        .await;
    assert!(input_value(&shown, "new-api-key").is_some());
    // Submitted once more, after that view: never shown again.
    let third = app
        .post_form(&format!("/apps/{id}/wizard/key"), &[("name", "k")])
        .await;
    assert_eq!(location(&third), format!("/apps/{id}/wizard/finish"));
    let finish = app
        .get_html(&format!("/apps/{id}/wizard/finish"), 200)
        .await;
    assert!(finish.contains("not shown again"));
    assert!(input_value(&finish, "new-api-key").is_none());
    assert_eq!(app.key_ids(&id).await.len(), 1);

    for _ in 0..2 {
        let response = app
            .post_form(&format!("/apps/{id}/wizard/finish"), &[])
            .await;
        assert_eq!(location(&response), format!("/apps/{id}"));
    }
    assert_eq!(app_count(&app).await, 1);
    let activations = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "app.activated")
        .count();
    assert_eq!(activations, 1);
}

#[actix_web::test]
async fn an_app_for_access_tokens_only_needs_no_key() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let created = app
        .create_app("Staff App", "client_app", &[], &["employees:read"])
        .await;
    assert!(created.key.is_empty());
    assert!(app.key_ids(&created.id).await.is_empty());
    assert_eq!(app_row(&app, &created.id).await.status, "active");
}

#[actix_web::test]
async fn a_draft_can_be_discarded() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let id = draft(&app, "Mistake").await;
    let response = app.post_form(&format!("/apps/{id}/delete"), &[]).await;
    assert_eq!(location(&response), "/apps");
    assert_eq!(app_count(&app).await, 0);
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|(a, _, t)| a == "app.deleted" && t.as_deref() == Some("Mistake"))
    );
}

#[actix_web::test]
async fn opening_the_secrets_step_by_a_link_changes_nothing() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let id = draft(&app, "Linked").await;
    app.post_form(
        &format!("/apps/{id}/wizard/scopes"),
        &[("apikey", "services:read")],
    )
    .await;
    let shown = app
        .get_html(&format!("/apps/{id}/wizard/secrets"), 200)
        .await;
    let secret = input_value(&shown, "app-secret").unwrap();
    assert_eq!(secrets_generated(&app).await, 1);
    // A reload, or a link from another site (a GET with the same cookie),
    // makes no new secret: the noted one keeps working.
    for _ in 0..3 {
        let page = app
            .get_html(&format!("/apps/{id}/wizard/secrets"), 200)
            .await;
        assert_eq!(input_value(&page, "app-secret"), None);
    }
    assert_eq!(secrets_generated(&app).await, 1);
    let hash = app_row(&app, &id).await.secret_hash;
    assert!(app.state.hasher.check(&secret, hash).await.unwrap().matches);
}

async fn secrets_generated(app: &crate::helpers::TestApp) -> usize {
    app.audit_actions()
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "app.secret_generated")
        .count()
}

#[actix_web::test]
async fn enter_in_a_url_field_adds_the_url_and_elsewhere_goes_on() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let base = [
        ("name", "Mobile"),
        ("uri", "https://m.example.com"),
        ("login_user_type", "guest"),
        ("source_app", "external_cma"),
    ];
    // Enter submits the form's default button, op=enter.
    let mut fields = base.to_vec();
    fields.extend([
        ("post_login_redirect_urls", "https://m.example.com/in"),
        ("new_post_login_redirect_url", "https://m.example.com/in2"),
        ("op", "enter"),
    ]);
    let response = app.post_form("/apps/new", &fields).await;
    assert_eq!(response.status().as_u16(), 200, "still on the Details step");
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"name="post_login_redirect_urls" value="https://m.example.com/in""#));
    assert!(html.contains(r#"name="post_login_redirect_urls" value="https://m.example.com/in2""#));
    assert_eq!(app_count(&app).await, 0, "nothing saved yet");
    // A wrong URL is said beside its field, and nothing moves on.
    let mut fields = base.to_vec();
    fields.extend([
        ("new_post_logout_redirect_url", "http://m.example.com/out"),
        ("op", "enter"),
    ]);
    let response = app.post_form("/apps/new", &fields).await;
    assert_eq!(response.status().as_u16(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("http:// is allowed only for localhost")
    );
    // With no URL typed, Enter is Next.
    let mut fields = base.to_vec();
    fields.extend([
        ("post_login_redirect_urls", "https://m.example.com/in"),
        ("op", "enter"),
    ]);
    let response = app.post_form("/apps/new", &fields).await;
    assert_eq!(response.status().as_u16(), 303);
    assert!(location(&response).ends_with("/wizard/scopes"));
}

#[actix_web::test]
async fn back_keeps_the_ticked_scopes_and_warns_before_replacing_the_secret() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let id = draft(&app, "Going back").await;
    // Back from Scopes keeps what is ticked.
    let response = app
        .post_form(
            &format!("/apps/{id}/wizard/scopes"),
            &[
                ("apikey", "services:read"),
                ("jwt", "appointments:read"),
                ("op", "back"),
            ],
        )
        .await;
    assert_eq!(location(&response), format!("/apps/{id}/wizard/details"));
    let scopes = app
        .get_html(&format!("/apps/{id}/wizard/scopes"), 200)
        .await;
    assert!(
        scopes.contains(r#"id="apikey-services-read" name="apikey" value="services:read" checked"#),
        "{scopes}"
    );
    assert!(
        scopes
            .contains(r#"id="jwt-appointments-read" name="jwt" value="appointments:read" checked"#)
    );
    // Back with nothing ticked goes back too, and keeps what was saved.
    let response = app
        .post_form(&format!("/apps/{id}/wizard/scopes"), &[("op", "back")])
        .await;
    assert_eq!(location(&response), format!("/apps/{id}/wizard/details"));
    assert_eq!(app_row(&app, &id).await.apikey_scopes, "services:read");

    // On to Generate API Key; its Back asks before making a new Secret.
    app.post_form(
        &format!("/apps/{id}/wizard/scopes"),
        &[("apikey", "services:read")],
    )
    .await;
    let secret = input_value(
        &app.get_html(&format!("/apps/{id}/wizard/secrets"), 200)
            .await,
        "app-secret",
    )
    .unwrap();
    app.post_form(&format!("/apps/{id}/wizard/secrets"), &[])
        .await;
    let key_step = app.get_html(&format!("/apps/{id}/wizard/key"), 200).await;
    assert!(key_step.contains(&format!(r#"href="/apps/{id}/wizard/secrets/new">Back</a>"#)));
    let asked = app
        .get_html(&format!("/apps/{id}/wizard/secrets/new"), 200)
        .await;
    assert!(asked.contains("Going back makes a new Secret; the one you noted stops working."));
    // Asking changed nothing: the noted secret still belongs to the app.
    let hash = app_row(&app, &id).await.secret_hash;
    assert!(app.state.hasher.check(&secret, hash).await.unwrap().matches);
}
