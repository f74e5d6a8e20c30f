//! App users' credentials: an employee invited from the Staff page sets a
//! password through the emailed one-time link; resets, expiry, leaving.

use std::sync::Arc;

use keyward::db::DbError;
use keyward::db::models::Role;
use reqwest::cookie::Jar;

use crate::helpers::{TestApp, client_with, csrf_in, html_unescape, location, spawn_app};

pub const NEW_PASSWORD: &str = "violet kettle sings at dawn";

/// Adds an employee through the Staff page and returns their id.
pub async fn add_employee(app: &TestApp, name: &str, email: &str) -> String {
    let response = app
        .post_form("/staff", &[("name", name), ("email", email)])
        .await;
    assert_eq!(location(&response), "/staff");
    let page = app.get_html("/staff", 200).await;
    let at = page.find(&format!("{name}</th>")).expect("the row");
    let start = page[at..].find("/staff/").unwrap() + at + "/staff/".len();
    page[start..start + 36].to_owned()
}

/// Every email in the outbox, oldest first.
pub fn outbox(app: &TestApp) -> Vec<crate::smtp::Mail> {
    let dir = app.state.settings.outbox_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort_by_key(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok());
    files
        .iter()
        .map(|f| crate::smtp::parse(&std::fs::read(f).unwrap()))
        .collect()
}

/// The one-time link of the last email, as a path with its query.
pub fn last_link(app: &TestApp) -> String {
    let mails = outbox(app);
    let text = &mails.last().expect("an email").text;
    // Links name the public URL, which instances behind one address share.
    let public = app.state.settings.public_url.as_str().trim_end_matches('/');
    let start = text.find(public).expect("a link to Keyward") + public.len();
    let end = text[start..]
        .find(char::is_whitespace)
        .map_or(text.len(), |e| e + start);
    text[start..end].to_owned()
}

/// A browser of its own: the employee, who is not signed in to the console.
pub fn visitor() -> reqwest::Client {
    client_with(Arc::new(Jar::default()))
}

/// The status of opening `link` in `client`.
async fn opened(app: &TestApp, client: &reqwest::Client, link: &str) -> u16 {
    client
        .get(app.url(link))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Opens the link and submits the form with these passwords.
pub async fn choose_password(
    app: &TestApp,
    client: &reqwest::Client,
    link: &str,
    password: &str,
    confirm: &str,
) -> (u16, String) {
    let page = client.get(app.url(link)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200, "GET {link}");
    let html = page.text().await.unwrap();
    let token = html_unescape(&crate::helpers::hidden_value(&html, "token").unwrap());
    let body = serde_html_form::to_string([
        ("csrf_token", csrf_in(&html).as_str()),
        ("token", token.as_str()),
        ("password", password),
        ("confirm", confirm),
    ])
    .unwrap();
    let response = client
        .post(app.url("/users/password"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

/// The stored password hash of an employee, if any.
async fn stored_hash(app: &TestApp, employee: &str) -> Option<String> {
    use diesel::prelude::*;
    use keyward::db::schema::user_credentials::dsl::*;
    let wanted = format!("employee:{employee}");
    app.db()
        .run(move |conn| {
            user_credentials
                .find(wanted)
                .select(password_hash)
                .first::<Option<String>>(conn)
                .optional()
                .map_err(DbError::from)
        })
        .await
        .unwrap()
        .flatten()
}

#[actix_web::test]
async fn an_invited_employee_sets_a_password_through_the_link_once() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let id = add_employee(&app, "Ana Silva", "ana@salon.example").await;
    assert!(app.get_html("/staff", 200).await.contains("Not invited"));

    let response = app.post_form(&format!("/staff/{id}/invitation"), &[]).await;
    assert_eq!(location(&response), "/staff");
    let page = app.get_html("/staff", 200).await;
    assert!(page.contains("A sign-in invitation was sent to Ana Silva (ana@salon.example)"));
    assert!(page.contains("Link sent, no password yet"));
    let mails = outbox(&app);
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["ana@salon.example"]);
    assert!(mails[0].subject.contains("your sign-in invitation"));
    assert!(
        mails[0].text.contains("Hello Ana Silva") && mails[0].html.contains("Choose your password")
    );
    let link = last_link(&app);
    assert!(link.starts_with("/users/password?token="), "{link}");
    let token = link.trim_start_matches("/users/password?token=").to_owned();

    // The employee's own browser: wrong inputs change nothing.
    let employee = visitor();
    let (status, body) = choose_password(&app, &employee, &link, "short", "short").await;
    assert_eq!(status, 422);
    assert!(
        body.contains("At least 12 characters") || body.contains("at least 12"),
        "{body}"
    );
    let (status, body) = choose_password(
        &app,
        &employee,
        &link,
        NEW_PASSWORD,
        "violet kettle sings at dusk",
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("The two passwords differ."));
    let (status, body) =
        choose_password(&app, &employee, &link, "qwerty123456", "qwerty123456").await;
    assert_eq!(status, 422, "a common password is refused: {body}");
    assert_eq!(stored_hash(&app, &id).await, None);

    let (status, body) = choose_password(&app, &employee, &link, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Password set"));
    let hash = stored_hash(&app, &id).await.expect("a hash");
    assert!(hash.starts_with("$argon2id$") && !hash.contains("violet"));

    // Once only.
    let again = employee.get(app.url(&link)).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 404);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("This link cannot be used")
    );

    assert!(app.get_html("/staff", 200).await.contains("Password set"));
    let actions = app.audit_actions().await;
    let invited = actions
        .iter()
        .find(|(a, _, _)| a == "user.invited")
        .unwrap();
    assert_eq!(invited.2.as_deref(), Some("Ana Silva"));
    let set = actions
        .iter()
        .find(|(a, _, _)| a == "user.password_set")
        .unwrap();
    assert_eq!(set.1, "employee ana@salon.example");
    // Neither the link's token nor the password is kept anywhere.
    let dump = app.database_dump().await;
    assert!(!dump.contains(&token) && !dump.contains(NEW_PASSWORD));
}

#[actix_web::test]
async fn a_reset_ends_the_password_and_a_new_link_replaces_the_old_one() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let id = add_employee(&app, "Bea Costa", "bea@salon.example").await;
    app.post_form(&format!("/staff/{id}/invitation"), &[]).await;
    let first = last_link(&app);
    app.post_form(&format!("/staff/{id}/invitation"), &[]).await;
    let second = last_link(&app);
    assert_ne!(first, second);
    let employee = visitor();
    let replaced = employee.get(app.url(&first)).send().await.unwrap();
    assert_eq!(
        replaced.status().as_u16(),
        404,
        "the first link was replaced"
    );
    let (status, _) = choose_password(&app, &employee, &second, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 200);

    // An invitation is for a user without a password: the admin resets instead.
    app.post_form(&format!("/staff/{id}/invitation"), &[]).await;
    assert!(
        html_unescape(&app.get_html("/staff", 200).await)
            .contains("This user has set a password already: reset it instead.")
    );
    let response = app
        .post_form(&format!("/staff/{id}/password-reset"), &[])
        .await;
    assert_eq!(location(&response), "/staff");
    assert_eq!(
        stored_hash(&app, &id).await,
        None,
        "the old password ends at once"
    );
    let mail = outbox(&app).pop().unwrap();
    assert!(mail.subject.contains("choose a new password"));
    assert!(
        mail.text
            .contains("Your old password and every sign-in made with it have stopped working")
    );
    let reset = last_link(&app);
    let (status, body) = choose_password(&app, &employee, &reset, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert!(stored_hash(&app, &id).await.is_some());
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    assert_eq!(actions.iter().filter(|a| *a == "user.invited").count(), 2);
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "user.password_reset")
            .count(),
        1
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "user.password_set").count(),
        2
    );
}

#[actix_web::test]
async fn links_expire_after_a_day_and_die_when_the_employee_leaves() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let id = add_employee(&app, "Caio Reis", "caio@salon.example").await;
    app.post_form(&format!("/staff/{id}/invitation"), &[]).await;
    let link = last_link(&app);
    let employee = visitor();
    assert_eq!(opened(&app, &employee, &link).await, 200);
    // A day later.
    {
        use diesel::prelude::*;
        use keyward::db::schema::user_links::dsl::*;
        let past = keyward::clock::now() - time::Duration::seconds(1);
        app.db()
            .run(move |conn| {
                diesel::update(user_links)
                    .set(expires_at.eq(past))
                    .execute(conn)
                    .map_err(DbError::from)
            })
            .await
            .unwrap();
    }
    assert_eq!(opened(&app, &employee, &link).await, 404);

    // A fresh link dies when the employee leaves, and no new one is sent.
    app.post_form(&format!("/staff/{id}/invitation"), &[]).await;
    let fresh = last_link(&app);
    app.post_form(&format!("/staff/{id}/left"), &[]).await;
    assert_eq!(opened(&app, &employee, &fresh).await, 404);
    let sent = outbox(&app).len();
    app.post_form(&format!("/staff/{id}/invitation"), &[]).await;
    assert!(
        app.get_html("/staff", 200)
            .await
            .contains("This employee has left the organization: they cannot sign in.")
    );
    assert_eq!(outbox(&app).len(), sent);

    // Made-up, malformed and oversized tokens get the same page.
    for bad in ["nope", "%00", &"a".repeat(500), ""] {
        let response = employee
            .get(app.url(&format!("/users/password?token={bad}")))
            .send()
            .await
            .unwrap();
        assert!(matches!(response.status().as_u16(), 400 | 404), "{bad}");
    }
}

#[actix_web::test]
async fn two_submissions_of_one_link_set_one_password() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let id = add_employee(&app, "Dora Lima", "dora@salon.example").await;
    app.post_form(&format!("/staff/{id}/invitation"), &[]).await;
    let link = last_link(&app);
    let (a, b) = (visitor(), visitor());
    let (first, second) = tokio::join!(
        choose_password(&app, &a, &link, NEW_PASSWORD, NEW_PASSWORD),
        choose_password(
            &app,
            &b,
            &link,
            "another passphrase of mine",
            "another passphrase of mine"
        ),
    );
    let mut statuses = [first.0, second.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 404], "{first:?} {second:?}");
    let sets = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|a| a.0 == "user.password_set")
        .count();
    assert_eq!(sets, 1);
}

#[actix_web::test]
async fn only_full_access_admins_send_links() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let id = add_employee(&app, "Eva Nunes", "eva@salon.example").await;
    let limited = app.sibling().await;
    limited.signed_in_as("lim@example.com", Role::Limited).await;
    let page = limited.get_html("/staff", 200).await;
    assert!(!page.contains("Send invitation"));
    let response = limited
        .post_form(&format!("/staff/{id}/invitation"), &[])
        .await;
    assert_eq!(response.status().as_u16(), 403);
    assert!(outbox(&app).is_empty());
    // An unknown employee.
    let response = app
        .post_form(
            "/staff/00000000-0000-0000-0000-000000000000/invitation",
            &[],
        )
        .await;
    assert_eq!(response.status().as_u16(), 404);
}

/// Adds guests straight to the database (as an app would through the API).
pub async fn add_guests(app: &TestApp, guests: &[(&str, &str, Option<&str>)]) -> Vec<String> {
    use keyward::db::models::platform::Guest;
    let org = app.org_id().await;
    let rows: Vec<Guest> = guests
        .iter()
        .map(|(first, last, email)| {
            let now = keyward::clock::now();
            Guest {
                id: keyward::domain::GuestId::generate(),
                organization_id: org.clone(),
                first_name: (*first).to_owned(),
                last_name: (*last).to_owned(),
                email: email.map(str::to_owned),
                phone: None,
                created_at: now,
                updated_at: now,
            }
        })
        .collect();
    let ids = rows.iter().map(|g| g.id.to_string()).collect();
    app.db()
        .run(move |conn| {
            for g in &rows {
                Guest::insert(conn, g)?;
            }
            Ok::<_, DbError>(())
        })
        .await
        .unwrap();
    ids
}

#[actix_web::test]
async fn the_guests_page_searches_and_pages_through_every_guest() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    assert!(app.get_html("/guests", 200).await.contains("No guests yet"));
    let many: Vec<(String, String)> = (0..55)
        .map(|i| (format!("Guest{i:02}"), format!("g{i:02}@example.com")))
        .collect();
    let list: Vec<(&str, &str, Option<&str>)> = many
        .iter()
        .map(|(n, e)| (n.as_str(), "Lopes", Some(e.as_str())))
        .chain([
            ("Zélia", "Mota", None),
            ("Rui", "Vaz", Some("RUI.VAZ@Example.com")),
        ])
        .collect();
    add_guests(&app, &list).await;

    let first = app.get_html("/guests", 200).await;
    assert_eq!(first.matches("<th scope=\"row\">").count(), 50);
    assert!(first.contains("Rui Vaz"), "newest first");
    let unescaped = html_unescape(&first);
    let at = unescaped
        .find("href=\"/guests?q=&before=")
        .expect("a next page")
        + 6;
    let next = unescaped[at..].split('"').next().unwrap().to_owned();
    let second = app.get_html(&next, 200).await;
    assert_eq!(second.matches("<th scope=\"row\">").count(), 7);
    assert!(!second.contains("Next page"));
    let names = |html: &str| -> Vec<String> {
        html.split("<th scope=\"row\">")
            .skip(1)
            .map(|r| r.split('<').next().unwrap().to_owned())
            .collect()
    };
    let mut all = names(&first);
    all.extend(names(&second));
    let unique: std::collections::BTreeSet<_> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (57, 57), "no gaps, no repeats");

    // Any case, by name or by email; a guest without email is found by name.
    let found = app.get_html("/guests?q=rui.vaz%40example", 200).await;
    assert_eq!(names(&found), vec!["Rui Vaz"]);
    let found = app.get_html("/guests?q=z%C3%A9lia", 200).await;
    assert_eq!(names(&found), vec!["Zélia Mota"]);
    assert!(
        !found.contains("Send invitation"),
        "no email, no link to send"
    );
    let none = app.get_html("/guests?q=%25", 200).await;
    assert!(
        none.contains("No guest matches"),
        "% is a letter, not a wildcard"
    );
}

#[actix_web::test]
async fn a_guest_is_invited_reset_and_blocked() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let ids = add_guests(
        &app,
        &[
            ("Lia", "Reis", Some("lia@example.com")),
            ("No", "Mail", None),
        ],
    )
    .await;
    let (lia, no_mail) = (&ids[0], &ids[1]);
    app.post_form(&format!("/guests/{lia}/invitation"), &[])
        .await;
    let page = app.get_html("/guests", 200).await;
    assert!(page.contains("A sign-in invitation was sent to Lia Reis (lia@example.com)"));
    let mail = outbox(&app).pop().unwrap();
    assert!(mail.text.contains("as a guest"));
    let link = last_link(&app);
    let guest = visitor();
    let (status, _) = choose_password(&app, &guest, &link, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, 200);
    assert!(app.get_html("/guests", 200).await.contains("Password set"));

    // Blocked: the pending reset link dies and no new one is sent.
    app.post_form(&format!("/guests/{lia}/password-reset"), &[])
        .await;
    let reset = last_link(&app);
    app.post_form(&format!("/guests/{lia}/block"), &[]).await;
    let page = app.get_html("/guests", 200).await;
    assert!(page.contains("Blocked") && page.contains("Unblock"));
    assert_eq!(opened(&app, &guest, &reset).await, 404);
    let sent = outbox(&app).len();
    app.post_form(&format!("/guests/{lia}/invitation"), &[])
        .await;
    assert!(
        app.get_html("/guests", 200)
            .await
            .contains("This guest is blocked: unblock them first.")
    );
    assert_eq!(outbox(&app).len(), sent);
    app.post_form(&format!("/guests/{lia}/unblock"), &[]).await;
    assert!(
        app.get_html("/guests", 200)
            .await
            .contains("The guest may sign in again.")
    );

    app.post_form(&format!("/guests/{no_mail}/invitation"), &[])
        .await;
    assert!(
        app.get_html("/guests", 200)
            .await
            .contains("This guest has no email address to send the link to.")
    );
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    for expected in [
        "user.invited",
        "user.password_set",
        "user.password_reset",
        "user.blocked",
        "user.unblocked",
    ] {
        assert!(actions.contains(&expected.to_owned()), "{expected}");
    }
    // Made-up guests and verbs.
    let response = app
        .post_form("/guests/00000000-0000-0000-0000-000000000000/block", &[])
        .await;
    assert_eq!(response.status().as_u16(), 404);
}

#[actix_web::test]
async fn a_limited_admin_has_no_guests_page() {
    let app = spawn_app().await;
    app.signed_in_as("lim@example.com", Role::Limited).await;
    assert!(
        !app.get_html("/staff", 200)
            .await
            .contains("href=\"/guests\"")
    );
    assert_eq!(app.get("/guests").await.status().as_u16(), 403);
    let ids = add_guests(&app, &[("Lia", "Reis", Some("lia@example.com"))]).await;
    let response = app
        .post_form(&format!("/guests/{}/block", ids[0]), &[])
        .await;
    assert_eq!(response.status().as_u16(), 403);
}
