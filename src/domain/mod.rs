//! Types that are valid by construction: parse at the boundary, then trust the type.
//!
//! Each parser returns an [`Invalid`] message meant for the person who typed
//! the value; it never repeats a secret back.

pub mod app;
mod email;
pub mod ids;
mod input;
pub mod key_token;
pub mod manage;
pub mod oauth;
mod password;
pub mod restrictions;
pub mod scopes;
pub mod settings;
pub mod tenant;
pub mod two_factor;
pub mod usage;
pub mod users;
pub mod webhook;

pub use app::{AppUri, Description, LoginUserType, Name, RedirectUrl, SourceApp};
pub use email::EmailAddress;
pub use ids::{
    AdminId, AppId, AppointmentId, EmployeeId, EndpointId, GuestId, InstallmentId, KeyId,
    OperatorId, OrgId, PaymentId, ServiceId, WorkingHoursId,
};
pub use input::{Invalid, has_control_chars};
pub use password::{NewPasswordError, Password};
pub use restrictions::{IpAllowlist, RateLimits};
pub use users::{LinkPurpose, UserRef};
