//! What the request guard refuses, on the record.

use serde_json::json;

use super::{OpError, audit};
use crate::db::DbConn;
use crate::db::models::{Action, Actor, Admin, Organization, Target};

/// Records a refused state-changing request (another site's, or a bad token):
/// the path, the reason, the actor, and how many such records were held back
/// since the last one. In the organization of the signed-in admin, if any.
pub fn request_refused(
    conn: &mut DbConn,
    actor: &Actor,
    path: &str,
    why: &str,
    suppressed: u64,
) -> Result<(), OpError> {
    let admin = match &actor.id {
        Some(id) => Admin::find_by_id(conn, id)?,
        None => None,
    };
    let (org, label) = match admin {
        Some(admin) => (admin.organization_id, admin.email),
        None => (Organization::the_one(conn)?.id, String::new()),
    };
    let actor = Actor {
        label,
        ..actor.clone()
    };
    audit(
        conn,
        &org,
        &actor,
        Action::RequestRefused,
        Target {
            kind: Some("request"),
            label: Some(path.to_owned()),
            ..Target::default()
        },
        json!({ "route": path, "reason": why, "held_back": suppressed }),
    )
}
