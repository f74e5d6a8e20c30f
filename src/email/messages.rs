//! The emails Keyward sends, each a plain-text and an HTML Askama template.

use askama::Template;

use super::Email;

/// What an expiry alert says.
#[derive(Debug, Clone)]
pub struct ExpiryAlert {
    pub organization: String,
    pub app_name: String,
    /// The app's URI: where its developer can be reached.
    pub app_uri: String,
    /// The key's name.
    pub key_name: String,
    /// The key's description (may be empty).
    pub key_description: String,
    /// The organization's full-access admins, who can act on the key.
    pub admins: Vec<String>,
    /// Whether the recipient is one of the console's admins; if not, they
    /// are asked to forward the email to one.
    pub recipient_is_admin: bool,
    /// The key's masked form.
    pub masked: String,
    /// The expiry, in the organization's time zone.
    pub expires: String,
    /// Whole days left; 0 or less once expired.
    pub days_left: i64,
    /// The key's page.
    pub link: String,
}

impl ExpiryAlert {
    /// `in 6 days`, `tomorrow`, `today`, or empty once expired.
    pub fn when(&self) -> String {
        match self.days_left {
            d if d <= 0 => "today".to_owned(),
            1 => "tomorrow".to_owned(),
            d => format!("in {d} days"),
        }
    }

    /// Whether the key has expired.
    pub fn expired(&self) -> bool {
        self.days_left < 0
    }
}

#[derive(Template)]
#[template(path = "emails/expiry_alert.txt")]
struct ExpiryAlertText<'a> {
    a: &'a ExpiryAlert,
}

#[derive(Template)]
#[template(path = "emails/expiry_alert.html")]
struct ExpiryAlertHtml<'a> {
    a: &'a ExpiryAlert,
}

/// The alert email for one recipient.
pub fn expiry_alert(
    alert: &ExpiryAlert,
    to: &str,
    message_id: String,
) -> Result<Email, askama::Error> {
    let subject = if alert.expired() {
        format!(
            "API key “{}” of {} has expired",
            alert.key_name, alert.app_name
        )
    } else {
        format!(
            "API key “{}” of {} expires {}",
            alert.key_name,
            alert.app_name,
            alert.when()
        )
    };
    Ok(Email {
        to: to.to_owned(),
        subject,
        text: ExpiryAlertText { a: alert }.render()?,
        html: ExpiryAlertHtml { a: alert }.render()?,
        message_id: Some(message_id),
    })
}

#[derive(Template)]
#[template(path = "emails/test.txt")]
struct TestText<'a> {
    sender: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "emails/test.html")]
struct TestHtml<'a> {
    sender: &'a str,
    link: &'a str,
}

/// The email of the "send a test email" button.
pub fn test_email(to: &str, sender: &str, link: &str) -> Result<Email, askama::Error> {
    Ok(Email {
        to: to.to_owned(),
        subject: "Keyward test email".to_owned(),
        text: TestText { sender, link }.render()?,
        html: TestHtml { sender, link }.render()?,
        message_id: None,
    })
}

/// What a sign-in invitation or password reset email says.
#[derive(Debug, Clone, Copy)]
pub struct PasswordLink<'a> {
    /// The user's name.
    pub name: &'a str,
    /// The organization's name.
    pub organization: &'a str,
    /// The one-time link.
    pub link: &'a str,
    /// When it stops working, written out.
    pub expires: &'a str,
    /// A reset (else an invitation).
    pub reset: bool,
    /// For an employee (else a guest).
    pub employee: bool,
}

#[derive(Template)]
#[template(path = "emails/password_link.txt")]
struct PasswordLinkText<'a> {
    p: PasswordLink<'a>,
}

#[derive(Template)]
#[template(path = "emails/password_link.html")]
struct PasswordLinkHtml<'a> {
    p: PasswordLink<'a>,
}

/// The email carrying a one-time password link.
pub fn password_link(to: &str, p: PasswordLink<'_>) -> Result<Email, askama::Error> {
    let subject = if p.reset {
        format!("{}: choose a new password", p.organization)
    } else {
        format!("{}: your sign-in invitation", p.organization)
    };
    Ok(Email {
        to: to.to_owned(),
        subject,
        text: PasswordLinkText { p }.render()?,
        html: PasswordLinkHtml { p }.render()?,
        message_id: None,
    })
}

/// What the email about a webhook endpoint switched off says.
#[derive(Debug, Clone)]
pub struct WebhookDisabled {
    pub organization: String,
    /// The endpoint's URL.
    pub url: String,
    /// Since when every attempt failed (UTC).
    pub failing_since: String,
    /// The last attempt's error.
    pub last_error: String,
    /// The endpoint's page.
    pub link: String,
}

#[derive(Template)]
#[template(path = "emails/webhook_disabled.txt")]
struct WebhookDisabledText<'a> {
    w: &'a WebhookDisabled,
}

#[derive(Template)]
#[template(path = "emails/webhook_disabled.html")]
struct WebhookDisabledHtml<'a> {
    w: &'a WebhookDisabled,
}

/// The email telling an admin that a failing webhook endpoint was switched off.
pub fn webhook_disabled(w: &WebhookDisabled, to: &str) -> Result<Email, askama::Error> {
    Ok(Email {
        to: to.to_owned(),
        subject: format!("{}: a webhook endpoint was switched off", w.organization),
        text: WebhookDisabledText { w }.render()?,
        html: WebhookDisabledHtml { w }.render()?,
        message_id: None,
    })
}

/// What the email about a sign-in from a new address says.
#[derive(Debug, Clone)]
pub struct NewSignIn {
    pub organization: String,
    /// The client's address.
    pub ip: String,
    /// The client's User-Agent, clipped.
    pub browser: String,
    /// When, in the organization's time zone.
    pub when: String,
    /// The admin's account page (their sessions, their password).
    pub link: String,
}

#[derive(Template)]
#[template(path = "emails/new_sign_in.txt")]
struct NewSignInText<'a> {
    n: &'a NewSignIn,
}

#[derive(Template)]
#[template(path = "emails/new_sign_in.html")]
struct NewSignInHtml<'a> {
    n: &'a NewSignIn,
}

/// The email telling an admin their account was signed in to from an
/// address it had not been before.
pub fn new_sign_in(to: &str, n: &NewSignIn) -> Result<Email, askama::Error> {
    Ok(Email {
        to: to.to_owned(),
        subject: format!("{}: a new sign-in to your Keyward account", n.organization),
        text: NewSignInText { n }.render()?,
        html: NewSignInHtml { n }.render()?,
        message_id: None,
    })
}

/// What an admin invitation or password reset email says.
#[derive(Debug, Clone, Copy)]
pub struct AdminLinkMail<'a> {
    pub organization: &'a str,
    /// The one-time link.
    pub link: &'a str,
    /// When it stops working, written out.
    pub expires: &'a str,
    /// A reset (else an invitation).
    pub reset: bool,
    /// The role an invitation gives, in words.
    pub role: &'a str,
}

#[derive(Template)]
#[template(path = "emails/admin_link.txt")]
struct AdminLinkText<'a> {
    p: AdminLinkMail<'a>,
}

#[derive(Template)]
#[template(path = "emails/admin_link.html")]
struct AdminLinkHtml<'a> {
    p: AdminLinkMail<'a>,
}

/// The email carrying an admin's invitation or password reset link.
pub fn admin_link(to: &str, p: AdminLinkMail<'_>) -> Result<Email, askama::Error> {
    let subject = if p.reset {
        format!("{}: reset your Keyward password", p.organization)
    } else {
        format!("{}: you are invited to administer Keyward", p.organization)
    };
    Ok(Email {
        to: to.to_owned(),
        subject,
        text: AdminLinkText { p }.render()?,
        html: AdminLinkHtml { p }.render()?,
        message_id: None,
    })
}
