//! Admin accounts in a real browser: a passkey registered and used through
//! WebDriver's virtual authenticator, TOTP enrolment, the step-up page, and
//! axe-core on every new page.

use keyward::db::models::Role;

use super::driver::Browser;
use crate::admin_accounts::{age_session_cookie, pyotp_code};
use crate::helpers::{PASSWORD, spawn_app, spawn_app_with};
use crate::users::last_link;

/// The text of the one QR code in a PNG image.
fn scan_qr(png: &[u8]) -> String {
    let image = image::load_from_memory(png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    grids[0].decode().expect("the QR code reads").1
}

/// The code an authenticator app shows now for an `otpauth://` URI, made by
/// pyotp from the URI alone.
fn pyotp_uri_code(uri: &str) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, pyotp; print(pyotp.parse_uri(sys.argv[1]).now())",
            uri,
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

#[actix_web::test]
async fn a_passkey_is_registered_and_then_signs_the_admin_in_and_confirms_a_change() {
    // WebAuthn needs a domain as the relying party's id: the server is
    // reached as localhost.
    let app = spawn_app_with(|s| {
        s.public_url = url::Url::parse("http://localhost:0").unwrap();
    })
    .await;
    let base = app.address.replace("127.0.0.1", "localhost");
    app.create_admin("ada@example.com", Role::Full).await;
    let browser = Browser::open(&base, "passkeys").await;
    browser.add_virtual_authenticator().await;
    browser.go("/login").await;
    browser.fill("Email", "ada@example.com").await;
    browser.fill("Password", PASSWORD).await;
    browser.click("Sign in").await;
    browser.wait_to_leave("/login").await;

    browser.go("/account/security").await;
    browser.fill("Name", "Work laptop").await;
    browser.click("Add a passkey").await;
    browser.wait_for_text("Your passkey is registered").await;
    let text = browser.text().await;
    assert!(text.contains("Work laptop"), "{text}");
    assert!(
        text.contains("Save these codes now"),
        "recovery codes with the first factor"
    );
    browser
        .check_accessibility("two-factor sign-in (passkey added)")
        .await;
    browser.shot("passkey-added").await;

    browser.click("Sign out").await;
    browser.wait_for_text("You have signed out.").await;
    browser.fill("Email", "ada@example.com").await;
    browser.fill("Password", PASSWORD).await;
    browser.click("Sign in").await;
    browser.wait_for_path("/login/verify").await;
    browser.check_accessibility("second step of sign-in").await;
    browser.shot("verify-passkey").await;
    browser.click("Use a passkey or security key").await;
    browser.wait_to_leave("/login").await;
    assert_eq!(browser.path().await, "/apps");

    // Six minutes later, removing the passkey asks for it again.
    let cookie = browser.cookie("keyward_session").await;
    age_session_cookie(&app, &cookie, 6 * 60).await;
    browser.go("/account/security").await;
    browser.click_labelled("Remove Work laptop").await;
    assert_eq!(
        browser.client.get_alert_text().await.unwrap(),
        "Remove Work laptop?"
    );
    browser.client.accept_alert().await.unwrap();
    browser.wait_for_text("Confirm it is you").await;
    browser.check_accessibility("step-up (passkey)").await;
    browser.shot("step-up-passkey").await;
    browser.click("Use a passkey or security key").await;
    browser.wait_for_text("The passkey was removed.").await;
    let actions: Vec<String> = app.audit_actions().await.into_iter().map(|a| a.0).collect();
    for wanted in [
        "admin.passkey_added",
        "admin.stepped_up",
        "admin.passkey_removed",
    ] {
        assert!(
            actions.iter().any(|a| a == wanted),
            "{wanted} in {actions:?}"
        );
    }
    assert!(
        app.audit_changes("admin.signed_in")
            .await
            .iter()
            .any(|c| c["second_factor"] == "passkey"),
        "the sign-in names the passkey"
    );
    browser.close().await;
}

#[actix_web::test]
async fn the_admin_account_pages_work_and_pass_the_accessibility_check() {
    let app = spawn_app().await;
    app.create_admin("ada@example.com", Role::Full).await;
    let browser = Browser::open(&app.address, "admin-accounts").await;
    browser.go("/login").await;
    browser.fill("Email", "ada@example.com").await;
    browser.fill("Password", PASSWORD).await;
    browser.click("Sign in").await;
    browser.wait_to_leave("/login").await;

    // Admins: invite one.
    browser.go("/admins").await;
    browser.fill("Email", "bo@example.com").await;
    browser.click("Send invitation").await;
    browser
        .wait_for_text("An invitation was sent to bo@example.com")
        .await;
    browser.check_accessibility("admins").await;
    browser.shot("admins").await;

    // My account.
    browser.go("/account").await;
    browser.wait_for_text("Where you are signed in").await;
    browser.check_accessibility("my account").await;
    browser.shot("account").await;

    // An authenticator app, by the shown key.
    browser.go("/account/security").await;
    browser
        .check_accessibility("two-factor sign-in (off)")
        .await;
    browser.click("Set up an authenticator app").await;
    browser.wait_for_text("Scan this QR code").await;
    browser
        .check_accessibility("two-factor sign-in (enrolling)")
        .await;
    browser.shot("totp-enrol").await;
    let secret = browser
        .client
        .find(fantoccini::Locator::Id("totp-secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Scanned as an app would: the QR code as the browser draws it, read
    // by rqrr; its otpauth URI read by pyotp, which makes the code.
    let png = browser
        .client
        .find(fantoccini::Locator::Id("totp-qr"))
        .await
        .unwrap()
        .screenshot()
        .await
        .unwrap();
    let uri = scan_qr(&png);
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let compact: String = secret.split_whitespace().collect();
    assert!(uri.contains(&format!("secret={compact}")), "{uri}");
    browser
        .fill("Code from the app", &pyotp_uri_code(&uri))
        .await;
    browser.click("Turn on").await;
    browser.wait_for_text("Save these codes now").await;
    browser
        .check_accessibility("two-factor sign-in (recovery codes)")
        .await;
    browser.shot("recovery-codes").await;
    let codes: Vec<String> = browser
        .client
        .find_all(fantoccini::Locator::Css("#recovery-codes li"))
        .await
        .unwrap()
        .into_iter()
        .map(|e| async move { e.text().await.unwrap() })
        .collect::<futures_util::future::JoinAll<_>>()
        .await;
    assert_eq!(codes.len(), 10);

    // Six minutes later an invitation asks for the code first, then goes.
    let cookie = browser.cookie("keyward_session").await;
    age_session_cookie(&app, &cookie, 6 * 60).await;
    browser.go("/admins").await;
    browser.fill("Email", "cy@example.com").await;
    browser.select("Access", "Full access").await;
    browser.click("Send invitation").await;
    browser.wait_for_text("Confirm it is you").await;
    browser.check_accessibility("step-up").await;
    browser.shot("step-up").await;
    browser.fill("Code", &pyotp_code(&secret, 1)).await;
    browser.click("Confirm and continue").await;
    browser
        .wait_for_text("An invitation was sent to cy@example.com")
        .await;

    // The invitation's page.
    let link = last_link(&app);
    browser.go(&link).await;
    browser
        .wait_for_text("You were invited as cy@example.com")
        .await;
    browser.check_accessibility("invitation").await;
    browser.shot("invitation").await;

    // Signing in again: the second step, with a recovery code.
    browser.go("/account").await;
    browser.click("Sign out").await;
    browser.wait_for_text("You have signed out.").await;
    browser.fill("Email", "ada@example.com").await;
    browser.fill("Password", PASSWORD).await;
    browser.click("Sign in").await;
    browser.wait_for_path("/login/verify").await;
    browser
        .check_accessibility("second step of sign-in (code)")
        .await;
    browser.shot("verify-code").await;
    browser.fill("Code", &codes[0]).await;
    browser.click("Verify").await;
    browser.wait_to_leave("/login").await;
    assert_eq!(browser.path().await, "/apps");

    // Forgot password, and the reset page.
    browser.go("/account").await;
    browser.click("Sign out").await;
    browser.wait_for_text("You have signed out.").await;
    browser.click("Forgot your password?").await;
    browser.wait_for_path("/login/forgot").await;
    browser.check_accessibility("forgot password").await;
    browser.fill("Email", "ada@example.com").await;
    browser.click("Send the link").await;
    browser
        .wait_for_text("a link to choose a new password is on its way")
        .await;
    browser.check_accessibility("forgot password (sent)").await;
    for _ in 0..50 {
        if last_link(&app).starts_with("/login/reset") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser.go(&last_link(&app)).await;
    browser.wait_for_text("Choose a new password").await;
    browser.check_accessibility("reset password").await;
    browser.shot("reset").await;
    browser.close().await;
}
