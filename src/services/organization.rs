//! The organization's features and policies, each change audited.

use serde_json::json;

use super::{OpError, audit};
use crate::clock;
use crate::db::DbConn;
use crate::db::models::{Action, Actor, Organization, Target};

/// Switches the `external_connectivity` feature (off: the API answers 402).
pub fn set_external_connectivity(
    conn: &mut DbConn,
    organization_id: &str,
    actor: &Actor,
    on: bool,
) -> Result<bool, OpError> {
    let org = Organization::find_by_id(conn, organization_id)?;
    if org.external_connectivity == on {
        return Ok(false);
    }
    Organization::set_external_connectivity(conn, organization_id, on, clock::now())?;
    audit(
        conn,
        organization_id,
        actor,
        Action::FeaturesChanged,
        Target::new("organization", org.id.clone(), org.name.clone()),
        json!({ "external_connectivity": { "from": org.external_connectivity, "to": on } }),
    )?;
    Ok(true)
}
