//! App users' credentials: the one-time links that let an employee or a guest
//! set a password, the password itself, and blocking a guest. Every change is
//! audited with its actor; a password never reaches the record.
//!
//! A link is 32 random bytes; only its SHA-256 is stored. It works for
//! [`LINK_LIFETIME`] and once: [`set_password`] uses it up in the same
//! statement that checks it, so two submissions of one link cannot both set a
//! password. A new link for a user replaces the unused ones. A reset also
//! clears the old password at once.

use diesel::QueryResult;
use secrecy::SecretString;
use serde_json::json;

use super::sign_in::Account;
use super::{OpError, audit};
use crate::clock::{self, Timestamp};
use crate::db::DbConn;
use crate::db::models::hosted::HostedSession;
use crate::db::models::login_user::LINK_LIFETIME;
use crate::db::models::platform::{Employee, Guest};
use crate::db::models::token::TokenFamily;
use crate::db::models::{Action, Actor, Target, UserCredential, UserLink};
use crate::domain::{EmailAddress, LinkPurpose, OrgId, UserRef};
use crate::secrets::{random_token, sha256_hex};

/// The person a link is for, as the email and the page name them.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// Who.
    pub user: UserRef,
    /// Their name.
    pub name: String,
    /// Where the link goes.
    pub email: String,
}

/// A link made for a user: its token in the clear, for the one email that carries it.
#[derive(Debug)]
pub struct IssuedLink {
    /// The organization.
    pub org: OrgId,
    /// The token of the link's URL.
    pub token: SecretString,
    /// Who it is for.
    pub recipient: Recipient,
    /// Invitation or reset.
    pub purpose: LinkPurpose,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// Whether a user may receive a link and sign in.
enum Standing {
    May(Recipient),
    Missing,
    Left,
    Blocked,
    NoEmail,
}

fn standing(conn: &mut DbConn, org: &OrgId, user: &UserRef) -> QueryResult<Standing> {
    let (name, email) = match user {
        UserRef::Employee(id) => match Employee::find(conn, org, id)? {
            None => return Ok(Standing::Missing),
            Some(e) if !e.active => return Ok(Standing::Left),
            Some(e) => (e.name, Some(e.email)),
        },
        UserRef::Guest(id) => match Guest::find(conn, org, id)? {
            None => return Ok(Standing::Missing),
            Some(g) => (format!("{} {}", g.first_name, g.last_name), g.email),
        },
    };
    if UserCredential::find(conn, org, user)?.is_some_and(|c| c.blocked_at.is_some()) {
        return Ok(Standing::Blocked);
    }
    Ok(match email {
        Some(email) => Standing::May(Recipient {
            user: user.clone(),
            name,
            email,
        }),
        None => Standing::NoEmail,
    })
}

/// Whether `user` may sign in now: they exist in the organization, have a
/// password, are not blocked and, an employee, have not left. The credential
/// check asks this of every access token it has not cached.
pub fn may_sign_in(conn: &mut DbConn, org: &OrgId, user: &UserRef) -> QueryResult<bool> {
    let usable = UserCredential::find(conn, org, user)?
        .is_some_and(|c| c.has_password() && c.blocked_at.is_none());
    if !usable {
        return Ok(false);
    }
    Ok(match user {
        UserRef::Employee(id) => Employee::find(conn, org, id)?.is_some_and(|e| e.active),
        UserRef::Guest(id) => Guest::find(conn, org, id)?.is_some(),
    })
}

/// The user's name and email, if they exist in the organization and may sign
/// in: an employee who left or a blocked guest may not.
pub fn recipient(conn: &mut DbConn, org: &OrgId, user: &UserRef) -> Result<Recipient, OpError> {
    match standing(conn, org, user)? {
        Standing::May(r) => Ok(r),
        Standing::Missing => Err(OpError::NotFound),
        Standing::Left => Err(OpError::invalid(
            "user_left",
            "user",
            "This employee has left the organization: they cannot sign in.",
        )),
        Standing::Blocked => Err(OpError::invalid(
            "user_blocked",
            "user",
            "This guest is blocked: unblock them first.",
        )),
        Standing::NoEmail => Err(OpError::invalid(
            "email_missing",
            "email",
            "This guest has no email address to send the link to.",
        )),
    }
}

fn target(recipient: &Recipient) -> Target {
    let kind = match recipient.user {
        UserRef::Employee(_) => "employee",
        UserRef::Guest(_) => "guest",
    };
    Target::new(kind, recipient.user.user_id(), recipient.name.clone())
}

/// Makes a one-time link for `user`: an invitation (the first password) or a
/// reset (which also ends the current password and, with it, every token).
pub fn issue_link(
    conn: &mut DbConn,
    org: &OrgId,
    actor: &Actor,
    user: &UserRef,
    purpose: LinkPurpose,
) -> Result<IssuedLink, OpError> {
    let recipient = recipient(conn, org, user)?;
    if let UserRef::Guest(id) = user {
        check_sign_in_email_free(conn, org, id, &recipient.email)?;
    }
    let now = clock::now();
    let credential = UserCredential::ensure(conn, org, user, now)?;
    if purpose == LinkPurpose::Invitation && credential.has_password() {
        return Err(OpError::invalid(
            "password_set",
            "user",
            "This user has set a password already: reset it instead.",
        ));
    }
    if purpose == LinkPurpose::Reset {
        UserCredential::set_password(conn, &credential.subject, None, now)?;
        end_sign_ins(conn, user, "password_reset")?;
    }
    let token = random_token::<32>();
    let expires_at = now + LINK_LIFETIME;
    UserLink::replace(
        conn,
        &UserLink {
            token_digest: sha256_hex(token.as_bytes()),
            organization_id: org.clone(),
            subject: credential.subject.clone(),
            purpose: purpose.as_str().to_owned(),
            created_by: actor.id.as_ref().map(|id| id.as_str().to_owned()),
            created_at: now,
            expires_at,
            used_at: None,
        },
    )?;
    let action = match purpose {
        LinkPurpose::Invitation => Action::UserInvited,
        LinkPurpose::Reset => Action::UserPasswordReset,
    };
    audit(
        conn,
        org,
        actor,
        action,
        target(&recipient),
        json!({ "email": recipient.email, "link_expires_at": clock::fmt::timestamp(expires_at) }),
    )?;
    Ok(IssuedLink {
        org: org.clone(),
        token: SecretString::from(token),
        recipient,
        purpose,
        expires_at,
    })
}

/// How often Forgot password may email one user.
pub const FORGOT_EVERY: time::Duration = time::Duration::minutes(5);

/// The user of an app's Login User Type with this email, if exactly one may
/// sign in with it (two guests sharing an email: neither, as at sign-in).
pub fn find_by_email(
    conn: &mut DbConn,
    org: &OrgId,
    user_type: crate::domain::LoginUserType,
    email: &EmailAddress,
) -> QueryResult<Option<Recipient>> {
    let candidates: Vec<UserRef> = match user_type {
        crate::domain::LoginUserType::Employee => {
            Employee::find_by_email(conn, org, email.as_str())?
                .map(|e| UserRef::Employee(e.id))
                .into_iter()
                .collect()
        }
        crate::domain::LoginUserType::Guest => Guest::with_email(conn, org, email.as_str())?
            .into_iter()
            .map(|g| UserRef::Guest(g.id))
            .collect(),
    };
    let mut found = None;
    for user in candidates {
        if let Standing::May(r) = standing(conn, org, &user)? {
            if found.is_some() {
                return Ok(None);
            }
            found = Some(r);
        }
    }
    Ok(found)
}

/// **Forgot password** on the hosted sign-in page: a link to choose a new
/// password, emailed to the user of this email, if there is one. The current
/// password keeps working until the link is used (a stranger who types the
/// address must not lock the user out), only a user who has a password gets
/// one, and at most one such email every [`FORGOT_EVERY`]. `None` when nothing is to be sent; the page
/// answers the same either way.
pub fn request_link(
    conn: &mut DbConn,
    org: &OrgId,
    user_type: crate::domain::LoginUserType,
    email: &EmailAddress,
    actor: &Actor,
    now: Timestamp,
) -> Result<Option<IssuedLink>, OpError> {
    let Some(recipient) = find_by_email(conn, org, user_type, email)? else {
        return Ok(None);
    };
    let subject = recipient.user.subject();
    if UserLink::sent_since(conn, &subject, now - FORGOT_EVERY)? {
        return Ok(None);
    }
    // Only a user who has a password can forget it: an invitation is the
    // admin's to send.
    if !UserCredential::find(conn, org, &recipient.user)?.is_some_and(|c| c.has_password()) {
        return Ok(None);
    }
    let purpose = LinkPurpose::Reset;
    let token = random_token::<32>();
    let expires_at = now + LINK_LIFETIME;
    UserLink::replace(
        conn,
        &UserLink {
            token_digest: sha256_hex(token.as_bytes()),
            organization_id: org.clone(),
            subject,
            purpose: purpose.as_str().to_owned(),
            created_by: None,
            created_at: now,
            expires_at,
            used_at: None,
        },
    )?;
    audit(
        conn,
        org,
        actor,
        Action::UserPasswordLinkRequested,
        target(&recipient),
        json!({ "email": recipient.email, "link_expires_at": clock::fmt::timestamp(expires_at) }),
    )?;
    Ok(Some(IssuedLink {
        org: org.clone(),
        token: SecretString::from(token),
        recipient,
        purpose,
        expires_at,
    }))
}

/// A user's name and email (OpenID Connect's `name` and `email` claims).
pub fn profile(
    conn: &mut DbConn,
    org: &OrgId,
    user: &UserRef,
) -> QueryResult<Option<(String, Option<String>)>> {
    Ok(match user {
        UserRef::Employee(id) => Employee::find(conn, org, id)?.map(|e| (e.name, Some(e.email))),
        UserRef::Guest(id) => Guest::find(conn, org, id)?
            .map(|g| (format!("{} {}", g.first_name, g.last_name), g.email)),
    })
}

/// The digest under which a link's token is stored.
pub fn link_digest(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// Who a usable link (by its digest) is for, or `None` when it is unknown,
/// used or expired, or its user may no longer sign in.
pub fn link_recipient(
    conn: &mut DbConn,
    digest: &str,
    now: Timestamp,
) -> QueryResult<Option<(UserLink, Recipient)>> {
    let Some(link) = UserLink::find_usable(conn, digest, now)? else {
        return Ok(None);
    };
    let Some(user) = UserRef::from_subject(&link.subject) else {
        return Ok(None);
    };
    Ok(match standing(conn, &link.organization_id, &user)? {
        Standing::May(r) => Some((link, r)),
        _ => None,
    })
}

/// The refusal of a link that cannot be used (any reason: it is not said which).
pub fn link_unusable() -> OpError {
    OpError::invalid(
        "link_unusable",
        "token",
        "This link has expired or was used already. Ask your admin for a new one.",
    )
}

/// Sets the password (its argon2id hash) through the link with this digest,
/// using the link up. The actor is the user.
pub fn set_password(
    conn: &mut DbConn,
    digest: &str,
    password_hash: &str,
    ip: Option<String>,
    user_agent: Option<String>,
) -> Result<Recipient, OpError> {
    let now = clock::now();
    let (link, recipient) = link_recipient(conn, digest, now)?.ok_or_else(link_unusable)?;
    if !UserLink::use_up(conn, digest, now)? {
        return Err(link_unusable());
    }
    UserCredential::set_password(conn, &link.subject, Some(password_hash), now)?;
    // A new password ends a lock of the sign-in throttle.
    if let Ok(email) = EmailAddress::parse(&recipient.email) {
        super::sign_in::forget(
            conn,
            Account::User {
                org: link.organization_id.clone(),
                user_type: recipient.user.user_type(),
                email,
                app_id: None,
            },
        )?;
    }
    let actor = Actor {
        id: None,
        label: format!(
            "{} {}",
            recipient.user.user_type().as_str(),
            recipient.email
        ),
        ip,
        user_agent,
        via: None,
    };
    audit(
        conn,
        &link.organization_id,
        &actor,
        Action::UserPasswordSet,
        target(&recipient),
        json!({ "through": link.purpose().as_str() }),
    )?;
    Ok(recipient)
}

/// An app set a new guest's password as it added them through the API (the
/// write-only `password` attribute). The email must not be one another guest
/// signs in with: a sign-in by email must name one guest.
pub fn set_password_by_app(
    conn: &mut DbConn,
    org: &OrgId,
    guest: &Guest,
    password_hash: &str,
    actor: &Actor,
) -> Result<(), OpError> {
    let email = guest.email.clone().ok_or_else(|| {
        OpError::invalid(
            "email_missing",
            "email",
            "A guest with a password signs in with their email: send email too.",
        )
    })?;
    check_sign_in_email_free(conn, org, &guest.id, &email)?;
    let user = UserRef::Guest(guest.id.clone());
    let now = clock::now();
    let credential = UserCredential::ensure(conn, org, &user, now)?;
    UserCredential::set_password(conn, &credential.subject, Some(password_hash), now)?;
    let recipient = Recipient {
        user,
        name: format!("{} {}", guest.first_name, guest.last_name),
        email,
    };
    audit(
        conn,
        org,
        actor,
        Action::UserPasswordSet,
        target(&recipient),
        json!({ "through": "api" }),
    )
}

/// No other guest of the organization signs in with `email` (has a password).
pub fn check_sign_in_email_free(
    conn: &mut DbConn,
    org: &OrgId,
    guest: &crate::domain::GuestId,
    email: &str,
) -> Result<(), OpError> {
    for other in Guest::with_email(conn, org, email)? {
        if &other.id == guest {
            continue;
        }
        let user = UserRef::Guest(other.id);
        if UserCredential::find(conn, org, &user)?.is_some_and(|c| c.has_password()) {
            return Err(OpError::invalid(
                "email_in_use",
                "email",
                "Another guest signs in with this email: a guest signs in by email, so it must be theirs alone.",
            ));
        }
    }
    Ok(())
}

/// Blocks a guest from signing in (their links end too), or lets them again.
pub fn set_guest_blocked(
    conn: &mut DbConn,
    org: &OrgId,
    actor: &Actor,
    guest: &crate::domain::GuestId,
    blocked: bool,
) -> Result<(), OpError> {
    let found = Guest::find(conn, org, guest)?.ok_or(OpError::NotFound)?;
    let user = UserRef::Guest(guest.clone());
    let now = clock::now();
    let credential = UserCredential::ensure(conn, org, &user, now)?;
    if credential.blocked_at.is_some() == blocked {
        return Ok(());
    }
    UserCredential::set_blocked(conn, &credential.subject, blocked.then_some(now), now)?;
    if blocked {
        UserLink::cancel_for(conn, &credential.subject)?;
        end_sign_ins(conn, &user, "user_blocked")?;
    }
    let recipient = Recipient {
        user,
        name: format!("{} {}", found.first_name, found.last_name),
        email: found.email.unwrap_or_default(),
    };
    audit(
        conn,
        org,
        actor,
        if blocked {
            Action::UserBlocked
        } else {
            Action::UserUnblocked
        },
        target(&recipient),
        json!({}),
    )
}

/// Ends every sign-in of `user` (their refresh and access tokens): a
/// password reset, leaving, being blocked. The caller's audit record says
/// why, and names the user in the change feed.
fn end_sign_ins(conn: &mut DbConn, user: &UserRef, reason: &str) -> Result<usize, OpError> {
    HostedSession::end_subject(conn, &user.subject(), clock::now())?;
    Ok(TokenFamily::revoke_subject(
        conn,
        &user.subject(),
        reason,
        clock::now(),
    )?)
}

/// An employee left: their links, their password and every sign-in end for
/// good (coming back, they need a new invitation).
pub(crate) fn employee_left(conn: &mut DbConn, user: &UserRef) -> Result<(), OpError> {
    UserLink::cancel_for(conn, &user.subject())?;
    UserCredential::set_password(conn, &user.subject(), None, clock::now())?;
    end_sign_ins(conn, user, "user_left")?;
    Ok(())
}

/// A user changed their own password (with their current one and a valid
/// access token of the sign-in `current`): the new hash is stored, and every
/// other sign-in of theirs ends. The actor is the user.
pub fn change_password(
    conn: &mut DbConn,
    org: &OrgId,
    user: &UserRef,
    current: &str,
    password_hash: &str,
    actor: &Actor,
) -> Result<usize, OpError> {
    let recipient = match standing(conn, org, user)? {
        Standing::May(r) => r,
        _ => return Err(OpError::NotFound),
    };
    let now = clock::now();
    UserCredential::set_password(conn, &user.subject(), Some(password_hash), now)?;
    let ended = TokenFamily::revoke_subject_except(
        conn,
        &user.subject(),
        current,
        "password_changed",
        now,
    )?;
    audit(
        conn,
        org,
        actor,
        Action::UserPasswordChanged,
        target(&recipient),
        json!({ "other_sessions_ended": ended }),
    )?;
    Ok(ended)
}
