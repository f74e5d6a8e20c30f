//! The organization's staff: added, edited, marked as left, each audited.

use serde_json::json;

use super::{Diff, OpError, audit};
use crate::clock;
use crate::db::DbConn;
use crate::db::models::platform::Employee;
use crate::db::models::{Action, Actor, Target};
use crate::domain::{EmailAddress, Name};
use crate::domain::{EmployeeId, OrgId};

/// Email addresses are unique among the staff.
fn check_email(
    conn: &mut DbConn,
    org: &OrgId,
    email: &EmailAddress,
    except: Option<&EmployeeId>,
) -> Result<(), OpError> {
    let others: Vec<String> = Employee::list_all(conn, org)?
        .into_iter()
        .filter(|e| Some(&e.id) != except)
        .map(|e| e.email)
        .collect();
    super::admins::check_not_confusable(email, &others)?;
    if Employee::email_taken(conn, org, email.as_str(), except)? {
        return Err(OpError::invalid(
            "email_taken",
            "email",
            "Another employee has this email address.",
        ));
    }
    Ok(())
}

/// Adds an employee.
pub fn add(
    conn: &mut DbConn,
    org: &OrgId,
    actor: &Actor,
    name: &Name,
    email: &EmailAddress,
) -> Result<Employee, OpError> {
    check_email(conn, org, email, None)?;
    let now = clock::now();
    let employee = Employee {
        id: EmployeeId::generate(),
        organization_id: org.clone(),
        name: name.as_str().to_owned(),
        email: email.as_str().to_owned(),
        active: true,
        created_at: now,
        updated_at: now,
    };
    Employee::insert(conn, &employee)?;
    audit(
        conn,
        org,
        actor,
        Action::StaffAdded,
        Target::new("employee", employee.id.clone(), employee.name.clone()),
        json!({ "name": employee.name, "email": employee.email }),
    )?;
    Ok(employee)
}

/// Changes an employee's name and email.
pub fn edit(
    conn: &mut DbConn,
    org: &OrgId,
    actor: &Actor,
    id: &EmployeeId,
    name: &Name,
    email: &EmailAddress,
) -> Result<(), OpError> {
    let current = Employee::find(conn, org, id)?.ok_or(OpError::NotFound)?;
    check_email(conn, org, email, Some(id))?;
    let diff = Diff::default()
        .field("name", current.name.as_str(), name.as_str())
        .field("email", current.email.as_str(), email.as_str());
    if diff.is_empty() {
        return Ok(());
    }
    Employee::update(conn, id, name.as_str(), email.as_str(), clock::now())?;
    audit(
        conn,
        org,
        actor,
        Action::StaffChanged,
        Target::new("employee", id, name.as_str()),
        diff.into_value(),
    )
}

/// Marks an employee as left, or back.
pub fn set_active(
    conn: &mut DbConn,
    org: &OrgId,
    actor: &Actor,
    id: &EmployeeId,
    active: bool,
) -> Result<Employee, OpError> {
    let current = Employee::find(conn, org, id)?.ok_or(OpError::NotFound)?;
    if current.active != active {
        Employee::set_active(conn, id, active, clock::now())?;
        if !active {
            super::users::employee_left(conn, &crate::domain::UserRef::Employee(id.clone()))?;
        }
        audit(
            conn,
            org,
            actor,
            Action::StaffStatusChanged,
            Target::new("employee", id, current.name.clone()),
            json!({ "status": { "from": if current.active { "active" } else { "left" }, "to": if active { "active" } else { "left" } } }),
        )?;
    }
    Ok(current)
}
