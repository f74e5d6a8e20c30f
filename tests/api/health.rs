use crate::helpers::{on_postgres, spawn_app};

#[actix_web::test]
async fn healthz_says_the_process_is_up() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[actix_web::test]
async fn readyz_names_the_database_it_reached() {
    let app = spawn_app().await;
    let body: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(
        body["database"],
        if on_postgres() { "postgres" } else { "sqlite" }
    );
}

#[actix_web::test]
async fn one_organization_exists_after_the_first_start() {
    use diesel::prelude::*;
    let app = spawn_app().await;
    let count: i64 = app
        .db()
        .run(|conn| {
            keyward::db::schema::organizations::table
                .count()
                .get_result(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(count, 1);
    let again = app.restart().await;
    let count: i64 = again
        .db()
        .run(|conn| {
            keyward::db::schema::organizations::table
                .count()
                .get_result(conn)
                .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(count, 1, "a restart does not add another");
}

/// PostgreSQL only: the database refuses connections, and the server answers 503
/// quickly instead of hanging or failing with a 500.
#[actix_web::test]
async fn a_database_outage_gives_503_quickly() {
    if !on_postgres() {
        return;
    }
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, PgConnection};
    let app = spawn_app().await;
    app.signed_in_admin().await;
    assert_eq!(app.get("/settings").await.status().as_u16(), 200);

    let keyward::config::DatabaseUrl::Postgres(url) = &app.data.database_url else {
        unreachable!()
    };
    let name = url.rsplit('/').next().unwrap().to_owned();
    let admin_url = std::env::var("KEYWARD_TEST_DATABASE_URL").unwrap();
    let mut admin = PgConnection::establish(&admin_url).unwrap();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
        ))
        .unwrap();

    let started = std::time::Instant::now();
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status().as_u16(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    let page = app.get("/settings").await;
    assert_eq!(page.status().as_u16(), 503);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Temporarily unavailable")
    );
    // Not a speed measurement: a hung pool would take minutes (the OS TCP timeout).
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "the server answers instead of hanging"
    );

    admin
        .batch_execute(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
        .unwrap();
    let mut recovered = false;
    for _ in 0..20 {
        if app.get("/readyz").await.status().as_u16() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(recovered, "the server recovers when the database is back");
}
