//! The management API's scopes: what an admin API token (`kwa_…`) may do.
//!
//! A scope names an area and `read` or `write`; `write` includes `read` of
//! the same area. The areas `apps` and `keys` are the API keys section, which
//! only full-access admins reach (seed 003), and only they change anything,
//! as in the console: a limited admin's token never does, whatever its scopes
//! say.

use super::input::Invalid;

/// What part of the console a scope opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Area {
    /// Applications: details, scopes, standing.
    Apps,
    /// API keys of the apps.
    Keys,
    /// The staff (employees).
    Staff,
    /// The Expiry of API keys alert settings.
    Settings,
    /// The audit trail (read only).
    Audit,
}

impl Area {
    /// Whether the area belongs to the API keys section (full-access admins only).
    pub const fn is_keys_section(self) -> bool {
        matches!(self, Self::Apps | Self::Keys)
    }
}

/// One scope of an admin API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManageScope {
    pub area: Area,
    pub write: bool,
}

impl ManageScope {
    /// Every scope, in the form's order.
    pub const ALL: &'static [ManageScope] = &[
        Self::new(Area::Apps, false),
        Self::new(Area::Apps, true),
        Self::new(Area::Keys, false),
        Self::new(Area::Keys, true),
        Self::new(Area::Staff, false),
        Self::new(Area::Staff, true),
        Self::new(Area::Settings, false),
        Self::new(Area::Settings, true),
        Self::new(Area::Audit, false),
    ];

    /// A scope.
    pub const fn new(area: Area, write: bool) -> Self {
        Self { area, write }
    }

    /// Its name, e.g. `manage:keys:write`.
    pub const fn as_str(self) -> &'static str {
        match (self.area, self.write) {
            (Area::Apps, false) => "manage:apps:read",
            (Area::Apps, true) => "manage:apps:write",
            (Area::Keys, false) => "manage:keys:read",
            (Area::Keys, true) => "manage:keys:write",
            (Area::Staff, false) => "manage:staff:read",
            (Area::Staff, true) => "manage:staff:write",
            (Area::Settings, false) => "manage:settings:read",
            (Area::Settings, true) => "manage:settings:write",
            (Area::Audit, _) => "manage:audit:read",
        }
    }

    /// What it allows, for the form and the documentation.
    pub const fn description(self) -> &'static str {
        match (self.area, self.write) {
            (Area::Apps, false) => "List and read apps",
            (Area::Apps, true) => "Create, change, activate, inactivate and delete apps",
            (Area::Keys, false) => "List and read API keys (never their tokens)",
            (Area::Keys, true) => "Create, change, roll, activate, inactivate and delete API keys",
            (Area::Staff, false) => "List and read the staff",
            (Area::Staff, true) => "Add and change employees",
            (Area::Settings, false) => "Read the Expiry of API keys alert settings",
            (Area::Settings, true) => "Change the Expiry of API keys alert settings",
            (Area::Audit, _) => "Read the audit trail",
        }
    }

    /// Whether only a full-access admin's token may use it: the API keys
    /// section, and every change (as in the console, where limited admins
    /// only read the staff, the settings and their part of the audit trail).
    pub const fn needs_full_access(self) -> bool {
        self.area.is_keys_section() || self.write
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|scope| scope.as_str() == s)
    }
}

/// The scopes of a token: at least one, each known, no repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeSet(Vec<ManageScope>);

impl ScopeSet {
    /// Parses the submitted names.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, Invalid> {
        let mut scopes = Vec::new();
        for name in names {
            let name = name.trim();
            let Some(scope) = ManageScope::parse(name) else {
                let shown: String = name.chars().filter(|c| !c.is_control()).take(40).collect();
                return Err(Invalid::new(format!("“{shown}” is not a scope.")));
            };
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(Invalid::new("Choose at least one scope."));
        }
        scopes.sort();
        Ok(Self(scopes))
    }

    /// Reads the stored form (names separated by spaces), skipping names
    /// this version no longer knows.
    pub fn from_stored(stored: &str) -> Self {
        let mut scopes: Vec<ManageScope> = stored
            .split_whitespace()
            .filter_map(ManageScope::parse)
            .collect();
        scopes.sort();
        scopes.dedup();
        Self(scopes)
    }

    /// The stored form.
    pub fn to_stored(&self) -> String {
        self.0
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether it allows `wanted`: the same scope, or `write` of its area
    /// for a `read`.
    pub fn allows(&self, wanted: ManageScope) -> bool {
        self.0
            .iter()
            .any(|s| s.area == wanted.area && (s.write || !wanted.write))
    }

    /// Whether any scope needs a full-access admin.
    pub fn needs_full_access(&self) -> bool {
        self.0.iter().any(|s| s.needs_full_access())
    }

    /// The scopes.
    pub fn iter(&self) -> impl Iterator<Item = ManageScope> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_includes_read_of_its_area_only() {
        let set = ScopeSet::parse(["manage:keys:write", "manage:audit:read"]).unwrap();
        assert!(set.allows(ManageScope::new(Area::Keys, false)));
        assert!(set.allows(ManageScope::new(Area::Keys, true)));
        assert!(!set.allows(ManageScope::new(Area::Apps, false)));
        assert!(set.allows(ManageScope::new(Area::Audit, false)));
        assert!(set.needs_full_access());
        assert_eq!(set.to_stored(), "manage:keys:write manage:audit:read");
        assert_eq!(ScopeSet::from_stored(&set.to_stored()), set);
        let staff = ScopeSet::parse(["manage:staff:read"]).unwrap();
        assert!(!staff.needs_full_access());
        assert!(
            ScopeSet::parse(["manage:staff:write"])
                .unwrap()
                .needs_full_access()
        );
        assert!(!staff.allows(ManageScope::new(Area::Staff, true)));
    }

    #[test]
    fn unknown_or_missing_scopes_are_refused() {
        assert!(ScopeSet::parse(["manage:keys:admin"]).is_err());
        assert!(ScopeSet::parse(["services:read"]).is_err());
        assert!(ScopeSet::parse(Vec::<&str>::new()).is_err());
        assert_eq!(
            ScopeSet::parse(["manage:apps:read", "manage:apps:read"])
                .unwrap()
                .iter()
                .count(),
            1
        );
    }
}
