//! Admin accounts: invitations, two-factor sign-in with TOTP (codes made by
//! `pyotp`, an independent RFC 6238 implementation), recovery codes, step-up
//! before sensitive changes, the two-factor requirement, disabling, the last
//! full-access admin, password changes and resets, the new-address email.

use keyward::db::models::Role;

use crate::helpers::{
    PASSWORD, TestApp, csrf_in, error_summary, hidden_value, html_unescape, location, spawn_app,
};
use crate::users::{last_link, outbox};

/// The code an authenticator app shows now for a base32 `secret`, made by
/// pyotp (RFC 6238 with the defaults every app uses: SHA-1, 6 digits, 30 s).
pub fn pyotp_code(secret: &str, offset_steps: i64) -> String {
    let secret: String = secret.split_whitespace().collect();
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, time, pyotp; print(pyotp.TOTP(sys.argv[1]).at(int(time.time()) + 30 * int(sys.argv[2])))",
            &secret,
            &offset_steps.to_string(),
        ])
        .output()
        .expect("python3 runs (pip install pyotp)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The text of `<code id="totp-secret">` on the enrolment page.
pub fn shown_secret(html: &str) -> String {
    let start = html.find("id=\"totp-secret\"").expect("the key is shown");
    let start = html[start..].find('>').unwrap() + start + 1;
    let end = html[start..].find('<').unwrap() + start;
    html[start..end].to_owned()
}

/// Signs out the client's session.
async fn sign_out(app: &TestApp) {
    let response = app.post_form("/logout", &[]).await;
    assert_eq!(response.status(), 303);
}

/// Turns on TOTP for the signed-in admin; the shown secret.
async fn enrol_totp(app: &TestApp) -> String {
    // The security page's own token: it is the one page an admin who must
    // enrol can open.
    let page = app.get_html("/account/security", 200).await;
    let response = app
        .post_raw("/account/security/totp", &[("csrf_token", &csrf_in(&page))])
        .await;
    assert_eq!(response.status(), 303);
    let page = app.get_html("/account/security", 200).await;
    assert!(page.contains("<svg"), "a QR code drawn on the server");
    let secret = shown_secret(&page);
    let response = app
        .post_raw(
            "/account/security/totp/confirm",
            &[
                ("csrf_token", &csrf_in(&page)),
                ("code", &pyotp_code(&secret, 0)),
            ],
        )
        .await;
    assert_eq!(response.status(), 303, "the first code confirms");
    secret
}

/// The recovery codes shown once after the first second factor.
fn shown_codes(html: &str) -> Vec<String> {
    let Some(start) = html.find("id=\"recovery-codes\"") else {
        return Vec::new();
    };
    let end = html[start..].find("</ul>").unwrap() + start;
    html[start..end]
        .split("<li>")
        .skip(1)
        .map(|li| li.split("</li>").next().unwrap().to_owned())
        .collect()
}

/// Moves the session's last proof of identity `seconds` into the past, as
/// if that much time had gone by.
async fn age_session(app: &TestApp, seconds: i64) {
    let header = app.cookie_header();
    let value = header
        .split("; ")
        .find_map(|c| c.strip_prefix("keyward_session="))
        .expect("a session cookie");
    age_session_cookie(app, value, seconds).await;
}

/// The same for the session of a `keyward_session` cookie's value.
pub async fn age_session_cookie(app: &TestApp, cookie: &str, seconds: i64) {
    let id = keyward::auth::session_row_id(&session_key(cookie));
    app.db()
        .run(move |conn| {
            use diesel::prelude::*;
            use keyward::db::schema::sessions;
            let state: String = match conn {
                keyward::db::DbConn::Sqlite(c) => {
                    sessions::table.find(&id).select(sessions::state).first(c)
                }
                keyward::db::DbConn::Postgres(c) => {
                    sessions::table.find(&id).select(sessions::state).first(c)
                }
            }?;
            let mut map: std::collections::HashMap<String, String> =
                serde_json::from_str(&state).unwrap();
            let at: i64 = serde_json::from_str(&map["auth_at"]).unwrap();
            map.insert("auth_at".to_owned(), (at - seconds).to_string());
            let state = serde_json::to_string(&map).unwrap();
            let update = diesel::update(sessions::table.find(&id)).set(sessions::state.eq(state));
            match conn {
                keyward::db::DbConn::Sqlite(c) => update.execute(c),
                keyward::db::DbConn::Postgres(c) => update.execute(c),
            }
            .map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
}

/// The session key inside a signed session cookie's value.
fn session_key(value: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .unwrap()
        .into_owned();
    // actix's signed cookie: a 44-character signature, then the value.
    decoded[44..].to_owned()
}

#[actix_web::test]
async fn an_invited_admin_joins_enrols_totp_and_signs_in_with_password_and_code() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let response = app
        .post_form(
            "/admins",
            &[("email", "ada@example.com"), ("role", "limited")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let page = app.get_html("/admins", 200).await;
    assert!(page.contains("An invitation was sent to ada@example.com"));
    assert!(page.contains("id=\"invitations\""));
    let mail = outbox(&app).pop().unwrap();
    assert_eq!(mail.to, ["ada@example.com"]);
    assert!(!mail.text.contains("keyward_session"));
    let link = last_link(&app);
    assert!(link.starts_with("/admins/invitation?token="), "{link}");

    // Ada, in her own browser.
    let ada = app.sibling().await;
    let form = ada.get_html(&link, 200).await;
    assert!(form.contains("ada@example.com"));
    let token = hidden_value(&form, "token").unwrap();
    let weak = ada
        .post_raw(
            "/admins/invitation",
            &[
                ("csrf_token", &csrf_in(&form)),
                ("token", &token),
                ("password", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(
        weak.status(),
        422,
        "a weak password is refused with its reason"
    );
    let strong = "a long and unusual phrase for ada";
    let done = ada
        .post_raw(
            "/admins/invitation",
            &[
                ("csrf_token", &csrf_in(&form)),
                ("token", &token),
                ("password", strong),
                ("confirm", strong),
            ],
        )
        .await;
    assert_eq!(location(&done), "/login");
    // The link works once.
    assert_eq!(ada.get(&link).await.status(), 404);

    let signed_in = ada.sign_in("ada@example.com", strong).await;
    assert_eq!(signed_in.status(), 303);
    let secret = enrol_totp(&ada).await;
    let page = ada.get_html("/account/security", 200).await;
    let codes = shown_codes(&page);
    assert_eq!(codes.len(), 10, "ten recovery codes, shown once");
    assert!(shown_codes(&ada.get_html("/account/security", 200).await).is_empty());
    assert!(page.contains("10 unused recovery codes left"));
    sign_out(&ada).await;

    // Password first: nothing is signed in until the code.
    let first = ada.sign_in("ada@example.com", strong).await;
    assert_eq!(location(&first), "/login/verify");
    assert_eq!(
        location(&ada.get("/settings").await),
        "/login?next=%2Fsettings"
    );
    let verify = ada.get_html("/login/verify", 200).await;
    let wrong = ada
        .post_raw(
            "/login/verify",
            &[("csrf_token", &csrf_in(&verify)), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status(), 422);
    // The next step's code: this step's was taken by the enrolment.
    let code = pyotp_code(&secret, 1);
    let right = ada
        .post_raw(
            "/login/verify",
            &[("csrf_token", &csrf_in(&verify)), ("code", &code)],
        )
        .await;
    assert_eq!(right.status(), 303);
    assert_eq!(ada.get("/settings").await.status(), 200, "signed in");
    sign_out(&ada).await;

    // The same code again is refused (RFC 6238 §5.2).
    ada.sign_in("ada@example.com", strong).await;
    let verify = ada.get_html("/login/verify", 200).await;
    let replayed = ada
        .post_raw(
            "/login/verify",
            &[("csrf_token", &csrf_in(&verify)), ("code", &code)],
        )
        .await;
    assert_eq!(replayed.status(), 422);
    assert!(html_unescape(&replayed.text().await.unwrap()).contains("used already"));
    // A recovery code works once.
    let recovered = ada
        .post_raw(
            "/login/verify",
            &[("csrf_token", &csrf_in(&verify)), ("code", &codes[0])],
        )
        .await;
    assert_eq!(recovered.status(), 303);
    sign_out(&ada).await;
    ada.sign_in("ada@example.com", strong).await;
    let verify = ada.get_html("/login/verify", 200).await;
    let again = ada
        .post_raw(
            "/login/verify",
            &[("csrf_token", &csrf_in(&verify)), ("code", &codes[0])],
        )
        .await;
    assert_eq!(again.status(), 422);

    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    for wanted in [
        "admin.invited",
        "admin.joined",
        "admin.totp_enabled",
        "admin.recovery_codes_generated",
        "admin.second_factor_failed",
        "admin.recovery_code_used",
    ] {
        assert!(
            actions.iter().any(|a| a == wanted),
            "{wanted} in {actions:?}"
        );
    }
}

#[actix_web::test]
async fn a_sensitive_change_six_minutes_after_sign_in_asks_for_the_second_factor_first() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let secret = enrol_totp(&app).await;
    let created = app
        .create_app("Billing", "external_webstore", &["services:read"], &[])
        .await;
    let key_id = app.key_ids(&created.id).await[0].clone();
    let inactivated = app
        .post_form(
            &format!("/apps/{}/keys/{key_id}/inactivate", created.id),
            &[],
        )
        .await;
    assert_eq!(inactivated.status(), 303);
    age_session(&app, 6 * 60).await;

    let path = format!("/apps/{}/keys/{key_id}/delete", created.id);
    let asked = app.post_form(&path, &[("confirm", "yes")]).await;
    assert_eq!(asked.status(), 200);
    let page = asked.text().await.unwrap();
    assert!(page.contains("Confirm it is you"), "{page}");
    assert!(
        page.contains("name=\"confirm\" value=\"yes\""),
        "what was entered is kept"
    );
    assert_eq!(
        app.key_ids(&created.id).await.len(),
        1,
        "nothing deleted yet"
    );

    let wrong = app
        .post_raw(
            &path,
            &[
                ("csrf_token", &csrf_in(&page)),
                ("confirm", "yes"),
                ("stepup_code", "123456"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 422);
    assert_eq!(app.key_ids(&created.id).await.len(), 1);

    let done = app
        .post_raw(
            &path,
            &[
                ("csrf_token", &csrf_in(&page)),
                ("confirm", "yes"),
                ("stepup_code", &pyotp_code(&secret, 1)),
            ],
        )
        .await;
    assert_eq!(done.status(), 303, "the delete completes");
    assert!(app.key_ids(&created.id).await.is_empty());
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.iter().any(|a| a == "admin.stepped_up"));
    assert!(actions.iter().any(|a| a == "key.deleted"));
}

#[actix_web::test]
async fn with_two_factor_required_an_admin_without_one_reaches_only_enrolment() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let response = app
        .post_form("/settings/security", &[("require_two_factor", "on")])
        .await;
    assert_eq!(response.status(), 303);
    let other = app.sibling().await;
    other.create_admin("bo@example.com", Role::Full).await;
    let signed_in = other.sign_in("bo@example.com", PASSWORD).await;
    assert_eq!(signed_in.status(), 303);
    for path in [
        "/apps",
        "/settings",
        "/audit",
        "/account",
        "/admins",
        "/staff",
    ] {
        assert_eq!(
            location(&other.get(path).await),
            "/account/security",
            "{path}"
        );
    }
    let page = other.get_html("/account/security", 200).await;
    assert!(page.contains("id=\"enrol-required\""));
    enrol_totp(&other).await;
    assert_eq!(
        other.get("/apps").await.status(),
        200,
        "enrolled: everything opens"
    );
}

#[actix_web::test]
async fn disabling_an_admin_ends_their_session_on_another_instance() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let other = app.sibling().await;
    other.create_admin("cy@example.com", Role::Full).await;
    assert_eq!(
        other.sign_in("cy@example.com", PASSWORD).await.status(),
        303
    );
    assert_eq!(other.get("/apps").await.status(), 200);

    let page = app.get_html("/admins", 200).await;
    let at = page.find("cy@example.com").unwrap();
    let id_start = page[at..].find("/admins/").unwrap() + at + "/admins/".len();
    let id = &page[id_start..id_start + 36];
    let response = app.post_form(&format!("/admins/{id}/disable"), &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&other.get("/apps").await), "/login?next=%2Fapps");
    let refused = other.sign_in("cy@example.com", PASSWORD).await;
    assert_eq!(refused.status(), 403);
}

#[actix_web::test]
async fn the_last_full_access_admin_cannot_be_demoted_disabled_or_removed() {
    let app = spawn_app().await;
    let me = app.signed_in_admin().await;
    let other = app.create_admin("dee@example.com", Role::Full).await;
    // Acting on oneself is refused.
    let response = app
        .post_form(&format!("/admins/{}/role", me.id), &[("role", "limited")])
        .await;
    assert_eq!(response.status(), 303);
    assert!(
        app.get_html("/admins", 200)
            .await
            .contains("cannot change the role of your own account")
    );
    // Demote the other, then she cannot demote or remove me: I am the last.
    app.post_form(
        &format!("/admins/{}/role", other.id),
        &[("role", "limited")],
    )
    .await;
    let org = app.org_id().await;
    let (id, actor) = (
        me.id.clone(),
        keyward::db::models::Actor {
            id: Some(other.id.clone()),
            ..keyward::db::models::Actor::system("test")
        },
    );
    let refused = app
        .db()
        .run(move |conn| {
            keyward::db::write_tx(conn, |conn| {
                keyward::services::admins::remove(conn, &org, &id, &actor)
            })
        })
        .await;
    assert_eq!(refused.unwrap_err().code(), "last_full_admin");
}

#[actix_web::test]
async fn a_password_change_ends_other_sessions_and_a_reset_link_sets_a_new_one() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let elsewhere = app.sibling().await;
    assert_eq!(
        elsewhere
            .sign_in("admin@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let account = app.get_html("/account", 200).await;
    assert!(account.contains("This session"));
    assert_eq!(
        account.matches("Sign out the session").count(),
        1,
        "the other session is listed"
    );

    let new = "another long and unusual phrase";
    let wrong = app
        .post_form(
            "/account/password",
            &[("current", "nope"), ("password", new), ("confirm", new)],
        )
        .await;
    assert_eq!(wrong.status(), 422);
    assert!(
        error_summary(&wrong.text().await.unwrap())
            .iter()
            .any(|(_, m)| m.contains("not your current password"))
    );
    let changed = app
        .post_form(
            "/account/password",
            &[("current", PASSWORD), ("password", new), ("confirm", new)],
        )
        .await;
    assert_eq!(changed.status(), 303);
    assert_eq!(app.get("/apps").await.status(), 200, "this session stays");
    assert_eq!(
        location(&elsewhere.get("/apps").await),
        "/login?next=%2Fapps"
    );

    // Forgot password: the same answer for an unknown address, one email for a known one.
    sign_out(&app).await;
    let before = outbox(&app).len();
    let unknown = app
        .post_form("/login/forgot", &[("email", "nobody@example.com")])
        .await;
    let known = app
        .post_form("/login/forgot", &[("email", "admin@example.com")])
        .await;
    assert_eq!(unknown.status(), 200);
    assert_eq!(known.status(), 200);
    let (a, b) = (unknown.text().await.unwrap(), known.text().await.unwrap());
    assert!(a.contains("id=\"forgot-sent\"") && b.contains("id=\"forgot-sent\""));
    for _ in 0..50 {
        if outbox(&app).len() > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(outbox(&app).len(), before + 1);
    let link = last_link(&app);
    assert!(link.starts_with("/login/reset?token="));
    let form = app.get_html(&link, 200).await;
    let third = "a third long and unusual phrase";
    let reset = app
        .post_raw(
            "/login/reset",
            &[
                ("csrf_token", &csrf_in(&form)),
                ("token", &hidden_value(&form, "token").unwrap()),
                ("password", third),
                ("confirm", third),
            ],
        )
        .await;
    assert_eq!(location(&reset), "/login");
    assert_eq!(app.sign_in("admin@example.com", new).await.status(), 422);
    assert_eq!(app.sign_in("admin@example.com", third).await.status(), 303);
}

/// Signs in through the form as if from `ip` (behind a trusted proxy).
async fn sign_in_from(app: &TestApp, email: &str, password: &str, ip: &str) -> reqwest::Response {
    let token = csrf_in(&app.get_html("/login", 200).await);
    app.client
        .post(app.url("/login"))
        .header("x-forwarded-for", ip)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_html_form::to_string([
                ("email", email),
                ("password", password),
                ("csrf_token", &token),
            ])
            .unwrap(),
        )
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_sign_in_from_a_new_address_is_announced_by_email() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    app.create_admin("ada@example.com", Role::Full).await;
    // The first sign-in ever is no news; the same address again neither.
    for _ in 0..2 {
        let response = sign_in_from(&app, "ada@example.com", PASSWORD, "203.0.113.5").await;
        assert_eq!(response.status(), 303);
        sign_out(&app).await;
    }
    assert!(outbox(&app).is_empty());
    let response = sign_in_from(&app, "ada@example.com", PASSWORD, "198.51.100.7").await;
    assert_eq!(response.status(), 303);
    let mails = outbox(&app);
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["ada@example.com"]);
    assert!(mails[0].subject.contains("a new sign-in"));
    assert!(mails[0].text.contains("198.51.100.7"));
    assert!(mails[0].text.contains(&format!("{}/account", app.address)));
    let account = app.get_html("/account", 200).await;
    assert!(
        account.contains("198.51.100.7"),
        "the session lists its address"
    );
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert!(actions.iter().any(|a| a == "admin.new_address"));
}

#[actix_web::test]
async fn wrong_codes_are_throttled_apart_from_the_password() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    enrol_totp(&app).await;
    sign_out(&app).await;
    assert_eq!(
        location(&app.sign_in("admin@example.com", PASSWORD).await),
        "/login/verify"
    );
    let verify = app.get_html("/login/verify", 200).await;
    let token = csrf_in(&verify);
    for _ in 0..5 {
        let wrong = app
            .post_raw(
                "/login/verify",
                &[("csrf_token", &token), ("code", "000000")],
            )
            .await;
        assert_eq!(wrong.status(), 422);
    }
    let throttled = app
        .post_raw(
            "/login/verify",
            &[("csrf_token", &token), ("code", "000000")],
        )
        .await;
    assert_eq!(throttled.status(), 429);
    assert!(throttled.headers().contains_key("retry-after"));
    // A right password again does not reset the count of wrong codes.
    sign_out(&app).await;
    app.sign_in("admin@example.com", PASSWORD).await;
    let verify = app.get_html("/login/verify", 200).await;
    let still = app
        .post_raw(
            "/login/verify",
            &[("csrf_token", &csrf_in(&verify)), ("code", "000000")],
        )
        .await;
    assert_eq!(still.status(), 429);
}

#[actix_web::test]
async fn a_disabled_admins_api_token_stops_working() {
    let app = spawn_app().await;
    let admin = app.signed_in_admin().await;
    let token = crate::manage::admin_token(&app, "CI", &["manage:apps:read"]).await;
    let (status, _, _) =
        crate::manage::curl(&app, "GET", "/api/v1/manage/apps", &token, None, None).await;
    assert_eq!(status, 200);
    let org = app.org_id().await;
    let id = admin.id.clone();
    app.db()
        .run(move |conn| {
            keyward::db::write_tx(conn, |conn| {
                // Another full-access admin disables this one.
                let other = keyward::services::admins::create(
                    conn,
                    &org,
                    &keyward::domain::EmailAddress::parse("eve@example.com").unwrap(),
                    "x",
                    Role::Full,
                    &keyward::db::models::Actor::system("test"),
                )?;
                let actor = keyward::db::models::Actor {
                    id: Some(other.id),
                    ..keyward::db::models::Actor::system("test")
                };
                keyward::services::admins::set_disabled(
                    conn,
                    &org,
                    &id,
                    true,
                    &actor,
                    keyward::clock::now(),
                )
            })
        })
        .await
        .unwrap();
    let (status, _, _) =
        crate::manage::curl(&app, "GET", "/api/v1/manage/apps", &token, None, None).await;
    assert_eq!(status, 401);
}

#[actix_web::test]
async fn an_admin_without_a_second_factor_confirms_with_the_password() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    age_session(&app, 6 * 60).await;
    let asked = app
        .post_form("/admins", &[("email", "fay@example.com"), ("role", "full")])
        .await;
    assert_eq!(asked.status(), 200);
    let page = asked.text().await.unwrap();
    assert!(
        page.contains("name=\"stepup_password\""),
        "the password is asked"
    );
    assert!(
        page.contains("value=\"fay@example.com\""),
        "what was entered is kept"
    );
    let token = csrf_in(&page);
    let with = |password: &'static str| {
        [
            ("csrf_token", token.clone()),
            ("email", "fay@example.com".to_owned()),
            ("role", "full".to_owned()),
            ("stepup_password", password.to_owned()),
        ]
    };
    let send = |password: &'static str| {
        let fields = with(password);
        let app = &app;
        async move {
            let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post_raw("/admins", &pairs).await
        }
    };
    let wrong = send("not my password").await;
    assert_eq!(wrong.status(), 422);
    assert!(outbox(&app).is_empty(), "nothing sent");
    let right = send(PASSWORD).await;
    assert_eq!(location(&right), "/admins");
    assert_eq!(outbox(&app).pop().unwrap().to, ["fay@example.com"]);
    // Confirmed: the next change within five minutes goes straight through.
    let next = app
        .post_form(
            "/admins",
            &[("email", "gus@example.com"), ("role", "limited")],
        )
        .await;
    assert_eq!(location(&next), "/admins");
}

#[actix_web::test]
async fn an_admin_signs_out_another_session_and_makes_new_recovery_codes() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let elsewhere = app.sibling().await;
    assert_eq!(
        elsewhere
            .sign_in("admin@example.com", PASSWORD)
            .await
            .status(),
        303
    );
    let account = app.get_html("/account", 200).await;
    let at = account
        .find("/account/sessions/")
        .expect("the other session's button");
    let start = at + "/account/sessions/".len();
    let id = &account[start..start + 64];
    let ended = app
        .post_form(&format!("/account/sessions/{id}/end"), &[])
        .await;
    assert_eq!(location(&ended), "/account");
    assert_eq!(
        location(&elsewhere.get("/apps").await),
        "/login?next=%2Fapps"
    );
    assert_eq!(app.get("/apps").await.status(), 200, "this one stays");
    // Another admin's session, or one already ended, is not found.
    let again = app
        .post_form(&format!("/account/sessions/{id}/end"), &[])
        .await;
    assert_eq!(again.status(), 404);

    // Recovery codes: none without a second factor, then new ones replace the old.
    let refused = app.post_form("/account/security/recovery-codes", &[]).await;
    assert_eq!(location(&refused), "/account/security");
    assert!(
        app.get_html("/account/security", 200)
            .await
            .contains("Add an authenticator app or a passkey first")
    );
    enrol_totp(&app).await;
    let first = shown_codes(&app.get_html("/account/security", 200).await);
    assert_eq!(first.len(), 10);
    let made = app.post_form("/account/security/recovery-codes", &[]).await;
    assert_eq!(made.status(), 303);
    let second = shown_codes(&app.get_html("/account/security", 200).await);
    assert_eq!(second.len(), 10);
    assert!(first.iter().all(|c| !second.contains(c)), "all new");
    // An old code no longer signs in; a new one does.
    sign_out(&app).await;
    app.sign_in("admin@example.com", PASSWORD).await;
    let verify = app.get_html("/login/verify", 200).await;
    let old = app
        .post_raw(
            "/login/verify",
            &[("csrf_token", &csrf_in(&verify)), ("code", &first[0])],
        )
        .await;
    assert_eq!(old.status(), 422);
    let new = app
        .post_raw(
            "/login/verify",
            &[("csrf_token", &csrf_in(&verify)), ("code", &second[0])],
        )
        .await;
    assert_eq!(new.status(), 303);
}
