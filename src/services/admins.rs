//! Admin accounts and their sign-ins: creation (from the environment, the setup
//! link or the command line), successful and failed sign-ins, sign-outs, each
//! with its audit record.

use serde_json::json;

use super::{OpError, audit, sign_in};
use crate::clock::{self, Timestamp};
use crate::db::DbConn;
use crate::db::models::admin_link::{AdminLink, AdminLinkPurpose, NewAdminLink};
use crate::db::models::{
    Action, Actor, Admin, NewAdmin, Organization, Role, Target, admin_address, session, setup_token,
};
use crate::domain::EmailAddress;
use crate::domain::{AdminId, OrgId};
use crate::secrets::{random_token, sha256_hex};

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

/// Records a successful sign-in (with the factor that completed it); true
/// when it came from an address this admin had not signed in from before
/// (and they had signed in before): the caller emails them.
pub fn signed_in(
    conn: &mut DbConn,
    admin: &Admin,
    factor: &str,
    actor: &Actor,
) -> Result<bool, OpError> {
    let now = clock::now();
    Admin::touch_sign_in(conn, &admin.id, now)?;
    let new_address = match actor.ip.as_deref() {
        Some(ip) => admin_address::record(conn, &admin.id, ip, now)?,
        None => false,
    };
    audit(
        conn,
        &admin.organization_id,
        actor,
        Action::SignedIn,
        target(admin),
        json!({ "second_factor": factor }),
    )?;
    if new_address {
        audit(
            conn,
            &admin.organization_id,
            actor,
            Action::NewSignInAddress,
            target(admin),
            json!({ "ip": actor.ip }),
        )?;
    }
    Ok(new_address)
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

/// How long an invitation or reset link works.
pub const LINK_LIFETIME: time::Duration = time::Duration::hours(24);
/// How soon another reset link may be sent to the same admin.
const RESET_EVERY: time::Duration = time::Duration::minutes(1);

/// A one-time link just made: the token exists in clear only here, for the
/// email.
#[derive(Debug)]
pub struct IssuedAdminLink {
    /// The token for the link's URL.
    pub token: String,
    /// To whom.
    pub email: String,
    /// The organization's name, for the email.
    pub organization: String,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// What a new link is for.
struct LinkFor<'a> {
    purpose: AdminLinkPurpose,
    email: &'a str,
    role: Role,
    admin_id: Option<&'a AdminId>,
    created_by: Option<&'a str>,
}

fn issue_link(
    conn: &mut DbConn,
    org: &Organization,
    link: LinkFor<'_>,
    now: Timestamp,
) -> Result<IssuedAdminLink, OpError> {
    let LinkFor {
        purpose,
        email,
        role,
        admin_id,
        created_by,
    } = link;
    AdminLink::withdraw(conn, &org.id, email, purpose, now)?;
    let token = random_token::<32>();
    let expires_at = now + LINK_LIFETIME;
    AdminLink::insert(
        conn,
        &NewAdminLink {
            id: &uuid::Uuid::now_v7().to_string(),
            token_digest: &sha256_hex(token.as_bytes()),
            purpose: purpose.as_str(),
            organization_id: &org.id,
            email,
            role: role.as_str(),
            admin_id,
            created_by,
            created_at: now,
            expires_at,
        },
    )?;
    Ok(IssuedAdminLink {
        token,
        email: email.to_owned(),
        organization: org.name.clone(),
        expires_at,
    })
}

/// Refuses an action on the admin doing it: another full-access admin must.
fn check_not_self(target: &Admin, actor: &Actor, what: &str) -> Result<(), OpError> {
    if actor.id.as_ref() == Some(&target.id) {
        return Err(OpError::conflict(
            "admin_self",
            format!("You cannot {what} your own account. Ask another full-access admin."),
        ));
    }
    Ok(())
}

/// Refuses a change that would leave the organization without a full-access
/// admin who can sign in. The full-access admins are locked first, so two
/// such changes at once cannot each leave the other the last.
pub fn check_keeps_a_full_admin(
    conn: &mut DbConn,
    target: &Admin,
    what: &str,
) -> Result<(), OpError> {
    let full = Admin::active_full_ids_for_update(conn, &target.organization_id)?;
    if full.len() <= 1 && full.contains(&target.id) {
        return Err(OpError::conflict(
            "last_full_admin",
            format!(
                "{} is the only full-access admin who can sign in: {what} would leave nobody to manage the API keys. Give another admin full access first.",
                target.email
            ),
        ));
    }
    Ok(())
}

fn find(conn: &mut DbConn, org: &OrgId, id: &AdminId) -> Result<Admin, OpError> {
    Admin::find_in_org(conn, org, id)?.ok_or(OpError::NotFound)
}

/// Invites `email` as an admin of `org` with `role`: a one-time link (24 h)
/// to choose a password. The account is made when the link is used.
pub fn invite(
    conn: &mut DbConn,
    org: &OrgId,
    email: &EmailAddress,
    role: Role,
    actor: &Actor,
    now: Timestamp,
) -> Result<IssuedAdminLink, OpError> {
    if Admin::find_by_email(conn, email.as_str())?.is_some() {
        return Err(OpError::invalid(
            "admin_exists",
            "email",
            "An admin with this email exists already.",
        ));
    }
    check_not_confusable(email, &Admin::all_emails(conn)?)?;
    let organization = Organization::find_by_id(conn, org)?;
    let created_by = actor.id.as_ref().map(ToString::to_string);
    let issued = issue_link(
        conn,
        &organization,
        LinkFor {
            purpose: AdminLinkPurpose::Invitation,
            email: email.as_str(),
            role,
            admin_id: None,
            created_by: created_by.as_deref(),
        },
        now,
    )?;
    audit(
        conn,
        org,
        actor,
        Action::AdminInvited,
        Target {
            kind: Some("admin"),
            label: Some(email.as_str().to_owned()),
            ..Target::default()
        },
        json!({ "email": email.as_str(), "role": role.as_str() }),
    )?;
    Ok(issued)
}

/// Withdraws a pending invitation: its link stops working.
pub fn withdraw_invitation(
    conn: &mut DbConn,
    org: &OrgId,
    link_id: &str,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), OpError> {
    let link = AdminLink::find_invitation(conn, org, link_id, now)?.ok_or(OpError::NotFound)?;
    AdminLink::use_up(conn, &link.id, now)?;
    audit(
        conn,
        org,
        actor,
        Action::AdminInvitationWithdrawn,
        Target {
            kind: Some("admin"),
            label: Some(link.email.clone()),
            ..Target::default()
        },
        json!({ "email": link.email }),
    )
}

/// The live link of `purpose` a token names, if any.
pub fn find_link(
    conn: &mut DbConn,
    token: &str,
    purpose: AdminLinkPurpose,
    now: Timestamp,
) -> Result<Option<AdminLink>, OpError> {
    if token.is_empty() || token.len() > 256 {
        return Ok(None);
    }
    Ok(AdminLink::find_live(
        conn,
        &sha256_hex(token.as_bytes()),
        purpose,
        now,
    )?)
}

/// Uses an invitation: makes the admin with the chosen password (hashed by
/// the caller). The link works once; an address taken meanwhile is refused.
pub fn accept_invitation(
    conn: &mut DbConn,
    token: &str,
    password_hash: &str,
    actor: &Actor,
    now: Timestamp,
) -> Result<Admin, OpError> {
    let link =
        find_link(conn, token, AdminLinkPurpose::Invitation, now)?.ok_or(OpError::NotFound)?;
    if !AdminLink::use_up(conn, &link.id, now)? {
        return Err(OpError::NotFound);
    }
    let email = EmailAddress::parse(&link.email)
        .map_err(|e| OpError::invalid("email", "email", e.to_string()))?;
    if Admin::find_by_email(conn, email.as_str())?.is_some() {
        return Err(OpError::invalid(
            "admin_exists",
            "email",
            "An admin with this email exists already: sign in, or use Forgot your password.",
        ));
    }
    let role = Role::parse(&link.role).unwrap_or(Role::Limited);
    let admin = create(
        conn,
        &link.organization_id,
        &email,
        password_hash,
        role,
        actor,
    )?;
    audit(
        conn,
        &link.organization_id,
        &Actor {
            id: Some(admin.id.clone()),
            label: admin.email.clone(),
            ..actor.clone()
        },
        Action::AdminJoined,
        target(&admin),
        json!({ "role": role.as_str() }),
    )?;
    Ok(admin)
}

/// Changes another admin's role. The last full-access admin keeps theirs.
pub fn change_role(
    conn: &mut DbConn,
    org: &OrgId,
    id: &AdminId,
    role: Role,
    actor: &Actor,
    now: Timestamp,
) -> Result<Admin, OpError> {
    let admin = find(conn, org, id)?;
    check_not_self(&admin, actor, "change the role of")?;
    if admin.role() == role {
        return Ok(admin);
    }
    if role != Role::Full {
        check_keeps_a_full_admin(conn, &admin, "limiting their access")?;
    }
    Admin::set_role(conn, id, role, now)?;
    audit(
        conn,
        org,
        actor,
        Action::AdminRoleChanged,
        target(&admin),
        json!({ "role": { "from": admin.role, "to": role.as_str() } }),
    )?;
    find(conn, org, id)
}

/// Disables another admin (every session of theirs ends at once, their API
/// tokens stop working) or enables them again.
pub fn set_disabled(
    conn: &mut DbConn,
    org: &OrgId,
    id: &AdminId,
    disabled: bool,
    actor: &Actor,
    now: Timestamp,
) -> Result<Admin, OpError> {
    let admin = find(conn, org, id)?;
    if admin.is_disabled() == disabled {
        return Ok(admin);
    }
    if disabled {
        check_not_self(&admin, actor, "disable")?;
        check_keeps_a_full_admin(conn, &admin, "disabling them")?;
        session::delete_all_for_admin(conn, id, None)?;
    }
    Admin::set_disabled(conn, id, disabled.then_some(now), now)?;
    audit(
        conn,
        org,
        actor,
        if disabled {
            Action::AdminDisabled
        } else {
            Action::AdminEnabled
        },
        target(&admin),
        json!({}),
    )?;
    find(conn, org, id)
}

/// Removes another admin: their sessions, API tokens and factors go too.
pub fn remove(conn: &mut DbConn, org: &OrgId, id: &AdminId, actor: &Actor) -> Result<(), OpError> {
    let admin = find(conn, org, id)?;
    check_not_self(&admin, actor, "remove")?;
    check_keeps_a_full_admin(conn, &admin, "removing them")?;
    audit(
        conn,
        org,
        actor,
        Action::AdminRemoved,
        target(&admin),
        json!({ "email": admin.email, "role": admin.role }),
    )?;
    Admin::delete(conn, id)?;
    Ok(())
}

/// Changes the admin's own password (the current one was checked by the
/// caller): every other session of theirs ends.
pub fn change_password(
    conn: &mut DbConn,
    admin: &Admin,
    password_hash: &str,
    keep_session: Option<&str>,
    actor: &Actor,
    now: Timestamp,
) -> Result<Admin, OpError> {
    Admin::set_password(conn, &admin.id, password_hash, now)?;
    let ended = session::delete_all_for_admin(conn, &admin.id, keep_session)?;
    audit(
        conn,
        &admin.organization_id,
        actor,
        Action::AdminPasswordChanged,
        target(admin),
        json!({ "other_sessions_ended": ended }),
    )?;
    Admin::find_by_id(conn, &admin.id)?.ok_or(OpError::NotFound)
}

/// A reset link for the admin with this email, if there is one who may
/// sign in and none was sent within the last minute; audited. The caller
/// answers the same either way.
pub fn request_reset(
    conn: &mut DbConn,
    email: &EmailAddress,
    actor: &Actor,
    now: Timestamp,
) -> Result<Option<IssuedAdminLink>, OpError> {
    let Some(admin) = Admin::find_by_email(conn, email.as_str())? else {
        return Ok(None);
    };
    if admin.is_disabled()
        || AdminLink::last_reset_at(conn, &admin.id)?.is_some_and(|at| at > now - RESET_EVERY)
    {
        return Ok(None);
    }
    let organization = Organization::find_by_id(conn, &admin.organization_id)?;
    let issued = issue_link(
        conn,
        &organization,
        LinkFor {
            purpose: AdminLinkPurpose::Reset,
            email: &admin.email,
            role: admin.role(),
            admin_id: Some(&admin.id),
            created_by: None,
        },
        now,
    )?;
    audit(
        conn,
        &admin.organization_id,
        actor,
        Action::AdminPasswordResetRequested,
        target(&admin),
        json!({}),
    )?;
    Ok(Some(issued))
}

/// Uses a reset link: the new password (hashed by the caller) replaces the
/// old one and every session ends. The second factor still guards sign-in.
pub fn reset_password(
    conn: &mut DbConn,
    token: &str,
    password_hash: &str,
    actor: &Actor,
    now: Timestamp,
) -> Result<Admin, OpError> {
    let link = find_link(conn, token, AdminLinkPurpose::Reset, now)?.ok_or(OpError::NotFound)?;
    let admin = link
        .admin_id
        .as_ref()
        .map(|id| Admin::find_by_id(conn, id))
        .transpose()?
        .flatten()
        .filter(|a| !a.is_disabled())
        .ok_or(OpError::NotFound)?;
    if !AdminLink::use_up(conn, &link.id, now)? {
        return Err(OpError::NotFound);
    }
    Admin::set_password(conn, &admin.id, password_hash, now)?;
    session::delete_all_for_admin(conn, &admin.id, None)?;
    // The link proved the mailbox: the password's failed attempts are
    // forgotten (a second factor's are not).
    if let Ok(email) = EmailAddress::parse(&admin.email) {
        sign_in::forget(conn, &email)?;
    }
    audit(
        conn,
        &admin.organization_id,
        &Actor {
            id: Some(admin.id.clone()),
            label: admin.email.clone(),
            ..actor.clone()
        },
        Action::AdminPasswordReset,
        target(&admin),
        json!({}),
    )?;
    Ok(admin)
}

/// Signs out one of the admin's own sessions (by its row id).
pub fn end_session(
    conn: &mut DbConn,
    admin: &Admin,
    session_id: &str,
    actor: &Actor,
) -> Result<(), OpError> {
    if !session::delete_for_admin(conn, &admin.id, session_id)? {
        return Err(OpError::NotFound);
    }
    audit(
        conn,
        &admin.organization_id,
        actor,
        Action::AdminSessionEnded,
        target(admin),
        json!({}),
    )
}

/// Housekeeping: forgets admin links used or lapsed more than a week ago and
/// WebAuthn ceremonies that were never finished.
pub fn tidy(conn: &mut DbConn, now: Timestamp) -> Result<usize, OpError> {
    let links = AdminLink::delete_old(conn, now - time::Duration::days(7))?;
    let challenges = crate::db::models::admin_challenge::delete_expired(conn, now)?;
    Ok(links + challenges)
}
