//! Types that are valid by construction: parse at the boundary, then trust the type.
//!
//! Each parser returns an [`Invalid`] message meant for the person who typed
//! the value; it never repeats a secret back.

pub mod app;
mod email;
pub mod ids;
pub mod key_token;
mod password;
pub mod scopes;
pub mod settings;

pub use app::{AppUri, Description, LoginUserType, Name, RedirectUrl, SourceApp};
pub use email::EmailAddress;
pub use ids::{
    AdminId, AppId, AppointmentId, EmployeeId, GuestId, InstallmentId, KeyId, OrgId, PaymentId,
    ServiceId, WorkingHoursId,
};
pub use password::Password;

/// Why a typed value was refused, in words for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    /// A message for the field.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// True when `s` holds a control character other than tab, CR or LF.
pub fn has_control_chars(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
}
