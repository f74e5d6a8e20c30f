//! The operator's work: organizations as tenants (made with their first
//! admin's invitation, the features and limits of their subscription,
//! suspended and resumed), and the operators themselves.
//!
//! Every operator action is recorded twice, in the same transaction: in the
//! operators' own trail (`operator_events`), and, when it concerns an
//! organization, in that organization's audit trail, where its admins see
//! the operator's email as the actor.

use serde_json::{Value, json};

use super::admins::IssuedAdminLink;
use super::{Diff, OpError, audit};
use crate::clock::{self, Timestamp};
use crate::db::DbConn;
use crate::db::models::organization::{Features, NewOrganization};
use crate::db::models::{
    Action, Actor, Admin, Operator, OperatorEvent, Organization, Role, Target,
};
use crate::domain::tenant::Slug;
use crate::domain::{EmailAddress, Name, OperatorId, OrgId};

/// Who acts as an operator: a signed-in operator (from their browser or
/// through an API token), or a command run on the server.
#[derive(Debug, Clone, Default)]
pub struct OperatorActor {
    /// The operator, when one acted.
    pub id: Option<OperatorId>,
    /// The operator's email, or the command (`keyward features`).
    pub label: String,
    /// The client's address.
    pub ip: Option<String>,
    /// The client's User-Agent.
    pub user_agent: Option<String>,
    /// The operator API token the request came through.
    pub via: Option<String>,
}

impl OperatorActor {
    /// A command run on the server.
    pub fn command(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            ..Self::default()
        }
    }

    /// The same person as an organization's trail names them: `operator`
    /// and their email, with no admin id.
    pub fn in_organization(&self) -> Actor {
        Actor {
            id: None,
            label: if self.id.is_some() {
                format!("operator {}", self.label)
            } else {
                self.label.clone()
            },
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            via: self.via.clone(),
        }
    }
}

/// Adds a record to the operators' trail.
pub(crate) fn record(
    conn: &mut DbConn,
    actor: &OperatorActor,
    action: Action,
    org: Option<&Organization>,
    changes: &Value,
) -> Result<(), OpError> {
    let who = Actor {
        id: None,
        label: actor.label.clone(),
        ip: actor.ip.clone(),
        user_agent: actor.user_agent.clone(),
        via: actor.via.clone(),
    };
    OperatorEvent::record(
        conn,
        actor.id.as_ref(),
        &who,
        action,
        org.map(|o| (&o.id, o.name.as_str())),
        changes,
        clock::now(),
    )?;
    Ok(())
}

/// Records an operator's action on `org` in both trails.
fn record_both(
    conn: &mut DbConn,
    actor: &OperatorActor,
    action: Action,
    org: &Organization,
    changes: Value,
) -> Result<(), OpError> {
    record(conn, actor, action, Some(org), &changes)?;
    audit(
        conn,
        &org.id,
        &actor.in_organization(),
        action,
        Target::new("organization", &org.id, org.name.clone()),
        changes,
    )
}

/// Makes an operator (the `keyward operator create` command). Their email
/// may not be an admin's: one sign-in page serves both.
pub fn create_operator(
    conn: &mut DbConn,
    email: &EmailAddress,
    password_hash: &str,
    actor: &OperatorActor,
    now: Timestamp,
) -> Result<Operator, OpError> {
    if Operator::find_by_email(conn, email.as_str())?.is_some() {
        return Err(OpError::invalid(
            "operator_exists",
            "email",
            "An operator with this email exists already.",
        ));
    }
    if Admin::find_by_email(conn, email.as_str())?.is_some() {
        return Err(OpError::invalid(
            "admin_exists",
            "email",
            "An admin has this email: an operator needs an email of their own.",
        ));
    }
    let operator = Operator {
        id: OperatorId::generate(),
        email: email.as_str().to_owned(),
        password_hash: password_hash.to_owned(),
        password_changed_at: now,
        last_sign_in_at: None,
        created_at: now,
    };
    Operator::insert(conn, &operator)?;
    record(
        conn,
        actor,
        Action::OperatorCreated,
        None,
        &json!({ "email": operator.email }),
    )?;
    Ok(operator)
}

/// Replaces the stored hash of the same password, hashed again with today's
/// parameters (sessions stay valid).
pub fn renew_password_hash(conn: &mut DbConn, id: &OperatorId, hash: &str) -> Result<(), OpError> {
    Operator::set_password_hash(conn, id, hash)?;
    Ok(())
}

/// Records an operator's sign-in.
pub fn signed_in(
    conn: &mut DbConn,
    operator: &Operator,
    actor: &OperatorActor,
    now: Timestamp,
) -> Result<(), OpError> {
    Operator::touch_sign_in(conn, &operator.id, now)?;
    record(conn, actor, Action::OperatorSignedIn, None, &json!({}))
}

/// What the operator gives for a new organization.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub name: Name,
    pub slug: Slug,
    /// An IANA time zone, checked.
    pub time_zone: String,
    /// Its first admin, invited with full access.
    pub first_admin: EmailAddress,
    pub features: Features,
}

/// Whether `slug` is free; refused otherwise.
pub fn check_slug_free(conn: &mut DbConn, slug: &Slug) -> Result<(), OpError> {
    if Organization::find_by_slug(conn, slug.as_str())?.is_some() {
        return Err(OpError::invalid(
            "slug_taken",
            "slug",
            "Another organization has this slug. Choose another.",
        ));
    }
    Ok(())
}

/// Makes an organization and invites its first admin (full access), whose
/// link is returned to be emailed. Its issuer is `<public URL>/o/<slug>`.
pub fn create_organization(
    conn: &mut DbConn,
    new: &NewTenant,
    actor: &OperatorActor,
    now: Timestamp,
) -> Result<(Organization, IssuedAdminLink), OpError> {
    check_slug_free(conn, &new.slug)?;
    check_features(&new.features)?;
    if Operator::find_by_email(conn, new.first_admin.as_str())?.is_some() {
        return Err(OpError::invalid(
            "operator_email",
            "email",
            "An operator has this email: an admin needs an email of their own.",
        ));
    }
    let id = OrgId::generate();
    Organization::insert(
        conn,
        &NewOrganization {
            id: &id,
            name: new.name.as_str(),
            slug: new.slug.as_str(),
            time_zone: &new.time_zone,
            external_connectivity: new.features.external_connectivity,
            max_apps: new.features.max_apps,
            max_keys_per_app: new.features.max_keys_per_app,
            max_rate_per_second: new.features.max_rate_per_second,
            root_issuer: false,
            created_at: now,
            updated_at: now,
        },
    )?;
    let org = Organization::find_by_id(conn, &id)?;
    record_both(
        conn,
        actor,
        Action::OrganizationCreated,
        &org,
        json!({
            "name": org.name,
            "slug": org.slug,
            "time_zone": org.time_zone,
            "first_admin": new.first_admin.as_str(),
            "features": features_json(&new.features),
        }),
    )?;
    let link = super::admins::invite(
        conn,
        &id,
        &new.first_admin,
        Role::Full,
        &actor.in_organization(),
        now,
    )?;
    Ok((org, link))
}

fn features_json(f: &Features) -> Value {
    json!({
        "external_connectivity": f.external_connectivity,
        "max_apps": f.max_apps,
        "max_keys_per_app": f.max_keys_per_app,
        "max_rate_per_second": f.max_rate_per_second,
    })
}

/// The limits' own rules (the forms and the API parse into range already).
pub fn check_features(f: &Features) -> Result<(), OpError> {
    use crate::domain::tenant::{MAX_APPS, MAX_KEYS_PER_APP, MAX_RATE_PER_SECOND};
    if f.max_apps.is_some_and(|n| !MAX_APPS.contains(&n)) {
        return Err(OpError::invalid(
            "max_apps_out_of_range",
            "max_apps",
            format!(
                "The most apps is from {} to {}, or none.",
                MAX_APPS.start(),
                MAX_APPS.end()
            ),
        ));
    }
    if !MAX_KEYS_PER_APP.contains(&f.max_keys_per_app) {
        return Err(OpError::invalid(
            "max_keys_per_app_out_of_range",
            "max_keys_per_app",
            format!(
                "The most keys per app is from {} to {}.",
                MAX_KEYS_PER_APP.start(),
                MAX_KEYS_PER_APP.end()
            ),
        ));
    }
    if f.max_rate_per_second
        .is_some_and(|n| !MAX_RATE_PER_SECOND.contains(&n))
    {
        return Err(OpError::invalid(
            "max_rate_out_of_range",
            "max_rate_per_second",
            format!(
                "The rate ceiling is from {} to {} requests per second, or none.",
                MAX_RATE_PER_SECOND.start(),
                MAX_RATE_PER_SECOND.end()
            ),
        ));
    }
    Ok(())
}

/// Sets what an organization's subscription includes. Lowering a limit
/// below what it holds already takes nothing away: it holds on new apps and
/// keys. A change of external connectivity or of the rate ceiling reaches
/// every instance's credential check through the change feed. `false` when
/// nothing changed.
pub fn set_features(
    conn: &mut DbConn,
    org_id: &OrgId,
    features: &Features,
    actor: &OperatorActor,
) -> Result<bool, OpError> {
    check_features(features)?;
    let org = Organization::find(conn, org_id)?.ok_or(OpError::NotFound)?;
    let old = org.features();
    let diff = Diff::default()
        .field(
            "external_connectivity",
            old.external_connectivity,
            features.external_connectivity,
        )
        .field("max_apps", old.max_apps, features.max_apps)
        .field(
            "max_keys_per_app",
            old.max_keys_per_app,
            features.max_keys_per_app,
        )
        .field(
            "max_rate_per_second",
            old.max_rate_per_second,
            features.max_rate_per_second,
        );
    if diff.is_empty() {
        return Ok(false);
    }
    Organization::set_features(conn, org_id, features, clock::now())?;
    record_both(
        conn,
        actor,
        Action::FeaturesChanged,
        &org,
        diff.into_value(),
    )?;
    Ok(true)
}

/// Suspends an organization (`suspended`) or resumes it. Suspended, every
/// key and token of it gets 402 on every instance within a poll of the
/// change feed; its console stays open, and says so. `false` when it was so
/// already.
pub fn set_suspended(
    conn: &mut DbConn,
    org_id: &OrgId,
    suspended: bool,
    actor: &OperatorActor,
    now: Timestamp,
) -> Result<bool, OpError> {
    let org = Organization::find(conn, org_id)?.ok_or(OpError::NotFound)?;
    if org.suspended_at.is_some() == suspended {
        return Ok(false);
    }
    Organization::set_suspended(conn, org_id, suspended.then_some(now), now)?;
    record_both(
        conn,
        actor,
        if suspended {
            Action::OrganizationSuspended
        } else {
            Action::OrganizationResumed
        },
        &org,
        json!({ "suspended": { "from": !suspended, "to": suspended } }),
    )?;
    Ok(true)
}
