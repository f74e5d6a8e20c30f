//! Many organizations on one server: the operator makes them, sets what each
//! subscription includes, suspends and resumes them; each organization's
//! admins see and reach only their own.

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::helpers::{TestApp, csrf_in, hidden_value, location, spawn_app};
use crate::users::last_link;

async fn status_of(app: &TestApp, path: &str, authorization: &str) -> (u16, String) {
    let response = app
        .api(Method::GET, path, Some(authorization))
        .send()
        .await
        .unwrap();
    if response.status().is_success() {
        return (response.status().as_u16(), String::new());
    }
    app.api_error(response).await
}

/// Asks `app` until the key gets `expected`, for at most a second after `since`.
async fn within_a_second(app: &TestApp, header: &str, expected: (u16, &str), since: Instant) {
    let deadline = since + Duration::from_secs(1);
    loop {
        let got = status_of(app, "/api/v2/services", header).await;
        if got.0 == expected.0 && got.1 == expected.1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still {got:?} a second after the change"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The operator's form for a new organization, as typed.
pub fn new_org<'a>(
    name: &'a str,
    slug: &'a str,
    email: &'a str,
    connectivity: bool,
) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("name", name),
        ("slug", slug),
        ("time_zone", "Europe/Paris"),
        ("email", email),
        ("max_apps", ""),
        ("max_keys_per_app", "20"),
        ("max_rate_per_second", ""),
    ];
    if connectivity {
        fields.push(("external_connectivity", "on"));
    }
    fields
}

/// The invited first admin accepts, in a browser of their own, and signs in.
pub async fn first_admin_joins(app: &TestApp, email: &str) -> TestApp {
    let link = last_link(app);
    assert!(link.starts_with("/admins/invitation?token="), "{link}");
    let admin = app.sibling().await;
    let form = admin.get_html(&link, 200).await;
    assert!(form.contains(email));
    let password = "a long and unusual phrase for the first admin";
    let done = admin
        .post_raw(
            "/admins/invitation",
            &[
                ("csrf_token", &csrf_in(&form)),
                ("token", &hidden_value(&form, "token").unwrap()),
                ("password", password),
                ("confirm", password),
            ],
        )
        .await;
    assert_eq!(location(&done), "/login");
    assert_eq!(admin.sign_in(email, password).await.status(), 303);
    admin
}

#[actix_web::test]
async fn the_operator_makes_two_organizations_whose_admins_each_see_only_their_own() {
    let app = spawn_app().await;
    let operator = app.operator("ops@platform.example").await;

    // Bad input changes nothing and says why, beside each field.
    let refused = operator
        .post_form(
            "/operator/organizations",
            &new_org("", "Acme Travel!", "not an email", true),
        )
        .await;
    assert_eq!(refused.status().as_u16(), 422);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Enter a name."));
    assert!(html.contains("Use only letters a to z, digits and hyphens."));
    assert!(html.contains("error-summary"));

    let made = operator
        .post_form(
            "/operator/organizations",
            &new_org("Acme Travel", "acme", "ann@acme.example", true),
        )
        .await;
    assert_eq!(made.status().as_u16(), 303);
    let acme_page = location(&made);
    let acme = first_admin_joins(&app, "ann@acme.example").await;
    let made = operator
        .post_form(
            "/operator/organizations",
            &new_org("Blue Salon", "blue", "bo@blue.example", false),
        )
        .await;
    assert_eq!(made.status().as_u16(), 303);
    let blue = first_admin_joins(&app, "bo@blue.example").await;
    // A slug is one organization's.
    let taken = operator
        .post_form(
            "/operator/organizations",
            &new_org("Acme Again", "acme", "al@acme.example", true),
        )
        .await;
    assert_eq!(taken.status().as_u16(), 422);
    assert!(
        taken
            .text()
            .await
            .unwrap()
            .contains("Another organization has this slug.")
    );

    // Each admin runs the wizard in their own organization.
    let acme_app = acme
        .create_app("Acme Booking", "bot", &["services:read"], &[])
        .await;
    let blue_app = blue
        .create_app("Blue Booking", "bot", &["services:read"], &[])
        .await;
    assert_eq!(
        status_of(
            &app,
            "/api/v2/services",
            &format!("apikey {}", acme_app.key)
        )
        .await
        .0,
        200
    );
    // The organization without the feature gets 402; its admin sees why.
    assert_eq!(
        status_of(
            &app,
            "/api/v2/services",
            &format!("apikey {}", blue_app.key)
        )
        .await,
        (402, "payment_required".to_owned())
    );
    assert!(
        blue.get_html("/apps", 200)
            .await
            .contains("connectivity-banner")
    );

    // Neither admin can see or reach the other's apps, keys or records: 404.
    for (admin, other) in [(&acme, &blue_app), (&blue, &acme_app)] {
        for page in [
            format!("/apps/{}", other.id),
            format!("/apps/{}/edit", other.id),
            format!("/apps/{}/keys/new", other.id),
        ] {
            assert_eq!(admin.get(&page).await.status().as_u16(), 404, "{page}");
        }
        let list = admin.get_html("/apps", 200).await;
        assert!(!list.contains(&other.id));
    }
    let acme_audit = acme.get_html("/audit", 200).await;
    assert!(acme_audit.contains("Acme Booking"));
    assert!(!acme_audit.contains("Blue Booking") && !acme_audit.contains("bo@blue.example"));
    let blue_audit = blue.get_html("/audit", 200).await;
    assert!(!blue_audit.contains("Acme Booking") && !blue_audit.contains("ann@acme.example"));
    // The operator's creation is in the organization's own trail too.
    assert!(blue_audit.contains("operator ops@platform.example"));

    // The operator sees both at a glance, with their apps and keys.
    let list = operator.get_html("/operator/organizations", 200).await;
    for slug in ["acme", "blue", "main"] {
        assert!(list.contains(&format!("data-slug=\"{slug}\"")), "{slug}");
    }
    let page = operator.get_html(&acme_page, 200).await;
    assert!(page.contains("<dd id=\"apps-count\">1</dd>"));
    assert!(page.contains("/o/acme</code>"), "its own issuer");

    // A limit holds on what comes next: Acme may keep its app, not add one.
    let acme_id = acme_page.rsplit('/').next().unwrap().to_owned();
    let saved = operator
        .set_features(&acme_id.as_str().into(), true, "1", "20", "")
        .await;
    assert_eq!(saved.status().as_u16(), 303);
    let over = acme
        .post_form(
            "/apps/new",
            &[
                ("name", "Second"),
                ("uri", "https://example.com"),
                ("login_user_type", "employee"),
                ("source_app", "bot"),
                ("op", "next"),
                ("nonce", "a-nonce-of-the-form-0001"),
            ],
        )
        .await;
    assert_eq!(over.status().as_u16(), 409);
    assert!(
        over.text()
            .await
            .unwrap()
            .contains("the most its subscription allows")
    );
    // A limit out of range is refused beside its field.
    let bad = operator
        .set_features(&acme_id.as_str().into(), true, "", "0", "")
        .await;
    assert_eq!(bad.status().as_u16(), 422);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("Enter a whole number from 1 to 1000.")
    );
}

#[actix_web::test]
async fn suspending_an_organization_stops_its_keys_on_every_instance_within_a_second() {
    let one = spawn_app().await;
    let header = format!("apikey {}", one.demo_key().await);
    one.signed_in_admin().await;
    let two = one.sibling().await;
    for app in [&one, &two] {
        assert_eq!(status_of(app, "/api/v2/services", &header).await.0, 200);
    }
    let operator = one.operator("ops@platform.example").await;
    let org = one.org_id().await;
    let changed = Instant::now();
    let suspended = operator
        .post_form(&format!("/operator/organizations/{org}/suspend"), &[])
        .await;
    assert_eq!(suspended.status().as_u16(), 303);
    within_a_second(&two, &header, (402, "organization_suspended"), changed).await;
    assert_eq!(
        status_of(&one, "/api/v2/services", &header).await,
        (402, "organization_suspended".to_owned())
    );
    // Its admins keep their console, which says so.
    assert!(
        one.get_html("/apps", 200)
            .await
            .contains("suspended-banner")
    );
    assert!(
        operator
            .get_html(&format!("/operator/organizations/{org}"), 200)
            .await
            .contains("suspended-banner")
    );
    let changed = Instant::now();
    operator
        .post_form(&format!("/operator/organizations/{org}/resume"), &[])
        .await;
    within_a_second(&two, &header, (200, ""), changed).await;
    assert_eq!(status_of(&one, "/api/v2/services", &header).await.0, 200);
    let actions: Vec<String> = one
        .operator_events()
        .await
        .into_iter()
        .map(|(a, ..)| a)
        .collect();
    for wanted in ["organization.suspended", "organization.resumed"] {
        assert!(actions.iter().any(|a| a == wanted), "{wanted}: {actions:?}");
    }
}
