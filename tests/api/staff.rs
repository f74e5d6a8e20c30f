//! The Staff page and the key policy.

use keyward::db::models::Role;

use crate::helpers::{location, spawn_app};

#[actix_web::test]
async fn staff_are_added_edited_and_marked_as_left() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    assert!(app.get_html("/staff", 200).await.contains("No staff yet"));
    let response = app
        .post_form(
            "/staff",
            &[("name", "Ana Silva"), ("email", "Ana@Salon.example")],
        )
        .await;
    assert_eq!(location(&response), "/staff");
    let page = app.get_html("/staff", 200).await;
    assert!(page.contains("Ana Silva") && page.contains("ana@salon.example"));

    let duplicate = app
        .post_form(
            "/staff",
            &[("name", "Other"), ("email", "ana@salon.example")],
        )
        .await;
    assert_eq!(duplicate.status().as_u16(), 422);
    assert!(
        duplicate
            .text()
            .await
            .unwrap()
            .contains("Another employee has this email address.")
    );
    let bad = app
        .post_form("/staff", &[("name", ""), ("email", "nope")])
        .await;
    assert_eq!(bad.status().as_u16(), 422);
    let body = bad.text().await.unwrap();
    assert!(body.contains("Enter a name.") && body.contains("Enter an email address like"));

    let id = {
        let start = page.find("/staff/").unwrap() + "/staff/".len();
        page[start..start + 36].to_owned()
    };
    app.post_form(
        &format!("/staff/{id}/edit"),
        &[("name", "Ana S."), ("email", "ana.s@salon.example")],
    )
    .await;
    app.post_form(&format!("/staff/{id}/left"), &[]).await;
    let page = app.get_html("/staff", 200).await;
    assert!(page.contains("Ana S.") && page.contains("Left") && page.contains("Back on staff"));
    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, _, _)| a)
        .collect();
    for expected in ["staff.added", "staff.changed", "staff.status_changed"] {
        assert!(actions.contains(&expected.to_owned()), "{expected}");
    }
}

#[actix_web::test]
async fn a_limited_admin_sees_the_staff_but_cannot_change_it() {
    let app = spawn_app().await;
    app.signed_in_as("lim@example.com", Role::Limited).await;
    let page = app.get_html("/staff", 200).await;
    assert!(!page.contains("Add an employee"));
    assert_eq!(
        app.post_form("/staff", &[("name", "X"), ("email", "x@example.com")])
            .await
            .status()
            .as_u16(),
        403
    );
    for path in [
        "/settings/policy",
        "/settings/alerts",
        "/settings/organization",
        "/settings/test-email",
    ] {
        assert_eq!(
            app.post_form(path, &[]).await.status().as_u16(),
            403,
            "{path}"
        );
    }
}

#[actix_web::test]
async fn the_key_policy_fills_in_expiries_and_refuses_never_and_longer_lives() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let bad = app
        .post_form(
            "/settings/policy",
            &[("default_days", "90"), ("max_days", "30")],
        )
        .await;
    assert_eq!(bad.status().as_u16(), 422);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("cannot exceed the maximum")
    );
    let response = app
        .post_form(
            "/settings/policy",
            &[("default_days", "30"), ("max_days", "90")],
        )
        .await;
    assert_eq!(location(&response), "/settings");
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|(a, _, _)| a == "organization.policy_changed")
    );

    let created = app
        .create_app("Governed", "bot", &["services:read"], &[])
        .await;
    let in_30_days =
        keyward::clock::fmt::iso(keyward::clock::now() + time::Duration::days(30))[..10].to_owned();
    let page = app.get_html(&format!("/apps/{}", created.id), 200).await;
    assert!(
        page.contains(&format!("{in_30_days} ")),
        "the wizard's key follows the default lifetime"
    );

    let form = app
        .get_html(&format!("/apps/{}/keys/new", created.id), 200)
        .await;
    assert!(
        form.contains(r#"name="expires_in" value="30" checked"#),
        "the default lifetime is the preset chosen"
    );
    assert!(form.contains(&format!("on {in_30_days}")));
    assert!(
        !form.contains(r#"value="never""#) && !form.contains(r#"value="365""#),
        "no Never, no year beyond the maximum"
    );
    assert!(form.contains("at most 90 days"));

    let never = app
        .post_new_key(&created.id, "Forever", &["services:read"], "")
        .await;
    assert_eq!(never.status().as_u16(), 422);
    assert!(
        never
            .text()
            .await
            .unwrap()
            .contains("Keys may live at most 90 days: choose an expiry.")
    );
    let far = keyward::clock::fmt::iso(keyward::clock::now() + time::Duration::days(200))[..16]
        .to_owned();
    let too_long = app
        .post_new_key(&created.id, "Too long", &["services:read"], &far)
        .await;
    assert_eq!(too_long.status().as_u16(), 422);
    let near =
        keyward::clock::fmt::iso(keyward::clock::now() + time::Duration::days(60))[..16].to_owned();
    assert_eq!(
        app.post_new_key(&created.id, "Fine", &["services:read"], &near)
            .await
            .status()
            .as_u16(),
        200
    );
}

#[actix_web::test]
async fn look_alike_addresses_and_invisible_characters_are_refused() {
    let app = spawn_app().await;
    app.signed_in_admin().await;
    let added = app
        .post_form(
            "/staff",
            &[("name", "Ana Silva"), ("email", "admin@salon.example")],
        )
        .await;
    assert_eq!(location(&added), "/staff");
    for (name, email, expected) in [
        // Fullwidth letters are the same address once normalised.
        (
            "Fullwidth",
            "ａｄｍｉｎ@salon.example",
            "Another employee has this email",
        ),
        // A Cyrillic а looks the same in every list and email.
        (
            "Cyrillic",
            "\u{0430}dmin@salon.example",
            "looks the same as admin@salon.example",
        ),
        (
            "Hidden",
            "ad\u{200B}min2@salon.example",
            "invisible characters",
        ),
        (
            "Ana\u{202E}avlis",
            "ana2@salon.example",
            "invisible characters",
        ),
    ] {
        let response = app
            .post_form("/staff", &[("name", name), ("email", email)])
            .await;
        assert_eq!(response.status().as_u16(), 422, "{name}");
        let html = response.text().await.unwrap();
        assert!(html.contains(expected), "{name}: {expected}");
    }
    let page = app.get_html("/staff", 200).await;
    assert_eq!(
        page.matches("@salon.example").count(),
        1,
        "only the first was added"
    );
}
