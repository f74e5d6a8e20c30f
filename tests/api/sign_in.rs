use keyward::db::models::Role;

use crate::helpers::{PASSWORD, csrf_in, error_summary, spawn_app};

#[actix_web::test]
async fn the_sign_in_page_labels_every_field() {
    let app = spawn_app().await;
    let html = app.get_html("/login", 200).await;
    assert!(html.contains(r#"<label for="email">Email</label>"#));
    assert!(html.contains(r#"<label for="password">Password</label>"#));
    assert!(html.contains(r#"id="email""#) && html.contains(r#"id="password""#));
}

#[actix_web::test]
async fn an_admin_signs_in_and_reaches_the_console() {
    let app = spawn_app().await;
    app.create_admin("ada@example.com", Role::Full).await;
    let response = app.sign_in("Ada@Example.com", PASSWORD).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/");
    let home = app.get("/").await;
    assert_eq!(home.headers()["location"], "/apps");
    let html = app.get_html("/apps", 200).await;
    assert!(html.contains("Manage Applications"));
    assert!(html.contains("ada@example.com"));
    let actions = app.audit_actions().await;
    assert!(
        actions
            .iter()
            .any(|(a, actor, _)| a == "admin.signed_in" && actor == "ada@example.com")
    );
}

#[actix_web::test]
async fn pages_need_a_session_and_come_back_after_sign_in() {
    let app = spawn_app().await;
    app.create_admin("ada@example.com", Role::Full).await;
    let response = app.get("/audit?x=1").await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(
        response.headers()["location"],
        "/login?next=%2Faudit%3Fx%3D1"
    );
    let html = app.get_html("/login?next=%2Faudit%3Fx%3D1", 200).await;
    let token = csrf_in(&html);
    let response = app
        .post_raw(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("next", "/audit?x=1"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(response.headers()["location"], "/audit?x=1");
}

#[actix_web::test]
async fn a_redirect_after_sign_in_never_leaves_the_site() {
    let app = spawn_app().await;
    app.create_admin("ada@example.com", Role::Full).await;
    let token = csrf_in(&app.get_html("/login", 200).await);
    let response = app
        .post_raw(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("next", "//evil.example/x"),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/");
}

#[actix_web::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_message_and_an_audit_row() {
    let app = spawn_app().await;
    app.create_admin("ada@example.com", Role::Full).await;

    let wrong = app
        .sign_in("ada@example.com", "not the password at all")
        .await;
    assert_eq!(wrong.status().as_u16(), 422);
    let wrong_html = wrong.text().await.unwrap();
    assert_eq!(
        error_summary(&wrong_html).len(),
        1,
        "one problem, linked to the email"
    );
    let unknown = app.sign_in("nobody@example.com", PASSWORD).await;
    assert_eq!(unknown.status().as_u16(), 422);
    let unknown_html = unknown.text().await.unwrap();

    for html in [&wrong_html, &unknown_html] {
        assert!(html.contains("Incorrect email or password."));
        assert!(
            !html.contains("not the password at all"),
            "the password is never echoed"
        );
    }
    let failures: Vec<_> = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(a, _, _)| a == "admin.sign_in_failed")
        .map(|(_, actor, _)| actor)
        .collect();
    assert_eq!(failures, vec!["ada@example.com"]);
    // An email no admin has is nobody's organization's business: it goes
    // to the operators' trail.
    let unknown: Vec<_> = app
        .operator_events()
        .await
        .into_iter()
        .filter(|(a, ..)| a == "admin.sign_in_failed")
        .map(|(_, actor, org, changes)| (actor, org, changes["email"].clone()))
        .collect();
    assert_eq!(
        unknown,
        vec![(
            "nobody@example.com".to_owned(),
            None,
            serde_json::json!("nobody@example.com")
        )]
    );
    assert_eq!(
        app.get("/apps").await.status().as_u16(),
        303,
        "still signed out"
    );
}

#[actix_web::test]
async fn the_sixth_quick_failure_is_throttled() {
    let app = spawn_app().await;
    app.create_admin("ada@example.com", Role::Full).await;
    for _ in 0..5 {
        assert_eq!(
            app.sign_in("ada@example.com", "wrong password here")
                .await
                .status()
                .as_u16(),
            422
        );
    }
    let sixth = app.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(
        sixth.status().as_u16(),
        429,
        "even the right password waits"
    );
    let retry_after: u64 = sixth.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 30);
    assert!(
        sixth
            .text()
            .await
            .unwrap()
            .contains("Too many failed sign-ins")
    );
    assert_eq!(
        app.get("/apps").await.status().as_u16(),
        303,
        "not signed in"
    );

    // Another account from the same address is not locked out by these five.
    app.create_admin("bob@example.com", Role::Full).await;
    assert_eq!(
        app.sign_in("bob@example.com", PASSWORD)
            .await
            .status()
            .as_u16(),
        303
    );
}

#[actix_web::test]
async fn many_failures_from_one_address_are_throttled_across_accounts() {
    let app = spawn_app().await;
    for i in 0..20 {
        let email = format!("guess{i}@example.com");
        assert_eq!(
            app.sign_in(&email, "wrong password here")
                .await
                .status()
                .as_u16(),
            422
        );
    }
    let next = app
        .sign_in("guess99@example.com", "wrong password here")
        .await;
    assert_eq!(next.status().as_u16(), 429);
}

#[actix_web::test]
async fn a_post_without_a_valid_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    app.create_admin("ada@example.com", Role::Full).await;
    let before = app.audit_actions().await.len();
    let missing = app
        .post_raw(
            "/login",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(missing.status().as_u16(), 403);
    assert!(missing.text().await.unwrap().contains("Form expired"));
    let wrong = app
        .post_raw(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("csrf_token", "forged"),
            ],
        )
        .await;
    assert_eq!(wrong.status().as_u16(), 403);
    assert_eq!(
        app.audit_actions().await.len(),
        before,
        "no audit row, no sign-in"
    );
    assert_eq!(app.get("/apps").await.status().as_u16(), 303);

    // Signed in, sign-out without the token does not sign out.
    app.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(app.post_raw("/logout", &[]).await.status().as_u16(), 403);
    assert_eq!(app.get("/apps").await.status().as_u16(), 200);
}

#[actix_web::test]
async fn a_limited_admin_gets_403_on_the_api_keys_section() {
    let app = spawn_app().await;
    app.signed_in_as("lim@example.com", Role::Limited).await;
    assert_eq!(app.get("/").await.headers()["location"], "/settings");
    let response = app.get("/apps").await;
    assert_eq!(response.status().as_u16(), 403);
    assert!(response.text().await.unwrap().contains("Access denied"));
    let settings = app.get_html("/settings", 200).await;
    assert!(
        !settings.contains(r#"href="/apps""#),
        "the section is not shown"
    );
}

#[actix_web::test]
async fn a_raised_hashing_cost_renews_the_hash_at_the_next_sign_in() {
    let app = spawn_app().await;
    let admin = app.create_admin("ada@example.com", Role::Full).await;
    assert!(admin.password_hash.contains("m=19456,"));
    let mut settings = crate::helpers::test_settings(&app.data);
    settings.hash_cost.memory_kib = 32 * 1024;
    let stronger = crate::helpers::spawn_on(std::sync::Arc::clone(&app.data), settings).await;
    assert_eq!(
        stronger
            .sign_in("ada@example.com", PASSWORD)
            .await
            .status()
            .as_u16(),
        303
    );
    let email = "ada@example.com".to_owned();
    let renewed = stronger
        .db()
        .run(move |conn| {
            keyward::db::models::Admin::find_by_email(conn, &email)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap()
        .unwrap();
    assert!(
        renewed.password_hash.contains("m=32768,"),
        "{}",
        renewed.password_hash
    );
    assert_eq!(
        renewed.password_changed_at, admin.password_changed_at,
        "not a password change"
    );
    // The same password still works, and the session signed in before stays.
    assert_eq!(stronger.get("/apps").await.status().as_u16(), 200);
    assert_eq!(
        app.sign_in("ada@example.com", PASSWORD)
            .await
            .status()
            .as_u16(),
        303
    );
}
