//! The scopes catalog: the API groups, their permissions (`resource:action`), and the
//! two families an app can be granted them in. The wizard, the key form, the API's
//! checks and the API documentation all read this one definition.

use std::fmt;

/// What can be done to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// List and read.
    Read,
    /// Create.
    Create,
    /// Change.
    Update,
    /// Delete (for appointments: cancel).
    Delete,
}

impl Action {
    /// The name used in permission strings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Self::Read),
            "create" => Some(Self::Create),
            "update" => Some(Self::Update),
            "delete" => Some(Self::Delete),
            _ => None,
        }
    }
}

/// A platform resource and the actions it supports.
#[derive(Debug)]
pub struct Resource {
    /// The name in permission strings and API paths.
    pub name: &'static str,
    /// Words for the console.
    pub label: &'static str,
    /// Supported actions.
    pub actions: &'static [Action],
}

/// An API group: related resources granted together or one by one.
#[derive(Debug)]
pub struct Group {
    /// Stable identifier.
    pub slug: &'static str,
    /// Name shown in the console.
    pub name: &'static str,
    /// What the group covers.
    pub description: &'static str,
    pub resources: &'static [Resource],
}

use Action::{Create, Delete, Read, Update};

/// Every API group, in the order the console shows them.
pub const GROUPS: &[Group] = &[
    Group {
        slug: "appointments",
        name: "Appointments",
        description: "Bookings and the free slots they can take.",
        resources: &[
            Resource {
                name: "appointments",
                label: "Appointments",
                actions: &[Read, Create, Update, Delete],
            },
            Resource {
                name: "available_slots",
                label: "Available slots",
                actions: &[Read],
            },
        ],
    },
    Group {
        slug: "catalog",
        name: "Catalog",
        description: "The services the business offers.",
        resources: &[Resource {
            name: "services",
            label: "Services",
            actions: &[Read],
        }],
    },
    Group {
        slug: "staff",
        name: "Staff",
        description: "Employees and their working hours.",
        resources: &[
            Resource {
                name: "employees",
                label: "Employees",
                actions: &[Read],
            },
            Resource {
                name: "working_hours",
                label: "Working hours",
                actions: &[Read],
            },
        ],
    },
    Group {
        slug: "finance",
        name: "Finance",
        description: "Payments and instalment plans.",
        resources: &[
            Resource {
                name: "payments",
                label: "Payments",
                actions: &[Read],
            },
            Resource {
                name: "installments",
                label: "Installments",
                actions: &[Read],
            },
        ],
    },
    Group {
        slug: "guests",
        name: "Guests",
        description: "The business's customers.",
        resources: &[Resource {
            name: "guests",
            label: "Guests",
            actions: &[Read, Create, Update],
        }],
    },
];

/// One permission: an action on a resource of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    resource: &'static str,
    action: Action,
}

impl Permission {
    /// Parses `resource:action`, accepting only what the catalog defines.
    pub fn parse(s: &str) -> Option<Self> {
        let (resource, action) = s.split_once(':')?;
        let action = Action::parse(action)?;
        GROUPS
            .iter()
            .flat_map(|g| g.resources.iter())
            .find(|r| r.name == resource && r.actions.contains(&action))
            .map(|r| Self {
                resource: r.name,
                action,
            })
    }

    /// The resource.
    pub fn resource(self) -> &'static str {
        self.resource
    }

    /// The action.
    pub fn action(self) -> Action {
        self.action
    }

    /// A permission known to be in the catalog (for route definitions).
    pub const fn new_unchecked(resource: &'static str, action: Action) -> Self {
        Self { resource, action }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.action.as_str())
    }
}

/// Every permission of the catalog, in catalog order.
pub fn all_permissions() -> impl Iterator<Item = Permission> {
    GROUPS.iter().flat_map(|g| {
        g.resources.iter().flat_map(|r| {
            r.actions.iter().map(move |a| Permission {
                resource: r.name,
                action: *a,
            })
        })
    })
}

/// How an app's users authenticate: each family has its own grant of permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// APIKEY GROUPS: what the app's API keys may be given.
    ApiKey,
    /// JWT GROUPS: what access tokens issued to the app's users carry.
    Jwt,
}

impl Family {
    /// The console's heading.
    pub fn label(self) -> &'static str {
        match self {
            Self::ApiKey => "APIKEY GROUPS",
            Self::Jwt => "JWT GROUPS",
        }
    }

    /// The form field carrying this family's permissions.
    pub fn field(self) -> &'static str {
        match self {
            Self::ApiKey => "apikey",
            Self::Jwt => "jwt",
        }
    }
}

/// Every permission of the catalog, sorted: a set's bits are positions here.
static SORTED: std::sync::LazyLock<Vec<Permission>> = std::sync::LazyLock::new(|| {
    let mut all: Vec<Permission> = all_permissions().collect();
    all.sort();
    all.dedup();
    assert!(all.len() <= 128, "a permission set holds at most 128");
    all
});

/// The bit of a catalog permission (none for one outside it).
fn bit(p: Permission) -> u128 {
    SORTED.binary_search(&p).map_or(0, |i| 1 << i)
}

/// A set of catalog permissions, stored as a space-separated, sorted string.
/// Held as one bit per catalog permission: the verifier keeps one per cached
/// credential, so it must not cost an allocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PermissionSet(u128);

impl PermissionSet {
    /// Parses a stored string; unknown entries (from an older catalog) are dropped.
    pub fn from_stored(s: &str) -> Self {
        s.split_whitespace().filter_map(Permission::parse).collect()
    }

    /// Parses submitted values; any unknown value is an error naming it.
    pub fn from_submitted<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut set = Self::default();
        for v in values {
            let p = Permission::parse(v).ok_or_else(|| {
                format!(
                    "Unknown permission: {}.",
                    v.chars().take(60).collect::<String>()
                )
            })?;
            set.0 |= bit(p);
        }
        Ok(set)
    }

    /// The stored form.
    pub fn to_stored(&self) -> String {
        self.iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether `p` is in the set.
    pub fn contains(&self, p: Permission) -> bool {
        let b = bit(p);
        b != 0 && self.0 & b == b
    }
    /// Whether every permission of `self` is in `other`.
    pub fn is_subset(&self, other: &PermissionSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// The permissions in both.
    pub fn intersection(&self, other: &PermissionSet) -> PermissionSet {
        Self(self.0 & other.0)
    }
    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
    /// The permissions, sorted.
    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        let bits = self.0;
        SORTED
            .iter()
            .enumerate()
            .filter(move |(i, _)| bits & (1 << i) != 0)
            .map(|(_, p)| *p)
    }

    /// The permissions as strings, sorted.
    pub fn strings(&self) -> Vec<String> {
        self.iter().map(|p| p.to_string()).collect()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |bits, p| bits | bit(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_parse_only_from_the_catalog() {
        assert_eq!(
            Permission::parse("appointments:create")
                .unwrap()
                .to_string(),
            "appointments:create"
        );
        for bad in [
            "services:create",
            "appointments",
            "appointments:",
            ":read",
            "nope:read",
            "appointments:read:x",
            "APPOINTMENTS:READ",
        ] {
            assert!(Permission::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn every_catalog_permission_round_trips() {
        let all: Vec<_> = all_permissions().collect();
        assert!(all.len() >= 12);
        for p in &all {
            assert_eq!(Permission::parse(&p.to_string()), Some(*p));
        }
        let set = PermissionSet::from_submitted(
            all.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str),
        )
        .unwrap();
        assert_eq!(PermissionSet::from_stored(&set.to_stored()), set);
    }

    #[test]
    fn sets_narrow_by_intersection() {
        let app = PermissionSet::from_stored("services:read appointments:read");
        let key = PermissionSet::from_stored("services:read appointments:create");
        assert_eq!(key.intersection(&app).to_stored(), "services:read");
        assert!(!key.is_subset(&app));
        assert!(PermissionSet::from_submitted(["services:read", "x:y"]).is_err());
    }
}
