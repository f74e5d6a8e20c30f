//! Admin accounts and their sign-ins: creation (from the environment, the setup
//! link or the command line), successful and failed sign-ins, sign-outs, each
//! with its audit record.

use serde_json::json;

use super::{OpError, audit};
use crate::clock;
use crate::db::DbConn;
use crate::db::models::{Action, Actor, Admin, NewAdmin, Organization, Role, Target, setup_token};
use crate::domain::EmailAddress;
use crate::domain::{AdminId, OrgId};

fn target(admin: &Admin) -> Target {
    Target::new("admin", admin.id.clone(), admin.email.clone())
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

/// Records a refused sign-in for `email`, in the organization of the account
/// it names, or the installation's first when no account has that email. The
/// throttle counts these records.
pub fn sign_in_failed(
    conn: &mut DbConn,
    email: &EmailAddress,
    actor: &Actor,
) -> Result<(), OpError> {
    let organization_id = match Admin::find_by_email(conn, email.as_str())? {
        Some(admin) => admin.organization_id,
        None => Organization::the_one(conn)?.id,
    };
    let target = Target {
        kind: Some("admin"),
        label: Some(email.as_str().to_owned()),
        ..Target::default()
    };
    audit(
        conn,
        &organization_id,
        actor,
        Action::SignInFailed,
        target,
        json!({ "reason": "incorrect email or password" }),
    )
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
