//! Admins' second factors: TOTP (RFC 6238), passkeys and security keys
//! (WebAuthn: the ceremony runs in the routes with `webauthn-rs`; what it
//! proves is stored here), recovery codes, the check of a typed code at
//! sign-in or step-up (throttled like the password, NIST SP 800-63B-4
//! §3.2.2), and the organization's rule that every admin has one. Every
//! change is audited.

use serde_json::json;

use super::sign_in::{self, Account, Verdict};
use super::{OpError, audit};
use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::models::admin_passkey::AdminPasskey;
use crate::db::models::{
    Action, Actor, Admin, Organization, Target, admin_challenge, admin_recovery_code,
};
use crate::domain::two_factor::{FactorCode, RECOVERY_CODES, RecoveryCode, TotpCode, TotpSecret};
use crate::domain::{EmailAddress, Name, OrgId};
use crate::secrets::{DigestKey, SealingKey, random_bytes};

/// How many passkeys one admin may register.
pub const MAX_PASSKEYS: i64 = 10;

/// The sealing context of an admin's TOTP secret.
pub fn totp_context(admin: &Admin) -> String {
    format!("totp:{}", admin.id)
}

fn target(admin: &Admin) -> Target {
    Target::new("admin", admin.id.clone(), admin.email.clone())
}

fn unix(now: Timestamp) -> u64 {
    u64::try_from(now.assume_utc().unix_timestamp()).unwrap_or(0)
}

/// Which second factor proved the admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    /// The password (step-up of an admin without a second factor).
    Password,
    /// An authenticator app's code.
    Totp,
    /// A recovery code.
    RecoveryCode,
    /// A passkey or security key.
    Passkey,
}

impl Factor {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Passkey => "passkey",
        }
    }
}

/// What an admin has enrolled.
#[derive(Debug, Clone, Copy, Default)]
pub struct Enrolled {
    /// An authenticator app.
    pub totp: bool,
    /// How many passkeys.
    pub passkeys: i64,
    /// Unused recovery codes.
    pub recovery_codes: i64,
}

impl Enrolled {
    /// Whether sign-in asks for a second factor.
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

/// What `admin` has enrolled (a read: pages call it through `state.read`).
pub fn enrolled(conn: &mut DbConn, admin: &Admin) -> diesel::QueryResult<Enrolled> {
    Ok(Enrolled {
        totp: admin.has_totp(),
        passkeys: AdminPasskey::count_for_admin(conn, &admin.id)?,
        recovery_codes: admin_recovery_code::remaining(conn, &admin.id)?,
    })
}

/// The outcome of a typed code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeVerdict {
    /// Right: the factor that matched, and recovery codes left if one was used.
    Accepted(Factor),
    /// Wrong, already used, or for a factor the admin does not have.
    Wrong,
    /// Throttled: wait this many seconds.
    Wait(i64),
    /// The account is locked.
    Locked,
}

fn account(admin: &Admin) -> Result<Account, OpError> {
    let email = EmailAddress::parse(&admin.email)
        .map_err(|e| OpError::invalid("email", "email", e.to_string()))?;
    Ok(Account::SecondFactor(email))
}

/// Reserves a second-factor attempt of `admin` (NIST SP 800-63B-4 §3.2.2:
/// counted before it is checked, so concurrent guesses cannot outrun the
/// throttle).
pub fn reserve(
    conn: &mut DbConn,
    admin: &Admin,
    actor: &Actor,
    now: Timestamp,
) -> Result<Verdict, OpError> {
    sign_in::reserve(conn, account(admin)?, actor.ip.as_deref(), actor, now)
}

/// Records the outcome of a reserved attempt: a success resets the count, a
/// failure is audited (and locks the account at the hard limit).
pub fn settle(
    conn: &mut DbConn,
    admin: &Admin,
    accepted: Option<Factor>,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), OpError> {
    match accepted {
        Some(_) => sign_in::succeeded(conn, account(admin)?, actor.ip.as_deref(), actor, now),
        None => sign_in::failed(conn, account(admin)?, actor, now),
    }
}

/// Checks a typed code (an authenticator app's or a recovery code) for
/// `admin`, throttled: reserved, checked, settled, in the caller's one
/// transaction. A TOTP code is accepted once only (RFC 6238 §5.2: its step
/// must be later than the last accepted one); a recovery code is used up.
pub fn check_code(
    conn: &mut DbConn,
    admin: &Admin,
    code: &FactorCode,
    keys: (&SealingKey, &DigestKey),
    actor: &Actor,
    now: Timestamp,
) -> Result<CodeVerdict, OpError> {
    match reserve(conn, admin, actor, now)? {
        Verdict::Proceed => {}
        Verdict::Wait(seconds) => return Ok(CodeVerdict::Wait(seconds)),
        Verdict::Locked => return Ok(CodeVerdict::Locked),
    }
    let accepted = match code {
        FactorCode::Totp(code) => {
            check_totp(conn, admin, code, keys.0, now)?.then_some(Factor::Totp)
        }
        FactorCode::Recovery(code) => {
            let digest = keys.1.digest(&recovery_material(admin, code));
            if admin_recovery_code::use_up(conn, &admin.id, &digest, now)? {
                let left = admin_recovery_code::remaining(conn, &admin.id)?;
                audit(
                    conn,
                    &admin.organization_id,
                    actor,
                    Action::RecoveryCodeUsed,
                    target(admin),
                    json!({ "remaining": left }),
                )?;
                Some(Factor::RecoveryCode)
            } else {
                None
            }
        }
    };
    settle(conn, admin, accepted, actor, now)?;
    Ok(accepted.map_or(CodeVerdict::Wrong, CodeVerdict::Accepted))
}

/// Whether `code` is right for the admin's TOTP secret now, and its step not
/// accepted before (then it is recorded as accepted).
fn check_totp(
    conn: &mut DbConn,
    admin: &Admin,
    code: &TotpCode,
    sealing: &SealingKey,
    now: Timestamp,
) -> Result<bool, OpError> {
    let (true, Some(sealed)) = (admin.has_totp(), admin.totp_secret.as_deref()) else {
        return Ok(false);
    };
    let Some(secret) = sealing
        .open(sealed, &totp_context(admin))
        .and_then(|bytes| TotpSecret::from_slice(&bytes))
    else {
        tracing::error!("an admin's TOTP secret cannot be opened with this server key");
        return Ok(false);
    };
    let Some(step) = secret.check(code, unix(now)) else {
        return Ok(false);
    };
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    Ok(Admin::accept_totp_step(conn, &admin.id, step)?)
}

/// What a recovery code's digest is made of: the admin and the code, so one
/// admin's code is nothing to another's.
fn recovery_material(admin: &Admin, code: &RecoveryCode) -> String {
    format!("recovery:{}:{}", admin.id, code.as_str())
}

/// Turns on TOTP with `secret` (made and shown at enrolment), confirmed by a
/// first code from the admin's app; its step counts as used.
pub fn enable_totp(
    conn: &mut DbConn,
    admin: &Admin,
    secret: &TotpSecret,
    code: &TotpCode,
    sealing: &SealingKey,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), OpError> {
    let Some(step) = secret.check(code, unix(now)) else {
        return Err(OpError::invalid(
            "totp_code_wrong",
            "code",
            "That code is not right. Check the time on your phone, then enter the code your app shows now.",
        ));
    };
    let sealed = sealing.seal(secret.as_bytes(), &totp_context(admin));
    Admin::set_totp(
        conn,
        &admin.id,
        Some(&sealed),
        Some(i64::try_from(step).unwrap_or(i64::MAX)),
        now,
    )?;
    audit(
        conn,
        &admin.organization_id,
        actor,
        Action::TotpEnabled,
        target(admin),
        json!({}),
    )
}

/// Refuses to take away an admin's last second factor while the
/// organization requires one.
fn check_may_remove_last(conn: &mut DbConn, admin: &Admin, left: Enrolled) -> Result<(), OpError> {
    if !left.any() && Organization::find_by_id(conn, &admin.organization_id)?.require_two_factor {
        return Err(OpError::conflict(
            "two_factor_required",
            "Your organization requires two-factor sign-in: add another authenticator app or passkey before removing this one.",
        ));
    }
    Ok(())
}

/// Turns TOTP off. Without any second factor left, the recovery codes go too.
pub fn disable_totp(
    conn: &mut DbConn,
    admin: &Admin,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), OpError> {
    if !admin.has_totp() {
        return Err(OpError::NotFound);
    }
    let left = Enrolled {
        totp: false,
        ..enrolled(conn, admin)?
    };
    check_may_remove_last(conn, admin, left)?;
    Admin::set_totp(conn, &admin.id, None, None, now)?;
    if !left.any() {
        admin_recovery_code::delete_all(conn, &admin.id)?;
    }
    audit(
        conn,
        &admin.organization_id,
        actor,
        Action::TotpDisabled,
        target(admin),
        json!({}),
    )
}

/// Makes a new set of recovery codes, replacing any old ones; the codes, to
/// show once. Only an admin with a second factor has them.
pub fn new_recovery_codes(
    conn: &mut DbConn,
    admin: &Admin,
    digest_key: &DigestKey,
    actor: &Actor,
    now: Timestamp,
) -> Result<Vec<RecoveryCode>, OpError> {
    // Read again: the factor may have been added in this transaction.
    let admin = &Admin::find_by_id(conn, &admin.id)?.ok_or(OpError::NotFound)?;
    if !enrolled(conn, admin)?.any() {
        return Err(OpError::conflict(
            "no_second_factor",
            "Add an authenticator app or a passkey first: recovery codes stand in for one.",
        ));
    }
    let codes: Vec<RecoveryCode> = (0..RECOVERY_CODES)
        .map(|_| RecoveryCode::from_random(random_bytes::<12>()))
        .collect();
    let digests: Vec<String> = codes
        .iter()
        .map(|c| digest_key.digest(&recovery_material(admin, c)))
        .collect();
    admin_recovery_code::replace(conn, &admin.id, &digests, now)?;
    audit(
        conn,
        &admin.organization_id,
        actor,
        Action::RecoveryCodesGenerated,
        target(admin),
        json!({ "count": codes.len() }),
    )?;
    Ok(codes)
}

/// Stores a passkey the browser just registered (its ceremony checked by the
/// caller): `credential_id` base64url, `passkey` the library's JSON.
pub fn add_passkey(
    conn: &mut DbConn,
    admin: &Admin,
    name: &Name,
    credential_id: &str,
    passkey: &str,
    actor: &Actor,
    now: Timestamp,
) -> Result<String, OpError> {
    if AdminPasskey::count_for_admin(conn, &admin.id)? >= MAX_PASSKEYS {
        return Err(OpError::conflict(
            "passkey_limit",
            format!("An admin can have at most {MAX_PASSKEYS} passkeys. Remove one first."),
        ));
    }
    if AdminPasskey::credential_exists(conn, credential_id)? {
        return Err(OpError::conflict(
            "passkey_registered",
            "This passkey is registered already.",
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    AdminPasskey::insert(
        conn,
        &id,
        &admin.id,
        name.as_str(),
        credential_id,
        passkey,
        now,
    )?;
    audit(
        conn,
        &admin.organization_id,
        actor,
        Action::PasskeyAdded,
        target(admin),
        json!({ "passkey": name.as_str() }),
    )?;
    Ok(id)
}

/// Removes one of the admin's passkeys. Without any second factor left, the
/// recovery codes go too.
pub fn remove_passkey(
    conn: &mut DbConn,
    admin: &Admin,
    passkey_id: &str,
    actor: &Actor,
) -> Result<(), OpError> {
    let before = enrolled(conn, admin)?;
    let left = Enrolled {
        passkeys: before.passkeys - 1,
        ..before
    };
    check_may_remove_last(conn, admin, left)?;
    let removed = AdminPasskey::delete(conn, &admin.id, passkey_id)?.ok_or(OpError::NotFound)?;
    if !left.any() {
        admin_recovery_code::delete_all(conn, &admin.id)?;
    }
    audit(
        conn,
        &admin.organization_id,
        actor,
        Action::PasskeyRemoved,
        target(admin),
        json!({ "passkey": removed.name }),
    )
}

/// Records that `admin` signed in or stepped up with passkey
/// `credential_id`, storing its updated state (signature counter).
pub fn passkey_used(
    conn: &mut DbConn,
    admin: &Admin,
    credential_id: &str,
    passkey: Option<&str>,
    now: Timestamp,
) -> Result<(), OpError> {
    let current = AdminPasskey::list_for_admin(conn, &admin.id)?
        .into_iter()
        .find(|p| p.credential_id == credential_id)
        .ok_or(OpError::NotFound)?;
    AdminPasskey::record_use(
        conn,
        &admin.id,
        credential_id,
        passkey.unwrap_or(&current.passkey),
        now,
    )?;
    Ok(())
}

/// Records a step-up: the admin proved who they are again before a
/// sensitive change.
pub fn stepped_up(
    conn: &mut DbConn,
    admin: &Admin,
    factor: Factor,
    action: &str,
    actor: &Actor,
) -> Result<(), OpError> {
    audit(
        conn,
        &admin.organization_id,
        actor,
        Action::SteppedUp,
        target(admin),
        json!({ "factor": factor.as_str(), "for": action }),
    )
}

/// Turns the organization's two-factor requirement on or off.
pub fn set_required(
    conn: &mut DbConn,
    org: &OrgId,
    on: bool,
    actor: &Actor,
    now: Timestamp,
) -> Result<(), OpError> {
    let current = Organization::find_by_id(conn, org)?;
    if current.require_two_factor == on {
        return Ok(());
    }
    Organization::set_require_two_factor(conn, org, on, now)?;
    audit(
        conn,
        org,
        actor,
        Action::TwoFactorRequirementChanged,
        Target {
            kind: Some("organization"),
            id: Some(org.to_string()),
            label: Some(current.name),
            ..Target::default()
        },
        json!({ "require_two_factor": { "from": current.require_two_factor, "to": on } }),
    )
}

/// How long a WebAuthn ceremony waits for the browser.
pub const CHALLENGE_LIFETIME: time::Duration = time::Duration::minutes(5);

fn challenge_context(admin: &crate::domain::AdminId, purpose: &str) -> String {
    format!("webauthn:{purpose}:{admin}")
}

/// Keeps a WebAuthn ceremony's state, sealed, under a new handle (returned:
/// the session keeps it).
pub fn keep_challenge(
    conn: &mut DbConn,
    admin: &crate::domain::AdminId,
    purpose: &str,
    ceremony: &str,
    sealing: &SealingKey,
    now: Timestamp,
) -> Result<String, OpError> {
    let handle = crate::secrets::random_token::<32>();
    let sealed = sealing.seal(ceremony.as_bytes(), &challenge_context(admin, purpose));
    admin_challenge::insert(
        conn,
        &crate::secrets::sha256_hex(handle.as_bytes()),
        admin,
        purpose,
        &sealed,
        now + CHALLENGE_LIFETIME,
    )?;
    Ok(handle)
}

/// Takes the ceremony a handle names, once; none when unknown, another
/// admin's or purpose's, or lapsed.
pub fn take_challenge(
    conn: &mut DbConn,
    admin: &crate::domain::AdminId,
    purpose: &str,
    handle: &str,
    sealing: &SealingKey,
    now: Timestamp,
) -> Result<Option<String>, OpError> {
    let sealed = admin_challenge::take(
        conn,
        &crate::secrets::sha256_hex(handle.as_bytes()),
        admin,
        purpose,
        now,
    )?;
    Ok(sealed
        .and_then(|s| sealing.open(&s, &challenge_context(admin, purpose)))
        .and_then(|bytes| String::from_utf8(bytes).ok()))
}
