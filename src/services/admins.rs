//! Admin accounts and their sign-ins: creation (from the environment, the setup
//! link or the command line), successful and failed sign-ins, sign-outs, each
//! with its audit record.

use serde_json::json;

use super::{OpError, audit};
use crate::clock;
use crate::db::DbConn;
use crate::db::models::{Action, Actor, Admin, NewAdmin, Role, Target, setup_token};
use crate::domain::EmailAddress;
use crate::domain::{AdminId, OrgId};

fn target(admin: &Admin) -> Target {
    Target::new("admin", admin.id.clone(), admin.email.clone())
}

/// An address that looks like one already in use (the same skeleton, UTS #39)
/// is refused: it would pass for that account in every list and email.
pub fn check_not_confusable(email: &EmailAddress, existing: &[String]) -> Result<(), OpError> {
    match existing
        .iter()
        .find(|other| other.as_str() != email.as_str() && email.confusable_with(other))
    {
        Some(other) => Err(OpError::invalid(
            "email_confusable",
            "email",
            format!("This address looks the same as {other}, which is in use. Use another."),
        )),
        None => Ok(()),
    }
}

/// Creates an admin of `organization_id` with an already hashed password.
pub fn create(
    conn: &mut DbConn,
    organization_id: &OrgId,
    email: &EmailAddress,
    password_hash: &str,
    role: Role,
    actor: &Actor,
) -> Result<Admin, OpError> {
    check_not_confusable(email, &Admin::all_emails(conn)?)?;
    let now = clock::now();
    let id = AdminId::generate();
    Admin::insert(
        conn,
        &NewAdmin {
            id: &id,
            organization_id,
            email: email.as_str(),
            password_hash,
            role: role.as_str(),
            password_changed_at: now,
            created_at: now,
            updated_at: now,
        },
    )?;
    let admin = Admin::find_by_id(conn, &id)?.ok_or(OpError::NotFound)?;
    audit(
        conn,
        organization_id,
        actor,
        Action::AdminCreated,
        target(&admin),
        json!({ "email": email.as_str(), "role": role.as_str() }),
    )?;
    Ok(admin)
}

/// Creates an admin from an operator's command and uses up every setup link:
/// an admin exists now.
pub fn create_by_operator(
    conn: &mut DbConn,
    organization_id: &OrgId,
    email: &EmailAddress,
    password_hash: &str,
    role: Role,
    actor: &Actor,
) -> Result<Admin, OpError> {
    let admin = create(conn, organization_id, email, password_hash, role, actor)?;
    setup_token::delete_all(conn)?;
    Ok(admin)
}

/// Creates the first full-access admin, unless an admin exists already (two
/// setup links, or two instances starting together): then `None`. Every setup
/// link is used up.
pub fn create_first(
    conn: &mut DbConn,
    organization_id: &OrgId,
    email: &EmailAddress,
    password_hash: &str,
    actor: &Actor,
) -> Result<Option<Admin>, OpError> {
    if Admin::count(conn)? > 0 {
        return Ok(None);
    }
    create_by_operator(
        conn,
        organization_id,
        email,
        password_hash,
        Role::Full,
        actor,
    )
    .map(Some)
}

/// Records a successful sign-in.
pub fn signed_in(conn: &mut DbConn, admin: &Admin, actor: &Actor) -> Result<(), OpError> {
    let now = clock::now();
    Admin::touch_sign_in(conn, &admin.id, now)?;
    audit(
        conn,
        &admin.organization_id,
        actor,
        Action::SignedIn,
        target(admin),
        json!({}),
    )
}

/// Stores a new hash of an admin's unchanged password (stronger parameters, or
/// the normalised form): not a password change, so sessions stay signed in.
pub fn renew_password_hash(
    conn: &mut DbConn,
    admin_id: &AdminId,
    password_hash: &str,
) -> Result<(), OpError> {
    Admin::set_password_hash(conn, admin_id, password_hash)?;
    Ok(())
}

/// Records a sign-out.
pub fn signed_out(conn: &mut DbConn, admin_id: &AdminId, actor: &Actor) -> Result<(), OpError> {
    let admin = Admin::find_by_id(conn, admin_id)?.ok_or(OpError::NotFound)?;
    audit(
        conn,
        &admin.organization_id,
        actor,
        Action::SignedOut,
        target(&admin),
        json!({}),
    )
}
