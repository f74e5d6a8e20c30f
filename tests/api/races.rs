//! Races an attacker can start: a sign-out against a request on the same cookie,
//! and many password guesses at once.

use std::sync::Arc;

use keyward::db::models::Role;
use reqwest::cookie::Jar;

use crate::helpers::{PASSWORD, TestApp, client_with, csrf_in, spawn_app};

/// A urlencoded form body.
fn form(fields: &[(&str, &str)]) -> String {
    serde_html_form::to_string(fields).unwrap()
}

/// A client of its own, signed in as `email`; returns it with its CSRF token.
async fn signed_in_client(app: &TestApp, email: &str) -> (reqwest::Client, String) {
    let client = client_with(Arc::new(Jar::default()));
    let login = client.get(app.url("/login")).send().await.unwrap();
    let token = csrf_in(&login.text().await.unwrap());
    let response = client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("email", email),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303, "signed in");
    let settings = client.get(app.url("/settings")).send().await.unwrap();
    assert_eq!(settings.status().as_u16(), 200);
    let token = csrf_in(&settings.text().await.unwrap());
    (client, token)
}

/// The `name=value` of the session cookie a response sets, if it sets one.
fn session_cookie_set(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.contains("keyward_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

#[actix_web::test]
async fn a_sign_out_stays_ended_whatever_request_races_it() {
    let app = spawn_app().await;
    app.create_admin("race@example.com", Role::Full).await;
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut resurrected = 0;
    for _ in 0..200 {
        let (client, token) = signed_in_client(&app, "race@example.com").await;
        // A state-changing request that also changes the session (it queues a
        // flash message), sent at the same moment as the sign-out.
        let change = client
            .post(app.url("/settings/organization"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("csrf_token", token.as_str()),
                ("name", "Race Salon"),
                ("time_zone", "UTC"),
            ]))
            .send();
        let sign_out = client
            .post(app.url("/logout"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("csrf_token", token.as_str())]))
            .send();
        let (change, sign_out) = tokio::join!(change, sign_out);
        let (change, sign_out) = (change.unwrap(), sign_out.unwrap());
        assert_eq!(sign_out.status().as_u16(), 303);
        // Whatever cookie the racing answer carries must not be signed in.
        if let Some(cookie) = session_cookie_set(&change) {
            let replay = bare
                .get(app.url("/settings"))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            if replay.status().as_u16() == 200 {
                resurrected += 1;
            }
        }
        // Nor is the client's own, whichever answer it kept.
        assert_eq!(
            client
                .get(app.url("/settings"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            303
        );
    }
    assert_eq!(resurrected, 0, "sign-outs undone by a racing request");
}

#[actix_web::test]
async fn concurrent_guesses_get_no_more_password_checks_than_the_throttle_allows() {
    let app = spawn_app().await;
    app.create_admin("target@example.com", Role::Full).await;
    // Each guess from a client of its own, as an attacker's would be.
    let guesses = (0..150).map(|i| {
        let url = app.url("/login");
        async move {
            let client = client_with(Arc::new(Jar::default()));
            let token = csrf_in(&client.get(&url).send().await.unwrap().text().await.unwrap());
            client
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("email", "target@example.com"),
                    ("password", format!("wrong guess {i}").as_str()),
                    ("csrf_token", &token),
                ]))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    // A password check is what a 422 ("incorrect email or password") answers;
    // the others were refused before any check (429) or shed (503).
    let checked = statuses.iter().filter(|s| **s == 422).count();
    assert!(
        statuses.iter().all(|s| [422, 429, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        checked <= keyward::services::sign_in::ACCOUNT_FREE_FAILURES as usize,
        "{checked} password checks of 150 concurrent guesses"
    );
    // And the right password is refused while the throttle holds.
    let (client, token) = {
        let client = client_with(Arc::new(Jar::default()));
        let token = csrf_in(
            &client
                .get(app.url("/login"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        (client, token)
    };
    let right = client
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("email", "target@example.com"),
            ("password", PASSWORD),
            ("csrf_token", &token),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status().as_u16(), 429);
}
