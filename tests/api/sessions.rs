use std::time::Duration;

use keyward::db::models::Role;

use crate::helpers::{PASSWORD, client_with, spawn_app, spawn_app_with};

#[actix_web::test]
async fn sign_in_issues_a_new_session_id() {
    let app = spawn_app().await;
    app.create_admin("ada@example.com", Role::Full).await;
    app.get("/login").await;
    let before = app.cookie_header();
    assert!(before.contains("keyward_session="));
    app.sign_in("ada@example.com", PASSWORD).await;
    let after = app.cookie_header();
    assert_ne!(before, after);
}

#[actix_web::test]
async fn sign_out_ends_the_session_on_the_server_too() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let copied = app.cookie_header();

    let response = app.post_form("/logout", &[]).await;
    assert_eq!(response.status().as_u16(), 303);
    assert_eq!(response.headers()["location"], "/login?signed_out=1");
    assert!(
        app.get_html("/login?signed_out=1", 200)
            .await
            .contains("You have signed out.")
    );

    let thief = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let replay = thief
        .get(app.url("/apps"))
        .header("cookie", copied)
        .send()
        .await
        .unwrap();
    assert_eq!(
        replay.status().as_u16(),
        303,
        "a copied cookie stops working"
    );
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|(a, _, _)| a == "admin.signed_out")
    );
}

#[actix_web::test]
async fn a_session_works_on_every_instance_sharing_the_database() {
    let one = spawn_app().await;
    one.signed_in_admin().await;
    let two = one.sibling().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client
        .get(two.url("/apps"))
        .header("cookie", one.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[actix_web::test]
async fn a_restart_keeps_the_data_and_the_session() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let app = app.restart().await;
    assert_eq!(app.get("/apps").await.status().as_u16(), 200);
}

#[actix_web::test]
async fn an_idle_session_ends() {
    let app = spawn_app_with(|s| s.session_idle = Duration::from_secs(1)).await;
    app.signed_in_admin().await;
    assert_eq!(app.get("/apps").await.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(app.get("/apps").await.status().as_u16(), 303);
}

#[actix_web::test]
async fn an_active_session_still_ends_at_the_absolute_limit() {
    let app = spawn_app_with(|s| s.session_max = Duration::from_secs(2)).await;
    app.signed_in_admin().await;
    for _ in 0..4 {
        assert_eq!(app.get("/apps").await.status().as_u16(), 200);
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(app.get("/apps").await.status().as_u16(), 303);
}

#[actix_web::test]
async fn the_session_cookie_is_http_only_and_same_site() {
    let app = spawn_app().await;
    let response = app.get("/login").await;
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("keyward_session="));
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "plain http in tests");
}

#[actix_web::test]
async fn behind_https_the_cookie_is_secure_host_only_and_hsts_is_sent() {
    let app =
        spawn_app_with(|s| s.public_url = url::Url::parse("https://keys.example.com").unwrap())
            .await;
    let response = app.get("/login").await;
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("__Host-keyward_session="));
    assert!(cookie.contains("Secure") && cookie.contains("Path=/") && !cookie.contains("Domain"));
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
}

#[actix_web::test]
async fn a_fresh_client_is_not_signed_in() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let other = client_with(Default::default());
    assert_eq!(
        other
            .get(app.url("/apps"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        303
    );
}

async fn session_rows(app: &crate::helpers::TestApp) -> i64 {
    use diesel::prelude::*;
    app.db()
        .run(|conn| {
            keyward::db::schema::sessions::table
                .count()
                .get_result::<i64>(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn an_anonymous_visitor_costs_no_session_row() {
    let app = spawn_app().await;
    app.create_admin("ada@example.com", Role::Full).await;
    for _ in 0..20 {
        let client = client_with(std::sync::Arc::new(reqwest::cookie::Jar::default()));
        let page = client.get(app.url("/login")).send().await.unwrap();
        assert!(
            page.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .contains("keyward_session="),
            "the CSRF token still travels in the session cookie"
        );
    }
    assert_eq!(session_rows(&app).await, 0);
    // A refused sign-in neither.
    assert_eq!(
        app.sign_in("ada@example.com", "wrong password here")
            .await
            .status()
            .as_u16(),
        422
    );
    assert_eq!(session_rows(&app).await, 0);
    app.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(session_rows(&app).await, 1, "a signed-in session is kept");
}

#[actix_web::test]
async fn pages_render_while_another_process_holds_the_sqlite_write_lock() {
    if crate::helpers::on_postgres() {
        return; // PostgreSQL has no database-wide write lock.
    }
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let token = app.csrf().await;
    // Another process (here: another connection) takes the write lock and keeps it.
    let keyward::config::DatabaseUrl::Sqlite(path) = app.data.database_url.clone() else {
        unreachable!()
    };
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        conn.batch_execute("BEGIN IMMEDIATE; UPDATE organizations SET name = name;")
            .unwrap();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(30));
        conn.batch_execute("ROLLBACK").unwrap();
    });
    locked_rx.recv().unwrap();

    // A read-only page renders: it writes nothing, so it never waits for the lock.
    assert_eq!(app.get("/settings").await.status().as_u16(), 200);
    assert_eq!(app.get("/staff").await.status().as_u16(), 200);
    // A change is refused with 503 and Retry-After, promptly, and changes nothing.
    let started = std::time::Instant::now();
    let refused = app
        .post_raw(
            "/settings/organization",
            &[
                ("name", "Renamed"),
                ("time_zone", "UTC"),
                ("csrf_token", &token),
            ],
        )
        .await;
    let waited = started.elapsed();
    assert_eq!(refused.status().as_u16(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    assert!(
        waited < Duration::from_secs(4),
        "refused after {waited:?}: the lock wait is bounded near two seconds"
    );
    release_tx.send(()).unwrap();
    holder.join().unwrap();
    assert!(!app.get_html("/settings", 200).await.contains("Renamed"));
}
