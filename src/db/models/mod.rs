//! One file per table: the row (`Thing`), the insert (`NewThing`), and the queries.

pub mod admin;
pub mod audit_event;
pub mod organization;
pub mod session;
pub mod setup_token;

pub use admin::{Admin, NewAdmin, Role};
pub use audit_event::{Action, Actor, AuditEvent, NewAuditEvent, Target};
pub use organization::Organization;
