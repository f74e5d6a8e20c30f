use crate::helpers::{PASSWORD, csrf_in, hidden_value, spawn_app, spawn_app_with};

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
