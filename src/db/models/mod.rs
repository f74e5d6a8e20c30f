//! One file per table: the row (`Thing`), the insert (`NewThing`), and the queries.

pub mod admin;
pub mod admin_address;
pub mod admin_challenge;
pub mod admin_link;
pub mod admin_passkey;
pub mod admin_recovery_code;
pub mod admin_token;
pub mod alert;
pub mod api_key;
pub mod app;
pub mod audit_event;
pub mod change;
pub mod hosted;
pub mod key_address;
pub mod login_user;
pub mod operator;
pub mod organization;
pub mod platform;
pub mod rate_count;
pub mod request_log;
pub mod retired_key;
pub mod session;
pub mod setup_token;
pub mod sign_in_throttle;
pub mod token;
pub mod usage;
pub mod webhook;

pub use admin::{Admin, NewAdmin, Role};
pub use api_key::{ApiKey, ApiKeyChanges, KeyStatus, NewApiKey};
pub use app::{App, AppDetails, AppStatus, WizardStep};
pub use audit_event::{Action, Actor, AuditEvent, AuditFilter, NewAuditEvent, Target};
pub use change::{Change, ChangeKind};
pub use login_user::{UserCredential, UserLink};
pub use operator::{Operator, OperatorEvent};
pub use organization::Organization;
pub use retired_key::{RetiredBecause, RetiredKey};
