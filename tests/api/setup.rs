use crate::helpers::{PASSWORD, csrf_in, error_summary, hidden_value, spawn_app, spawn_app_with};

#[actix_web::test]
async fn without_an_admin_the_server_prints_a_one_time_setup_link() {
    let app = spawn_app().await;
    let link = app.setup_link.clone().expect("a setup link");
    assert!(link.starts_with(&app.url("/setup?token=")), "{link}");
    let path = &link[app.address.len()..];

    let html = app.get_html(path, 200).await;
    assert!(html.contains("Create the first admin"));
    let token = hidden_value(&html, "token").unwrap();

    // Validation first: nothing is created.
    let short = app
        .post_raw(
            "/setup",
            &[
                ("token", &token),
                ("email", "ada@example.com"),
                ("password", "short"),
                ("confirm", "short"),
                ("csrf_token", &csrf_in(&html)),
            ],
        )
        .await;
    assert_eq!(short.status().as_u16(), 422);
    let body = short.text().await.unwrap();
    assert!(body.contains("Use at least 12 characters."));
    let summary = error_summary(&body);
    assert_eq!(summary[0].0, "password", "{summary:?}");
    assert!(summary[0].1.contains("Use at least 12 characters."));
    assert!(
        body.contains(r#"value="ada@example.com""#),
        "what was typed is kept"
    );

    let done = app
        .post_form(
            "/setup",
            &[
                ("token", &token),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status().as_u16(), 303);
    assert_eq!(
        app.get("/apps").await.status().as_u16(),
        200,
        "signed in as the new admin"
    );

    assert_eq!(
        app.get(path).await.status().as_u16(),
        404,
        "the link works once"
    );
    let actions = app.audit_actions().await;
    assert!(actions.iter().any(|(a, actor, target)| a == "admin.created"
        && actor == "setup link"
        && target.as_deref() == Some("ada@example.com")));
}

#[actix_web::test]
async fn a_wrong_setup_token_is_404() {
    let app = spawn_app().await;
    assert_eq!(app.get("/setup?token=guessed").await.status().as_u16(), 404);
    assert_eq!(app.get("/setup").await.status().as_u16(), 404);
}

#[actix_web::test]
async fn the_admin_from_the_environment_needs_no_setup_link() {
    let app = spawn_app_with(|s| {
        s.bootstrap_admin = Some((
            keyward::domain::EmailAddress::parse("boss@example.com").unwrap(),
            keyward::domain::Password::parse(PASSWORD.to_owned().into()).unwrap(),
        ))
    })
    .await;
    assert!(app.setup_link.is_none());
    assert_eq!(
        app.sign_in("boss@example.com", PASSWORD)
            .await
            .status()
            .as_u16(),
        303
    );
    assert_eq!(app.get("/apps").await.status().as_u16(), 200);
}

#[actix_web::test]
async fn the_setup_link_goes_to_a_private_file_not_to_the_log() {
    let app = spawn_app().await;
    let link = app.setup_link.clone().expect("a setup link");
    let token = link.split("token=").nth(1).unwrap().to_owned();
    let file = app.data.dir.path().join("setup-link.txt");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), link);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner reads it");
    }
    let logs = crate::helpers::captured_logs();
    assert!(logs.contains("setup-link.txt"), "the log names the file");
    assert!(!logs.contains(&token), "the log never holds the link");
}

#[actix_web::test]
async fn a_setup_link_stops_working_after_an_hour() {
    let app = spawn_app().await;
    let link = app.setup_link.clone().expect("a setup link");
    let path = link[app.address.len()..].to_owned();
    assert_eq!(app.get(&path).await.status().as_u16(), 200);
    // The link was made an hour and a minute ago.
    app.db()
        .run(|conn| {
            use diesel::prelude::*;
            use keyward::db::schema::setup_tokens::dsl::*;
            diesel::update(setup_tokens)
                .set(created_at.eq(keyward::clock::now() - time::Duration::minutes(61)))
                .execute(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(app.get(&path).await.status().as_u16(), 404);
}

#[actix_web::test]
async fn a_commonly_used_password_is_refused_at_setup() {
    let app = spawn_app().await;
    let link = app.setup_link.clone().expect("a setup link");
    let html = app.get_html(&link[app.address.len()..], 200).await;
    let token = hidden_value(&html, "token").unwrap();
    let response = app
        .post_raw(
            "/setup",
            &[
                ("token", &token),
                ("email", "ada@example.com"),
                ("password", "qwerty123456"),
                ("confirm", "qwerty123456"),
                ("csrf_token", &csrf_in(&html)),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 422);
    let body = response.text().await.unwrap();
    assert!(body.contains("easy to guess"));
    assert!(!body.contains("qwerty123456"), "the password is not echoed");
}
