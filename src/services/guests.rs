//! Guests added and changed through `/api/v2`: the platform's data, without
//! audit records (see `bookings`).

use super::OpError;
use crate::clock;
use crate::db::DbConn;
use crate::db::models::platform::Guest;
use crate::domain::{GuestId, OrgId};

/// What a change replaces; `None` keeps the current value, `Some(None)` clears
/// an optional one.
#[derive(Debug, Clone, Default)]
pub struct GuestChanges {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
}

/// Adds a guest.
pub fn add(
    conn: &mut DbConn,
    org: &OrgId,
    first_name: String,
    last_name: String,
    email: Option<String>,
    phone: Option<String>,
) -> Result<Guest, OpError> {
    let now = clock::now();
    let guest = Guest {
        id: GuestId::generate(),
        organization_id: org.clone(),
        first_name,
        last_name,
        email,
        phone,
        created_at: now,
        updated_at: now,
    };
    Guest::insert(conn, &guest)?;
    Ok(guest)
}

/// Changes a guest's details.
pub fn change(
    conn: &mut DbConn,
    org: &OrgId,
    id: &GuestId,
    changes: GuestChanges,
) -> Result<Guest, OpError> {
    let current = Guest::find(conn, org, id)?.ok_or(OpError::NotFound)?;
    let updated = Guest {
        first_name: changes.first_name.unwrap_or(current.first_name.clone()),
        last_name: changes.last_name.unwrap_or(current.last_name.clone()),
        email: changes.email.unwrap_or(current.email.clone()),
        phone: changes.phone.unwrap_or(current.phone.clone()),
        updated_at: clock::now(),
        ..current
    };
    Guest::update(conn, &updated)?;
    Ok(updated)
}
