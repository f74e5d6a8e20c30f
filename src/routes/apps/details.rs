//! The Details fields (wizard step 1 and the edit page): the raw form, its parsing
//! into [`AppDetails`], and the Add / Remove buttons of the redirect URL lists,
//! which work without JavaScript by posting the whole form back.

use serde::Deserialize;

use crate::db::models::{App, AppDetails};
use crate::domain::{AppUri, Description, LoginUserType, Name, RedirectUrl, SourceApp};
use crate::routes::page::Problem;

/// The Details fields as submitted.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct DetailsForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub uri: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub login_user_type: String,
    #[serde(default)]
    pub source_app: String,
    #[serde(default)]
    pub post_login_redirect_urls: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_urls: Vec<String>,
    #[serde(default)]
    pub new_post_login_redirect_url: String,
    #[serde(default)]
    pub new_post_logout_redirect_url: String,
}

impl DetailsForm {
    /// The form filled from a stored app.
    pub fn from_app(app: &App) -> Self {
        Self {
            name: app.name.clone(),
            uri: app.uri.clone(),
            description: app.description.clone(),
            login_user_type: app.login_user_type.clone(),
            source_app: app.source_app.clone(),
            post_login_redirect_urls: app.post_login_urls(),
            post_logout_redirect_urls: app.post_logout_urls(),
            ..Self::default()
        }
    }

    /// Whether `value` is the chosen Login User Type (for the radio buttons).
    pub fn user_type_is(&self, value: &&str) -> bool {
        self.login_user_type == *value
    }

    /// Whether `value` is the chosen Source App (for the select).
    pub fn source_is(&self, value: &&str) -> bool {
        self.source_app == *value
    }
}

/// Messages beside the fields.
#[derive(Debug, Default, Clone)]
pub struct DetailsErrors {
    pub name: Option<String>,
    pub uri: Option<String>,
    pub description: Option<String>,
    pub login_user_type: Option<String>,
    pub source_app: Option<String>,
    pub post_login: Option<String>,
    pub post_logout: Option<String>,
}

impl DetailsErrors {
    /// Whether any field has an error.
    pub fn any(&self) -> bool {
        self.name.is_some()
            || self.uri.is_some()
            || self.description.is_some()
            || self.login_user_type.is_some()
            || self.source_app.is_some()
            || self.post_login.is_some()
            || self.post_logout.is_some()
    }

    /// The error summary, in the form's order; a URL list's error links to
    /// its Add field.
    pub fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("name", self.name.as_deref()),
            ("uri", self.uri.as_deref()),
            ("description", self.description.as_deref()),
            ("login_user_type", self.login_user_type.as_deref()),
            ("source_app", self.source_app.as_deref()),
            ("new_post_logout_redirect_url", self.post_logout.as_deref()),
            ("new_post_login_redirect_url", self.post_login.as_deref()),
        ])
    }
}

/// What the form's buttons asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Next, Save.
    Submit,
    /// Enter pressed in a field (the form's default button): a URL typed in
    /// an Add field is added, as its Add button would; with none typed, Next
    /// or Save.
    Enter,
    /// Add to Post Login Redirect URLs.
    AddLogin,
    /// Add to Post Logout Redirect URLs.
    AddLogout,
    /// Remove one Post Login Redirect URL.
    RemoveLogin(usize),
    /// Remove one Post Logout Redirect URL.
    RemoveLogout(usize),
}

impl Op {
    /// Parses the `op` button value; anything unknown is a submit.
    pub fn parse(s: &str) -> Self {
        let index = |rest: &str| rest.parse::<usize>().ok();
        if s == "enter" {
            Self::Enter
        } else if s == "add_login" {
            Self::AddLogin
        } else if s == "add_logout" {
            Self::AddLogout
        } else if let Some(i) = s.strip_prefix("remove_login:").and_then(index) {
            Self::RemoveLogin(i)
        } else if let Some(i) = s.strip_prefix("remove_logout:").and_then(index) {
            Self::RemoveLogout(i)
        } else {
            Self::Submit
        }
    }
}

fn add_url(list: &mut Vec<String>, new: &mut String, error: &mut Option<String>) {
    let typed = new.trim();
    if typed.is_empty() {
        *error = Some("Enter a URL, then select Add.".to_owned());
        return;
    }
    match RedirectUrl::parse(typed) {
        Err(e) => *error = Some(e.to_string()),
        Ok(url) if list.iter().any(|u| u == url.as_str()) => {
            *error = Some("This URL is in the list already.".to_owned())
        }
        Ok(_) if list.len() >= RedirectUrl::MAX_PER_LIST => {
            *error = Some(format!(
                "A list holds at most {} URLs.",
                RedirectUrl::MAX_PER_LIST
            ));
        }
        Ok(url) => {
            list.push(url.as_str().to_owned());
            new.clear();
        }
    }
}

/// Applies an Add or Remove button to the form. Returns false for a submit.
pub fn apply_list_op(form: &mut DetailsForm, op: Op, errors: &mut DetailsErrors) -> bool {
    match op {
        Op::Submit => return false,
        Op::Enter => {
            let login = !form.new_post_login_redirect_url.trim().is_empty();
            let logout = !form.new_post_logout_redirect_url.trim().is_empty();
            if !login && !logout {
                return false;
            }
            if login {
                add_url(
                    &mut form.post_login_redirect_urls,
                    &mut form.new_post_login_redirect_url,
                    &mut errors.post_login,
                );
            }
            if logout {
                add_url(
                    &mut form.post_logout_redirect_urls,
                    &mut form.new_post_logout_redirect_url,
                    &mut errors.post_logout,
                );
            }
        }
        Op::AddLogin => add_url(
            &mut form.post_login_redirect_urls,
            &mut form.new_post_login_redirect_url,
            &mut errors.post_login,
        ),
        Op::AddLogout => add_url(
            &mut form.post_logout_redirect_urls,
            &mut form.new_post_logout_redirect_url,
            &mut errors.post_logout,
        ),
        Op::RemoveLogin(i) if i < form.post_login_redirect_urls.len() => {
            form.post_login_redirect_urls.remove(i);
        }
        Op::RemoveLogout(i) if i < form.post_logout_redirect_urls.len() => {
            form.post_logout_redirect_urls.remove(i);
        }
        Op::RemoveLogin(_) | Op::RemoveLogout(_) => {}
    }
    true
}

fn parse_urls(list: &[String], pending: &str, error: &mut Option<String>) -> Vec<RedirectUrl> {
    let mut out = Vec::new();
    // A URL typed but not added is taken too: nothing typed is lost.
    let pending = Some(pending.trim()).filter(|s| !s.is_empty());
    for raw in list.iter().map(String::as_str).chain(pending) {
        match RedirectUrl::parse(raw) {
            Ok(url) if !out.contains(&url) => out.push(url),
            Ok(_) => {}
            Err(e) => {
                error.get_or_insert_with(|| {
                    format!("{}: {e}", raw.chars().take(80).collect::<String>())
                });
            }
        }
    }
    if out.len() > RedirectUrl::MAX_PER_LIST {
        *error = Some(format!(
            "A list holds at most {} URLs.",
            RedirectUrl::MAX_PER_LIST
        ));
    }
    out
}

/// Validates every field; on success the details, else the messages.
#[expect(
    clippy::result_large_err,
    reason = "built once per submitted form, then rendered"
)]
pub fn parse(form: &DetailsForm) -> Result<AppDetails, DetailsErrors> {
    let mut errors = DetailsErrors::default();
    let name = Name::parse(&form.name)
        .map_err(|e| errors.name = Some(e.to_string()))
        .ok();
    let uri = AppUri::parse(&form.uri)
        .map_err(|e| errors.uri = Some(e.to_string()))
        .ok();
    let description = Description::parse(&form.description)
        .map_err(|e| errors.description = Some(e.to_string()))
        .ok();
    let login_user_type = LoginUserType::parse(&form.login_user_type)
        .map_err(|e| errors.login_user_type = Some(e.to_string()))
        .ok();
    let source_app = SourceApp::parse(&form.source_app)
        .map_err(|e| errors.source_app = Some(e.to_string()))
        .ok();
    let post_login = parse_urls(
        &form.post_login_redirect_urls,
        &form.new_post_login_redirect_url,
        &mut errors.post_login,
    );
    let post_logout = parse_urls(
        &form.post_logout_redirect_urls,
        &form.new_post_logout_redirect_url,
        &mut errors.post_logout,
    );
    match (name, uri, description, login_user_type, source_app) {
        (Some(name), Some(uri), Some(description), Some(login_user_type), Some(source_app))
            if !errors.any() =>
        {
            Ok(AppDetails {
                name,
                uri,
                description,
                login_user_type,
                source_app,
                post_login,
                post_logout,
            })
        }
        _ => Err(errors),
    }
}

/// Login User Type choices: (value, label).
pub const USER_TYPES: [(&str, &str); 2] = [
    (LoginUserType::Guest.as_str(), LoginUserType::Guest.label()),
    (
        LoginUserType::Employee.as_str(),
        LoginUserType::Employee.label(),
    ),
];

/// Source App choices: (value, label).
pub const SOURCE_APPS: [(&str, &str); 4] = [
    (
        SourceApp::ExternalCma.as_str(),
        SourceApp::ExternalCma.label(),
    ),
    (
        SourceApp::ExternalWebstore.as_str(),
        SourceApp::ExternalWebstore.label(),
    ),
    (SourceApp::ClientApp.as_str(), SourceApp::ClientApp.label()),
    (SourceApp::Bot.as_str(), SourceApp::Bot.label()),
];
