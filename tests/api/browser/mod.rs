//! The console in a real browser, used as an admin would use it.

mod accounts;
mod driver;
mod hosted;

use keyward::db::models::Role;

use self::driver::Browser;
use crate::helpers::{PASSWORD, TestApp, spawn_app, spawn_app_with};

async fn signed_in(app: &TestApp, test: &str, email: &str, role: Role) -> Browser {
    app.create_admin(email, role).await;
    let browser = Browser::open(&app.address, test).await;
    browser.go("/login").await;
    browser.fill("Email", email).await;
    browser.fill("Password", PASSWORD).await;
    browser.click("Sign in").await;
    // The session cookie comes with the redirect: a page opened before it
    // arrives would be the sign-in page again.
    browser.wait_to_leave("/login").await;
    browser
}

#[actix_web::test]
async fn an_admin_signs_in_with_the_form_and_signs_out() {
    let app = spawn_app().await;
    app.create_admin("ada@example.com", Role::Full).await;
    let browser = Browser::open(&app.address, "sign-in").await;
    browser.go("/apps").await;
    assert!(
        browser.path().await.starts_with("/login"),
        "sent to sign in first"
    );
    browser.check_accessibility("sign-in").await;
    browser.shot("sign-in").await;

    browser.fill("Email", "ada@example.com").await;
    browser.fill("Password", "not the password").await;
    browser.click("Sign in").await;
    browser.wait_for_text("Incorrect email or password.").await;
    browser.shot("sign-in-failed").await;

    browser.fill("Password", PASSWORD).await;
    browser.click("Sign in").await;
    browser.wait_for_text("Manage Applications").await;
    assert_eq!(browser.path().await, "/apps");
    browser.check_accessibility("apps (empty)").await;
    browser.shot("apps-empty").await;

    browser.click("Sign out").await;
    browser.wait_for_text("You have signed out.").await;
    browser.go("/apps").await;
    assert!(browser.path().await.starts_with("/login"));
    browser.close().await;
}

#[actix_web::test]
async fn the_wizard_and_the_key_lifecycle_work_in_a_browser_and_a_key_is_shown_only_once() {
    let app = spawn_app().await;
    let browser = signed_in(&app, "wizard", "ada@example.com", Role::Full).await;

    // On a phone the header takes one line: less than two of its Sign out
    // button's height (it took four lines).
    browser.client.set_window_size(390, 900).await.unwrap();
    let heights = browser
        .client
        .execute(
            "return [document.querySelector('.topbar').getBoundingClientRect().height, \
                     document.querySelector('.account .button').getBoundingClientRect().height];",
            vec![],
        )
        .await
        .unwrap();
    let (header, button) = (heights[0].as_f64().unwrap(), heights[1].as_f64().unwrap());
    assert!(
        header < 2.0 * button,
        "the header is {header}px tall at 390px"
    );
    browser.client.set_window_size(1440, 900).await.unwrap();

    // 1. Details, with a mistake corrected on the way.
    browser.click("Add").await;
    browser.check_accessibility("wizard: details").await;
    browser.fill("Name", "Web Booking").await;
    browser.fill("URI", "shop.example.com").await;
    browser.check("Guest", true).await;
    browser.select("Source App", "External Webstore").await;
    browser
        .field("Post Login Redirect URL")
        .await
        .send_keys("https://shop.example.com/signed-in")
        .await
        .unwrap();
    browser.control("Add").await;
    let adds = browser
        .client
        .find_all(fantoccini::Locator::XPath(
            "//button[normalize-space(.)='Add']",
        ))
        .await
        .unwrap();
    adds.last().unwrap().click().await.unwrap();
    browser
        .wait_for_text("https://shop.example.com/signed-in")
        .await;
    // Enter in the field adds the URL too, and stays on the step.
    browser
        .field("Post Login Redirect URL")
        .await
        .send_keys("https://shop.example.com/welcome\u{E007}")
        .await
        .unwrap();
    browser
        .wait_for_text("https://shop.example.com/welcome")
        .await;
    assert!(browser.text().await.contains("Details"));
    assert!(!browser.path().await.contains("/wizard/scopes"));
    browser.click("Next").await;
    browser.wait_for_text("Enter an absolute URL").await;
    browser
        .error_summary_leads_to("Enter an absolute URL", "uri")
        .await;
    // The field in error has the error's colour as its border.
    let colours = browser
        .client
        .execute(
            "const input = document.getElementById('uri'); \
             const error = document.getElementById('uri-error'); \
             return [getComputedStyle(input).borderTopColor, getComputedStyle(error).color];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(colours[0], colours[1], "the URI field's border is red");
    browser.shot("wizard-1-details-error").await;
    browser.fill("URI", "https://shop.example.com").await;
    browser.shot("wizard-1-details").await;
    browser.click("Next").await;

    // 2. Scopes: Next with nothing ticked is refused, and says where.
    browser.wait_for_text("APIKEY GROUPS").await;
    browser.check_accessibility("wizard: scopes").await;
    browser.click("Next").await;
    browser
        .error_summary_leads_to("Select at least one permission", "apikey-appointments-read")
        .await;
    browser.check_accessibility("wizard: scopes refused").await;
    browser.shot("wizard-2-scopes-error").await;
    browser.expand("Appointments").await;
    browser.expand("Catalog").await;
    browser.check("Services: read", true).await;
    let checks = browser
        .client
        .find_all(fantoccini::Locator::Id("apikey-appointments-create"))
        .await
        .unwrap();
    checks[0].click().await.unwrap();
    browser
        .client
        .find(fantoccini::Locator::Id("apikey-appointments-read"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.shot("wizard-2-scopes").await;
    // Back to Details and forward again keeps what was ticked.
    browser.click("Back").await;
    browser.wait_for_path("/wizard/details").await;
    browser.click("Next").await;
    let kept = |step: &'static str| {
        let browser = &browser;
        async move {
            browser.wait_for_text("APIKEY GROUPS").await;
            for id in ["apikey-appointments-read", "apikey-services-read"] {
                let ticked = browser
                    .client
                    .find(fantoccini::Locator::Id(id))
                    .await
                    .unwrap()
                    .prop("checked")
                    .await
                    .unwrap();
                assert_eq!(
                    ticked.as_deref(),
                    Some("true"),
                    "{id} is kept after Back from {step}"
                );
            }
        }
    };
    kept("Scopes").await;
    browser.click("Next").await;

    // 3. Secrets: Back returns to Scopes with nothing lost.
    browser.wait_for_text("Application ID").await;
    browser.click("Back").await;
    kept("Secrets").await;
    browser.click("Next").await;
    browser.wait_for_text("Application ID").await;
    browser.check_accessibility("wizard: secrets").await;
    let application_id = browser
        .field("Application ID")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    let secret = browser
        .field("Secret")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(secret.starts_with("kws_"));
    browser.shot("wizard-3-secrets").await;
    browser.click("Next").await;

    // 4. Generate API Key. Back warns first that it makes a new Secret.
    browser.wait_for_text("Key name").await;
    browser.click("Back").await;
    browser
        .wait_for_text("Going back makes a new Secret; the one you noted stops working.")
        .await;
    browser.click("Stay on Generate API Key").await;
    browser.wait_for_text("Key name").await;
    // A key needs a name.
    browser.fill("Key name", "").await;
    browser.click("Generate API Key").await;
    browser.error_summary_leads_to("name", "key-name").await;
    browser.fill("Key name", "Web booking").await;
    // The key in a modal, copied to the clipboard.
    browser.shot("wizard-4-generate").await;
    browser.click("Generate API Key").await;
    browser.wait_for_text("Copy this key now").await;
    let key = browser
        .field("API key")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(key.starts_with("kw_"));
    // The whole key is in view, wrapped, on a phone as on a wide screen.
    for width in driver::WIDTHS {
        browser.client.set_window_size(width, 900).await.unwrap();
        let cut = browser
            .client
            .execute(
                "const k = document.getElementById('new-api-key'); \
                 return [k.scrollWidth - k.clientWidth, k.scrollHeight - k.clientHeight];",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            cut,
            serde_json::json!([0, 0]),
            "the key is cut off at {width}px"
        );
    }
    browser.client.set_window_size(1440, 900).await.unwrap();
    browser.check_accessibility("wizard: key modal").await;
    browser.shot("wizard-4-key-modal").await;
    let copy = browser
        .client
        .find(fantoccini::Locator::Css("#reveal [data-copy-target]"))
        .await
        .unwrap();
    copy.click().await.unwrap();
    assert_eq!(
        browser.clipboard().await,
        key,
        "the copy button puts the key on the clipboard"
    );
    browser.click("I have stored it").await;
    assert!(
        !browser.html().await.contains(&key),
        "closing the modal removes the key from the page"
    );

    // 5. Finish: the app's page.
    browser.click("Finish").await;
    browser.wait_for_text("The application is active.").await;
    let app_path = format!("/apps/{application_id}");
    assert_eq!(browser.path().await, app_path);
    let page = browser.text().await;
    assert!(page.contains("Web booking") && page.contains(&key[key.len() - 4..]));
    assert!(!browser.html().await.contains(&key) && !browser.html().await.contains(&secret));
    browser.check_accessibility("app page").await;
    browser.shot("app").await;

    // Back through history and a reload never bring the key back.
    browser.client.back().await.unwrap();
    assert!(
        !browser.html().await.contains(&key),
        "Back does not show the key"
    );
    browser.client.refresh().await.unwrap();
    assert!(
        !browser.html().await.contains(&key),
        "a reload does not show the key"
    );
    browser.go(&app_path).await;

    // A second key with fewer permissions.
    browser.click("New API Key").await;
    browser.check_accessibility("new key").await;
    browser.fill("Name", "Reporting").await;
    // Least privilege: nothing is ticked until the admin ticks it; a group's
    // shortcuts tick its read permissions, all of it, or none.
    let ticked = |label: &'static str| {
        let browser = &browser;
        async move {
            browser
                .field(label)
                .await
                .prop("checked")
                .await
                .unwrap()
                .as_deref()
                == Some("true")
        }
    };
    for label in [
        "Appointments: create",
        "Appointments: read",
        "Services: read",
    ] {
        assert!(!ticked(label).await, "{label} starts unticked");
    }
    browser.click_labelled("Appointments: all").await;
    assert!(ticked("Appointments: create").await && ticked("Appointments: read").await);
    browser.click_labelled("Appointments: none").await;
    assert!(!ticked("Appointments: create").await && !ticked("Appointments: read").await);
    browser.click_labelled("Catalog: read only").await;
    assert!(ticked("Services: read").await);
    browser.shot("key-new").await;
    browser.click("Create").await;
    browser.wait_for_text("Copy this key now").await;
    let second = browser
        .field("API key")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    browser.shot("key-created").await;
    browser.click("I have stored it").await;
    browser.click("Back to Web Booking").await;
    let page = browser.text().await;
    assert!(page.contains("Reporting") && page.contains("services:read"));
    browser.client.back().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !browser.html().await.contains(&second),
        "the back/forward cache does not show it either"
    );
    // Back lands on a page of the console, never the browser's "Confirm form
    // resubmission" (the form's answer was a redirect).
    let text = browser.text().await;
    assert!(
        !text.contains("ERR_CACHE_MISS") && !text.contains("Resubmission"),
        "{text}"
    );
    assert!(text.contains("Web Booking"), "{text}");
    browser.go(&app_path).await;

    // Inactivate, refuse nothing, then delete after confirming.
    browser.click_labelled("Inactivate Reporting").await;
    browser.wait_for_text("it stopped working").await;
    browser.shot("key-inactive").await;
    browser.click_labelled("Delete API key Reporting").await;
    browser.wait_for_text("for good").await;
    browser.check_accessibility("delete confirmation").await;
    browser.shot("key-delete-confirm").await;
    browser.click("Delete API key").await;
    browser.wait_for_text("was deleted").await;
    let rows = browser
        .client
        .find_all(fantoccini::Locator::XPath(
            "//table[contains(@class, 'keys')]//th[@scope='row'][contains(., 'Reporting')]",
        ))
        .await
        .unwrap();
    assert!(rows.is_empty(), "the key is gone from the list");
    browser.wait_for_text("Retired keys").await;

    // The audit trail, filtered.
    browser.go("/audit").await;
    browser.select("Action", "Key deleted").await;
    browser.click("Filter").await;
    // "Key deleted" is already on the page, as an option of the filter.
    browser.wait_for_path("action=key.deleted").await;
    browser.wait_for_text("Key deleted").await;
    let actions = browser
        .client
        .find_all(fantoccini::Locator::Css(
            "table.audit tbody td:nth-child(3)",
        ))
        .await
        .unwrap();
    assert!(!actions.is_empty());
    for cell in actions {
        assert_eq!(
            cell.text().await.unwrap(),
            "Key deleted",
            "only the chosen action"
        );
    }
    assert!(browser.text().await.contains("ada@example.com"));
    browser.check_accessibility("audit").await;
    browser.shot("audit-filtered").await;
    browser.close().await;
}

#[actix_web::test]
async fn a_limited_admin_sees_no_api_keys_section() {
    let app = spawn_app().await;
    let browser = signed_in(&app, "limited", "lim@example.com", Role::Limited).await;
    browser.wait_for_text("Settings").await;
    let nav = browser.text().await;
    assert!(
        !nav.contains("Apps"),
        "no Integrations › Apps in the navigation"
    );
    browser.check_accessibility("settings (limited)").await;
    browser.shot("settings-limited").await;
    browser.go("/apps").await;
    browser.wait_for_text("Access denied").await;
    browser.check_accessibility("403").await;
    browser.shot("forbidden").await;
    browser.close().await;
}

#[actix_web::test]
async fn staff_and_the_alert_settings_are_managed_in_the_browser() {
    let app = spawn_app().await;
    let browser = signed_in(&app, "staff-alerts", "ada@example.com", Role::Full).await;
    browser.go("/staff").await;
    browser.check_accessibility("staff (empty)").await;
    browser.fill("Name", "Ana Silva").await;
    browser.fill("Email", "ana@salon.example").await;
    browser.click("Add employee").await;
    browser.wait_for_text("Ana Silva was added").await;
    browser.fill("Name", "Ben Okafor").await;
    browser.fill("Email", "ben@salon.example").await;
    browser.click("Add employee").await;
    browser.wait_for_text("Ben Okafor was added").await;
    browser.check_accessibility("staff").await;
    browser.shot("staff").await;

    browser.go("/settings").await;
    // An unsaved edit in one section is not thrown away without a word when
    // another is saved.
    // The time zone is picked from the list.
    browser.select("Time zone", "Europe/Lisbon").await;
    browser.click("Save key policy").await;
    let asked = browser.client.get_alert_text().await.unwrap();
    assert!(asked.contains("unsaved changes in Organization"), "{asked}");
    browser.client.dismiss_alert().await.unwrap();
    assert_eq!(browser.path().await, "/settings");
    assert_eq!(
        browser
            .field("Time zone")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Europe/Lisbon")
    );
    browser.click("Save organization").await;
    browser.wait_for_text("saved").await;
    browser
        .check("Send the Expiry of API keys alert", true)
        .await;
    browser.fill("Days before expiry", "30, 7, 1").await;
    let ana = browser
        .client
        .find(fantoccini::Locator::XPath(
            "//label[contains(normalize-space(.), 'Ana Silva')]/input",
        ))
        .await
        .unwrap();
    ana.click().await.unwrap();
    browser.click("Save alert").await;
    browser
        .wait_for_text("The Expiry of API keys alert was saved.")
        .await;
    browser.fill("Maximum lifetime (days)", "365").await;
    browser.click("Save key policy").await;
    browser.wait_for_text("The key policy was saved.").await;
    browser.check_accessibility("settings").await;
    browser.shot("settings").await;
    browser.click("Send a test email").await;
    browser
        .wait_for_text("A test email was sent to ada@example.com")
        .await;
    browser.close().await;
}

#[actix_web::test]
async fn every_other_page_passes_the_accessibility_check() {
    let app = spawn_app().await;
    let setup = app.setup_link.clone().unwrap();
    let browser = Browser::open(&app.address, "pages").await;
    browser.go(&setup[app.address.len()..]).await;
    browser.check_accessibility("setup").await;
    browser.shot("setup").await;
    browser.fill("Email", "ada@example.com").await;
    browser.fill("Password", PASSWORD).await;
    browser.fill("Confirm password", PASSWORD).await;
    browser.click("Create admin and sign in").await;
    browser.wait_for_text("Welcome to Keyward").await;
    let created = {
        // The same session, through HTTP: a finished app with a key and a booking.
        app.sign_in("ada@example.com", PASSWORD).await;
        app.demo_key().await;
        app.create_app(
            "Chat Bot",
            "bot",
            &["services:read", "appointments:create"],
            &["guests:read"],
        )
        .await
    };
    for (name, path) in [
        ("apps", "/apps".to_owned()),
        ("app-edit", format!("/apps/{}/edit", created.id)),
        ("app-demo", "/apps?q=demo".to_owned()),
        ("not-found", "/no/such/page".to_owned()),
        ("audit", "/audit".to_owned()),
        ("audit-unknown-app", "/audit?app=Nope".to_owned()),
        ("bookings", "/bookings".to_owned()),
        ("key-new", format!("/apps/{}/keys/new", created.id)),
    ] {
        browser.go(&path).await;
        browser.check_accessibility(name).await;
        browser.shot(name).await;
    }
    // On a phone the navigation scrolls in one line, the current section
    // in view.
    browser.client.set_window_size(390, 900).await.unwrap();
    browser.go("/bookings").await;
    let inside = browser
        .client
        .execute(
            "const n = document.querySelector('.topbar nav').getBoundingClientRect(); \
             const c = document.querySelector('.nav [aria-current=page]').getBoundingClientRect(); \
             return c.left >= n.left - 1 && c.right <= n.right + 1;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        inside,
        serde_json::json!(true),
        "Bookings is in view in the navigation"
    );
    browser.client.set_window_size(1440, 900).await.unwrap();
    browser.go(&format!("/apps/{}", created.id)).await;
    browser.click("Edit API key").await;
    browser.check_accessibility("key-edit").await;
    browser.shot("key-edit").await;
    browser.close().await;

    // The same pages when the system asks for dark colours.
    let dark = Browser::open_dark(&app.address, "dark").await;
    dark.go("/login").await;
    dark.fill("Email", "ada@example.com").await;
    dark.fill("Password", PASSWORD).await;
    dark.click("Sign in").await;
    let background = dark
        .client
        .execute(
            "return getComputedStyle(document.body).backgroundColor",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        background.as_str(),
        Some("rgb(14, 17, 23)"),
        "the dark palette follows the system setting"
    );
    for (name, path) in [
        ("apps", "/apps".to_owned()),
        ("app", format!("/apps/{}", created.id)),
        ("settings", "/settings".to_owned()),
        ("audit", "/audit".to_owned()),
        ("audit-unknown-app", "/audit?app=Nope".to_owned()),
        ("bookings", "/bookings".to_owned()),
        ("key-new", format!("/apps/{}/keys/new", created.id)),
        (
            "key-roll",
            format!(
                "/apps/{}/keys/{}/roll",
                created.id,
                app.key_ids(&created.id).await[0]
            ),
        ),
    ] {
        dark.go(&path).await;
        dark.check_accessibility(&format!("{name} (dark)")).await;
        dark.shot(name).await;
    }
    dark.close().await;
}

#[actix_web::test]
async fn an_invited_employee_chooses_a_password_in_the_browser() {
    let app = spawn_app().await;
    let admin = signed_in(&app, "invitation", "ada@example.com", Role::Full).await;
    admin.go("/staff").await;
    admin.fill("Name", "Ana Silva").await;
    admin.fill("Email", "ana@salon.example").await;
    admin.click("Add employee").await;
    admin.wait_for_text("Ana Silva was added").await;
    admin.click("Send invitation").await;
    admin
        .wait_for_text("A sign-in invitation was sent to Ana Silva")
        .await;
    admin.check_accessibility("staff (invited)").await;
    admin.shot("staff-invited").await;
    admin.go("/guests").await;
    admin.wait_for_text("No guests yet").await;
    admin.check_accessibility("guests (empty)").await;
    admin.close().await;

    let link = crate::users::last_link(&app);
    let employee = Browser::open(&app.address, "invitation-employee").await;
    employee.go(&link).await;
    employee.wait_for_text("Choose your password").await;
    employee.check_accessibility("choose password").await;
    employee.shot("choose-password").await;
    employee
        .fill("Password", "violet kettle sings at dawn")
        .await;
    employee
        .fill("Confirm password", "violet kettle sings at dawn")
        .await;
    employee.click("Set password").await;
    employee.wait_for_text("Your password is set").await;
    employee.check_accessibility("password set").await;
    employee.go(&link).await;
    employee.wait_for_text("This link cannot be used").await;
    employee.close().await;
}

#[actix_web::test]
async fn an_admin_sees_an_employees_sign_ins_and_revokes_one_in_the_browser() {
    use crate::access_tokens::{bearer_get, employee_setup, sign_in};
    let app = spawn_app().await;
    let (client, employee) = employee_setup(&app, &["services:read"]).await;
    let pair = sign_in(&app, &client).await;
    let access = pair["access_token"].as_str().unwrap().to_owned();
    assert_eq!(bearer_get(&app, "/api/v2/services", &access).await.0, 200);

    let admin = signed_in(&app, "sign-ins", "ada@example.com", Role::Full).await;
    admin.go(&format!("/apps/{}", client.id)).await;
    admin.wait_for_text("Recent sign-ins").await;
    assert!(
        admin.text().await.contains("Dara Lopes"),
        "the sign-in is listed"
    );
    admin.check_accessibility("app (access tokens)").await;
    admin.shot("app-tokens").await;

    admin.go("/staff").await;
    admin.click_labelled("Sign-ins of Dara Lopes").await;
    admin.wait_for_text("Sign-ins of Dara Lopes").await;
    assert_eq!(admin.path().await, format!("/staff/{employee}/sessions"));
    admin.check_accessibility("sign-ins").await;
    admin.shot("sign-ins").await;
    admin.click("Revoke").await;
    // The confirmation the form asks for, accepted.
    admin.client.accept_alert().await.unwrap();
    admin.wait_for_text("The sign-in was revoked").await;
    assert!(admin.text().await.contains("No active sign-ins"));
    admin.check_accessibility("sign-ins (none)").await;
    admin.close().await;
    assert_eq!(
        bearer_get(&app, "/api/v2/services", &access).await,
        (401, "token_revoked".to_owned())
    );
}

#[actix_web::test]
async fn a_key_is_restricted_rolled_and_recreated_in_the_browser() {
    let app = spawn_app().await;
    let browser = signed_in(&app, "rolling", "ada@example.com", Role::Full).await;
    app.sign_in("ada@example.com", PASSWORD).await;
    let created = app
        .create_app("Stock Sync", "bot", &["services:read"], &[])
        .await;
    let app_path = format!("/apps/{}", created.id);

    // A key pinned to a range, with a warning for an entry that lets
    // anything in, and a rate limit.
    browser.go(&app_path).await;
    browser.click("New API Key").await;
    browser.fill("Name", "Warehouse").await;
    browser.check("Services: read", true).await;
    browser
        .fill("Allowed IP addresses", "10.1.2.0/24\n10.1.2.300")
        .await;
    browser.fill("Requests per second", "0").await;
    browser.click("Create").await;
    browser
        .error_summary_leads_to("“10.1.2.300” is not an IP address", "allowed_ips")
        .await;
    browser
        .check_accessibility("key form with restriction errors")
        .await;
    browser.shot("key-restrictions-refused").await;
    browser
        .fill("Allowed IP addresses", "10.1.2.0/24\n0.0.0.0/0")
        .await;
    browser.fill("Requests per second", "5").await;
    browser.click("Create").await;
    browser.wait_for_text("Copy this key now").await;
    browser.click("I have stored it").await;
    browser.click("Back to Stock Sync").await;
    let page = browser.text().await;
    for badge in [
        "IP-restricted",
        "Any address",
        "Rate-limited",
        "At most 5/s",
    ] {
        assert!(page.contains(badge), "{badge}");
    }

    // Roll it: a grace that cannot be read is refused at its field, then a
    // one-hour grace.
    browser.click_labelled("Roll key Warehouse").await;
    browser.check_accessibility("roll key").await;
    browser.shot("key-roll").await;
    browser.check("Custom", true).await;
    browser.fill("Hours", "a day").await;
    browser.click("Roll key").await;
    browser
        .error_summary_leads_to("Enter a whole number of hours", "grace-0")
        .await;
    browser.check("1 hour", true).await;
    browser.click("Roll key").await;
    browser.wait_for_text("Copy this key now").await;
    assert!(browser.text().await.contains("It replaces"));
    browser.check_accessibility("rolled key shown once").await;
    browser.shot("key-rolled").await;
    browser.click("I have stored it").await;
    browser.click("Back to Stock Sync").await;
    let page = browser.text().await;
    assert!(page.contains("Rolling") && page.contains("Rolled to") && page.contains("Rolled from"));
    browser.check_accessibility("app with a rolling key").await;
    browser.shot("app-rolling").await;

    // The wizard's key, switched off and deleted, waits among the retired
    // keys; Recreate brings it back into the form.
    let wizard_key = app.key_ids(&created.id).await[0].clone();
    app.post_form(
        &format!("/apps/{}/keys/{wizard_key}/inactivate", created.id),
        &[],
    )
    .await;
    browser
        .go(&format!("/apps/{}/keys/{wizard_key}/delete", created.id))
        .await;
    browser.click("Delete API key").await;
    browser.wait_for_text("was deleted").await;
    browser.wait_for_text("Retired keys").await;
    browser.check_accessibility("retired keys").await;
    browser.shot("app-retired").await;
    let html = browser.html().await;
    let recreate = html
        .split("aria-label=\"Recreate ")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a Recreate action")
        .to_owned();
    browser
        .click_labelled(&format!("Recreate {recreate}"))
        .await;
    browser.wait_for_path("/keys/new").await;
    let value = browser.field("Name").await.prop("value").await.unwrap();
    assert_eq!(value.as_deref(), Some(recreate.as_str()));
    browser.check_accessibility("recreate").await;
    browser.shot("key-recreate").await;
    browser.close().await;
}

#[actix_web::test]
async fn usage_charts_and_the_request_log_in_the_browser() {
    let app = spawn_app().await;
    let browser = signed_in(&app, "usage", "ada@example.com", Role::Full).await;
    app.sign_in("ada@example.com", PASSWORD).await;
    let created = app
        .create_app(
            "Web Booking",
            "external_webstore",
            &["services:read", "appointments:read"],
            &[],
        )
        .await;
    let (key_id, key) =
        crate::key_restrictions::key_with(&app, &created.id, "Storefront", &[]).await;
    for (path, n, status) in [
        ("/api/v2/services", 5, 200),
        ("/api/v2/appointments", 2, 403),
    ] {
        for _ in 0..n {
            let response = app
                .api(reqwest::Method::GET, path, Some(&format!("apikey {key}")))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), status);
        }
    }
    app.state.verifier.flush_usage().await.unwrap();

    // From the app's page to the key's own page and its chart.
    browser.go(&format!("/apps/{}", created.id)).await;
    browser.click("Storefront").await;
    browser
        .wait_for_path(&format!("/apps/{}/keys/{key_id}", created.id))
        .await;
    browser
        .wait_for_text("Requests over the last 24 hours")
        .await;
    let text = browser.text().await;
    assert!(text.contains("Allowed: 5"), "{text}");
    assert!(text.contains("403 Forbidden: 2"), "{text}");
    browser.click("Show the numbers as a table").await;
    browser.check_accessibility("key usage").await;
    browser.shot("key-usage").await;
    browser.click("30 days").await;
    browser
        .wait_for_text("Requests over the last 30 days")
        .await;
    assert!(browser.text().await.contains("Allowed: 5"));

    // The organization's Usage page.
    browser.click("Usage").await;
    browser.wait_for_text("Busiest keys").await;
    assert!(browser.text().await.contains("Storefront"));
    browser.check_accessibility("usage").await;
    browser.shot("usage").await;

    // The request log, filtered to the refusals.
    browser.click("Logs").await;
    browser.wait_for_text("insufficient_permission").await;
    browser.select("Outcome", "403 Forbidden").await;
    browser.click("Filter").await;
    browser.wait_for_path("outcome=403").await;
    let text = browser.text().await;
    assert_eq!(text.matches("insufficient_permission").count(), 2, "{text}");
    browser.check_accessibility("request log").await;
    browser.shot("request-log").await;
    browser.close().await;

    // The chart in dark mode passes axe too (its labels' contrast).
    let dark = Browser::open_dark(&app.address, "usage-dark").await;
    dark.go("/login").await;
    dark.fill("Email", "ada@example.com").await;
    dark.fill("Password", PASSWORD).await;
    dark.click("Sign in").await;
    dark.wait_to_leave("/login").await;
    dark.go(&format!("/apps/{}/keys/{key_id}", created.id))
        .await;
    dark.wait_for_text("Requests over the last 24 hours").await;
    dark.check_accessibility("key usage (dark)").await;
    dark.shot("key-usage-dark").await;
    dark.close().await;
}

#[actix_web::test]
async fn an_endpoint_added_in_the_browser_hears_of_a_key_switched_off_there() {
    let app = spawn_app_with(|s| {
        s.run_scheduler = true;
        s.webhook_retry_schedule = vec![time::Duration::seconds(1); 3];
    })
    .await;
    let browser = signed_in(&app, "webhooks", "ada@example.com", Role::Full).await;
    app.sign_in("ada@example.com", PASSWORD).await;
    let created = app
        .create_app("Billing Sync", "bot", &["services:read"], &[])
        .await;

    browser.go("/settings").await;
    browser.click("Manage webhook endpoints").await;
    browser.wait_for_path("/settings/webhooks").await;
    browser.check_accessibility("webhooks (none yet)").await;
    browser.click("Add endpoint").await;
    browser.wait_for_path("/settings/webhooks/new").await;
    // Sent without a URL or an event: both named, nothing saved.
    browser.click("Add endpoint").await;
    browser.wait_for_text("There is a problem").await;
    browser
        .error_summary_leads_to("Enter the URL that receives the events.", "url")
        .await;
    assert!(browser.text().await.contains("Choose at least one event."));
    browser
        .check_accessibility("webhook form with errors")
        .await;
    let port = crate::webhooks::free_port();
    browser
        .fill("Endpoint URL", &format!("http://127.0.0.1:{port}/keyward"))
        .await;
    browser.fill("Description", "Operations' receiver").await;
    let inactivated = keyward::domain::webhook::EventType::KeyInactivated;
    browser
        .check(
            &format!("{} {}", inactivated.as_str(), inactivated.description()),
            true,
        )
        .await;
    browser.shot("webhook-form").await;
    browser.click("Add endpoint").await;
    browser.wait_for_text("The endpoint's signing secret").await;
    let secret = browser
        .field("Signing secret")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    browser.check_accessibility("the secret, shown once").await;
    browser.shot("webhook-secret").await;
    browser.click("I have stored it").await;
    let receiver = crate::webhooks::Receiver::start(port, 0, &[&secret]);

    // The admin switches the app's key off on its page.
    browser.go(&format!("/apps/{}", created.id)).await;
    let key_ids = app.key_ids(&created.id).await;
    let html = browser.html().await;
    let label = html
        .split("aria-label=\"Inactivate ")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("an Inactivate button")
        .to_owned();
    browser.click_labelled(&format!("Inactivate {label}")).await;
    browser.wait_for_text("Inactive").await;
    let requests = receiver.wait_for(1, 10).await;
    assert_eq!(requests[0]["body"]["type"], "key.inactivated");
    assert_eq!(
        requests[0]["body"]["data"]["key"]["id"],
        key_ids[0].as_str()
    );
    assert_eq!(requests[0]["verified"], serde_json::json!([true]));

    // Its delivery on the endpoint's page, and a test event from there.
    browser.go("/settings/webhooks").await;
    browser
        .click(&format!("http://127.0.0.1:{port}/keyward"))
        .await;
    browser.wait_for_text("Recent deliveries").await;
    assert!(browser.text().await.contains("succeeded"));
    browser.click("Send test event").await;
    browser.wait_for_text("A test event is on its way").await;
    let requests = receiver.wait_for(2, 10).await;
    assert_eq!(requests[1]["body"]["type"], "webhook.test");
    browser.go(&browser.path().await).await;
    browser.wait_for_text("webhook.test").await;
    browser.check_accessibility("webhook endpoint").await;
    browser.shot("webhook-endpoint").await;
    browser.click("Roll secret").await;
    browser
        .wait_for_text("The current secret keeps signing for")
        .await;
    browser.check_accessibility("roll the signing secret").await;
    browser.close().await;
}

#[actix_web::test]
async fn an_admin_makes_an_api_token_sees_it_once_uses_it_and_revokes_it() {
    let app = spawn_app().await;
    let browser = signed_in(&app, "api-tokens", "ada@example.com", Role::Full).await;
    browser.go("/settings").await;
    browser.click("API tokens").await;
    browser.wait_for_path("/account/tokens").await;
    browser.check_accessibility("api tokens (none yet)").await;
    // Sent without a name or a scope: both named.
    browser.click("Create token").await;
    browser
        .error_summary_leads_to("Enter a name.", "token-name")
        .await;
    assert!(browser.text().await.contains("Choose at least one scope."));
    browser.check_accessibility("token form with errors").await;
    browser.fill("Name", "Terraform").await;
    let read =
        keyward::domain::manage::ManageScope::new(keyward::domain::manage::Area::Apps, false);
    browser
        .check(&format!("{} {}", read.as_str(), read.description()), true)
        .await;
    browser.select("Expires after", "90 days").await;
    browser.click("Create token").await;
    browser.wait_for_text("Your new API token").await;
    let token = browser
        .field("API token")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(token.starts_with("kwa_"), "{token}");
    browser.check_accessibility("the token, shown once").await;
    browser.shot("api-token-created").await;
    browser.click("I have stored it").await;

    let (status, _, _) =
        crate::manage::curl(&app, "GET", "/api/v1/manage/apps", &token, None, None).await;
    assert_eq!(status, 200);
    browser.go("/account/tokens").await;
    browser.wait_for_text("Terraform").await;
    let text = browser.text().await;
    assert!(!text.contains(&token), "never shown again");
    assert!(text.contains("manage:apps:read"));
    assert!(!text.contains("Never"), "its last use is listed: {text}");
    browser.check_accessibility("api tokens").await;
    browser.shot("api-tokens").await;
    browser.click_labelled("Revoke Terraform").await;
    browser.client.accept_alert().await.unwrap();
    browser.wait_for_text("The token was revoked").await;
    assert!(browser.text().await.contains("Revoked"));
    let (status, _, _) =
        crate::manage::curl(&app, "GET", "/api/v1/manage/apps", &token, None, None).await;
    assert_eq!(status, 401);
    browser.close().await;
}
