//! The sign-in throttle's long memory: a hard limit across windows, an unlock,
//! and refusals audited as summaries.

use keyward::clock::Timestamp;
use keyward::db::models::{Actor, Role};
use keyward::db::write_tx;
use keyward::domain::EmailAddress;
use keyward::services::OpError;
use keyward::services::sign_in::{self, ACCOUNT_HARD_LIMIT, Verdict};
use time::Duration;

use crate::helpers::{PASSWORD, TestApp, spawn_app};

async fn attempt(app: &TestApp, email: &str, now: Timestamp) -> Verdict {
    let email = EmailAddress::parse(email).unwrap();
    app.db()
        .run(move |conn| {
            write_tx(conn, |conn| {
                let actor = Actor::system("test");
                let verdict = sign_in::reserve(conn, &email, Some("192.0.2.7"), &actor, now)?;
                if verdict == Verdict::Proceed {
                    sign_in::failed(conn, &email, &actor, now)?;
                }
                Ok::<_, OpError>(verdict)
            })
        })
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_hundred_failures_in_a_row_lock_the_account_until_it_is_unlocked() {
    let app = spawn_app().await;
    app.create_admin("ada@example.com", Role::Full).await;
    // Patient guessing: one failure every twenty minutes, each in a window of
    // its own, so the delays never apply.
    let mut now = keyward::clock::now() - Duration::days(3);
    for i in 0..ACCOUNT_HARD_LIMIT {
        assert_eq!(
            attempt(&app, "ada@example.com", now).await,
            Verdict::Proceed,
            "{i}"
        );
        now += Duration::minutes(20);
    }
    assert_eq!(attempt(&app, "ada@example.com", now).await, Verdict::Locked);
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|(a, _, _)| a == "admin.locked")
    );

    // Even the right password is refused now, with a page that says why.
    let response = app.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(response.status().as_u16(), 403);
    assert!(response.text().await.unwrap().contains("locked"));
    assert_eq!(app.get("/apps").await.status().as_u16(), 303);

    let email = EmailAddress::parse("ada@example.com").unwrap();
    let unlocked = app
        .db()
        .run(move |conn| {
            write_tx(conn, |conn| {
                sign_in::unlock(conn, &email, &Actor::system("operator"))
            })
        })
        .await
        .unwrap();
    assert!(unlocked);
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|(a, _, _)| a == "admin.unlocked")
    );
    assert_eq!(
        app.sign_in("ada@example.com", PASSWORD)
            .await
            .status()
            .as_u16(),
        303
    );
}

#[actix_web::test]
async fn a_success_resets_the_count_towards_the_lock() {
    let app = spawn_app().await;
    app.create_admin("ada@example.com", Role::Full).await;
    let mut now = keyward::clock::now() - Duration::days(3);
    for _ in 0..ACCOUNT_HARD_LIMIT - 1 {
        attempt(&app, "ada@example.com", now).await;
        now += Duration::minutes(20);
    }
    assert_eq!(
        app.sign_in("ada@example.com", PASSWORD)
            .await
            .status()
            .as_u16(),
        303
    );
    // A success counts as none of them: a hundred more are needed.
    assert_eq!(
        attempt(
            &app,
            "ada@example.com",
            keyward::clock::now() + Duration::hours(1)
        )
        .await,
        Verdict::Proceed
    );
}

#[actix_web::test]
async fn refused_attempts_are_audited_as_a_summary_not_a_row_each() {
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
    for _ in 0..50 {
        assert_eq!(
            app.sign_in("ada@example.com", "wrong password here")
                .await
                .status()
                .as_u16(),
            429
        );
    }
    // The rest of the minute's refusals are reported by the housekeeping.
    let now = keyward::clock::now();
    app.db()
        .run(move |conn| write_tx(conn, |conn| sign_in::tidy(conn, now)))
        .await
        .unwrap();
    let summaries = app.audit_changes("admin.sign_in_throttled").await;
    assert!(summaries.len() <= 2, "{summaries:?}");
    let refused: i64 = summaries
        .iter()
        .map(|c| c["refused"].as_i64().unwrap())
        .sum();
    assert_eq!(refused, 50);
    let failed = app
        .audit_actions()
        .await
        .iter()
        .filter(|(a, _, _)| a == "admin.sign_in_failed")
        .count();
    assert_eq!(failed, 5);
}
