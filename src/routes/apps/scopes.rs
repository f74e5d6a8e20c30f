//! The scopes checkboxes, as the templates show them: the catalog's groups with
//! what is selected.

use serde::Deserialize;

use crate::domain::scopes::{Family, GROUPS, Permission, PermissionSet};

/// One checkbox.
#[derive(Debug, Clone)]
pub struct PermView {
    /// Submitted value, `resource:action`.
    pub value: String,
    /// Element id.
    pub id: String,
    pub label: String,
    pub checked: bool,
}

/// One expandable group.
#[derive(Debug, Clone)]
pub struct GroupView {
    pub name: &'static str,
    pub description: &'static str,
    /// How many of its permissions are checked.
    pub selected: usize,
    /// The checkboxes.
    pub permissions: Vec<PermView>,
}

/// One family: APIKEY GROUPS or JWT GROUPS.
#[derive(Debug, Clone)]
pub struct FamilyView {
    /// Form field name.
    pub field: &'static str,
    /// Heading.
    pub label: &'static str,
    /// What the family is for.
    pub hint: &'static str,
    pub groups: Vec<GroupView>,
}

fn label(p: Permission) -> String {
    let resource = GROUPS
        .iter()
        .flat_map(|g| g.resources.iter())
        .find(|r| r.name == p.resource())
        .map_or(p.resource(), |r| r.label);
    format!("{resource}: {}", p.action().as_str())
}

/// The groups, limited to `offered`, with `checked` ticked. Empty groups are left out.
pub fn groups(
    field: &str,
    offered: Option<&PermissionSet>,
    checked: &PermissionSet,
) -> Vec<GroupView> {
    GROUPS
        .iter()
        .filter_map(|g| {
            let permissions: Vec<PermView> = g
                .resources
                .iter()
                .flat_map(|r| {
                    r.actions
                        .iter()
                        .map(move |a| Permission::new_unchecked(r.name, *a))
                })
                .filter(|p| offered.is_none_or(|o| o.contains(*p)))
                .map(|p| PermView {
                    value: p.to_string(),
                    id: format!("{field}-{}-{}", p.resource(), p.action().as_str()),
                    label: label(p),
                    checked: checked.contains(p),
                })
                .collect();
            (!permissions.is_empty()).then(|| GroupView {
                name: g.name,
                description: g.description,
                selected: permissions.iter().filter(|p| p.checked).count(),
                permissions,
            })
        })
        .collect()
}

/// Both families for the Scopes step and the edit page.
pub fn families(apikey: &PermissionSet, jwt: &PermissionSet) -> Vec<FamilyView> {
    vec![
        FamilyView {
            field: Family::ApiKey.field(),
            label: Family::ApiKey.label(),
            hint: "Permissions the app's API keys can be given, for server-to-server calls.",
            groups: groups(Family::ApiKey.field(), None, apikey),
        },
        FamilyView {
            field: Family::Jwt.field(),
            label: Family::Jwt.label(),
            hint: "Permissions carried by access tokens issued to the app's users at sign-in.",
            groups: groups(Family::Jwt.field(), None, jwt),
        },
    ]
}

/// The scopes checkboxes as submitted.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ScopesForm {
    #[serde(default)]
    pub apikey: Vec<String>,
    #[serde(default)]
    pub jwt: Vec<String>,
    /// `back` for the Back button: keep what is ticked, go to Details.
    #[serde(default)]
    pub op: String,
}

impl ScopesForm {
    /// Both sets, or the message for the page.
    pub fn parse(&self) -> Result<(PermissionSet, PermissionSet), String> {
        let apikey = PermissionSet::from_submitted(self.apikey.iter().map(String::as_str))?;
        let jwt = PermissionSet::from_submitted(self.jwt.iter().map(String::as_str))?;
        crate::services::apps::check_scopes(&apikey, &jwt).map_err(|e| e.to_string())?;
        Ok((apikey, jwt))
    }

    /// What was ticked, for re-rendering (unknown values dropped).
    pub fn checked(&self) -> (PermissionSet, PermissionSet) {
        let keep = |v: &[String]| PermissionSet::from_stored(&v.join(" "));
        (keep(&self.apikey), keep(&self.jwt))
    }
}
