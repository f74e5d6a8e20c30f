//! The organization's features and policies, each change audited.
use super::{OpError, audit};
use crate::clock;
use crate::db::DbConn;
use crate::db::models::{Action, Actor, Organization, Target};
use crate::domain::settings::KeyPolicy;
use crate::domain::{EmployeeId, OrgId};

/// Changes the organization's name and time zone.
pub fn update_profile(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    name: &crate::domain::Name,
    time_zone: &str,
) -> Result<(), OpError> {
    let org = Organization::find_by_id(conn, organization_id)?;
    let diff = super::Diff::default()
        .field("name", org.name.as_str(), name.as_str())
        .field("time_zone", org.time_zone.as_str(), time_zone);
    if diff.is_empty() {
        return Ok(());
    }
    Organization::update_profile(
        conn,
        organization_id,
        name.as_str(),
        time_zone,
        clock::now(),
    )?;
    audit(
        conn,
        organization_id,
        actor,
        Action::OrganizationChanged,
        Target::new("organization", org.id, name.as_str()),
        diff.into_value(),
    )
}

/// Changes the key policy: the default and the maximum lifetime of new keys,
/// the rate limits new keys start with, and how long retired keys stay listed.
pub fn update_policy(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    policy: &KeyPolicy,
) -> Result<(), OpError> {
    let (default_days, max_days) = (policy.default_days, policy.max_days);
    let (rate_second, rate_minute) = policy.rate_limits.to_stored();
    if let (Some(d), Some(m)) = (default_days, max_days)
        && d > m
    {
        return Err(OpError::invalid(
            "default_exceeds_max",
            "default_days",
            "The default lifetime cannot exceed the maximum lifetime.",
        ));
    }
    let org = Organization::find_by_id(conn, organization_id)?;
    let diff = super::Diff::default()
        .field(
            "key_default_lifetime_days",
            org.key_default_lifetime_days,
            default_days,
        )
        .field("key_max_lifetime_days", org.key_max_lifetime_days, max_days)
        .field(
            "key_default_rate_per_second",
            org.key_default_rate_per_second,
            rate_second,
        )
        .field(
            "key_default_rate_per_minute",
            org.key_default_rate_per_minute,
            rate_minute,
        )
        .field(
            "retired_keys_days",
            org.retired_keys_days,
            policy.retired_days,
        );
    if diff.is_empty() {
        return Ok(());
    }
    Organization::update_policy(conn, organization_id, policy, clock::now())?;
    audit(
        conn,
        organization_id,
        actor,
        Action::PolicyChanged,
        Target::new("organization", org.id, org.name),
        diff.into_value(),
    )
}

/// Changes the Expiry of API keys alert: on or off, thresholds, recipients.
pub fn update_alerts(
    conn: &mut DbConn,
    organization_id: &OrgId,
    actor: &Actor,
    enabled: bool,
    thresholds: &crate::domain::settings::Thresholds,
    recipients: &[EmployeeId],
) -> Result<(), OpError> {
    use crate::db::models::alert;
    use crate::db::models::platform::Employee;
    let org = Organization::find_by_id(conn, organization_id)?;
    let staff = Employee::list_all(conn, organization_id)?;
    let mut chosen: Vec<EmployeeId> = Vec::new();
    for id in recipients {
        if !staff.iter().any(|e| &e.id == id) {
            return Err(OpError::invalid(
                "recipient_not_staff",
                "recipients",
                "A chosen recipient is not on the staff.",
            ));
        }
        if !chosen.contains(id) {
            chosen.push(id.clone());
        }
    }
    if enabled && chosen.is_empty() {
        return Err(OpError::invalid(
            "recipients_required",
            "recipients",
            "Choose at least one recipient, or switch the alert off.",
        ));
    }
    let email_of = |ids: &[EmployeeId]| -> Vec<String> {
        let mut emails: Vec<String> = staff
            .iter()
            .filter(|e| ids.contains(&e.id))
            .map(|e| e.email.clone())
            .collect();
        emails.sort();
        emails
    };
    let before = alert::recipient_ids(conn, organization_id)?;
    let diff = super::Diff::default()
        .field("alerts_enabled", org.alerts_enabled, enabled)
        .field(
            "alert_thresholds",
            org.alert_thresholds.as_str(),
            thresholds.to_stored(),
        )
        .field("recipients", email_of(&before), email_of(&chosen));
    if diff.is_empty() {
        return Ok(());
    }
    Organization::update_alerts(
        conn,
        organization_id,
        enabled,
        &thresholds.to_stored(),
        clock::now(),
    )?;
    alert::set_recipients(conn, organization_id, &chosen)?;
    audit(
        conn,
        organization_id,
        actor,
        Action::AlertsChanged,
        Target::new("organization", org.id, org.name),
        diff.into_value(),
    )
}
