//! The people who sign in to an app: its employees or its guests (the app's
//! Login User Type decides which).

use super::app::LoginUserType;
use super::ids::{EmployeeId, GuestId};

/// One app user: an employee of the staff or a guest of the business.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserRef {
    /// An employee.
    Employee(EmployeeId),
    /// A guest.
    Guest(GuestId),
}

impl UserRef {
    /// The user's kind.
    pub fn user_type(&self) -> LoginUserType {
        match self {
            Self::Employee(_) => LoginUserType::Employee,
            Self::Guest(_) => LoginUserType::Guest,
        }
    }

    /// The user's id within its kind.
    pub fn user_id(&self) -> &str {
        match self {
            Self::Employee(id) => id.as_str(),
            Self::Guest(id) => id.as_str(),
        }
    }

    /// The stable name of the user across kinds: `employee:<id>` or
    /// `guest:<id>`, the key of its credentials and the tokens' `sub`.
    pub fn subject(&self) -> String {
        format!("{}:{}", self.user_type().as_str(), self.user_id())
    }

    /// The user a subject names, if it is well formed.
    pub fn from_subject(subject: &str) -> Option<Self> {
        let (kind, id) = subject.split_once(':')?;
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        match kind {
            "employee" => Some(Self::Employee(EmployeeId::from(id.to_owned()))),
            "guest" => Some(Self::Guest(GuestId::from(id.to_owned()))),
            _ => None,
        }
    }
}

/// Why a one-time password link was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// The first password.
    Invitation,
    /// A new password; the old one and every token stop working at once.
    Reset,
}

impl LinkPurpose {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Invitation => "invitation",
            Self::Reset => "reset",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "invitation" => Some(Self::Invitation),
            "reset" => Some(Self::Reset),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_names_its_user_and_nothing_else() {
        let user = UserRef::Employee(EmployeeId::from("0193-abc".to_owned()));
        assert_eq!(user.subject(), "employee:0193-abc");
        assert_eq!(UserRef::from_subject(&user.subject()), Some(user));
        let guest = UserRef::Guest(GuestId::from("g1".to_owned()));
        assert_eq!(UserRef::from_subject("guest:g1"), Some(guest));
        for bad in [
            "",
            "guest",
            "guest:",
            "admin:x",
            "employee:a b",
            "Employee:x",
        ] {
            assert_eq!(UserRef::from_subject(bad), None, "{bad}");
        }
    }
}
