//! Appointments booked, moved and cancelled through `/api/v2`, with the booking
//! rules: a time ahead (within the booking horizon), a service and an employee
//! of the organization, an employee still on the staff and working then, and no
//! other appointment of that employee at the same time.
//!
//! These are the platform's data, changed by external systems: no audit record
//! (the audit trail records admin actions); each appointment carries the app and
//! key that booked it instead.

use time::Duration;

use super::OpError;
use crate::clock::{self, Timestamp};
use crate::db::DbConn;
use crate::db::models::platform::{Appointment, Employee, Guest, Service, WorkingHours};
use crate::domain::SourceApp;
use crate::domain::{AppId, AppointmentId, EmployeeId, GuestId, KeyId, OrgId, ServiceId};

/// How far ahead an appointment may be booked: a time years away is a typo, and
/// the bound keeps every end time (start plus a service's duration) representable.
pub const BOOKING_HORIZON: Duration = Duration::days(2 * 366);

/// Whether `t` is a time that may be booked: after `now`, within the horizon.
pub fn bookable(t: Timestamp, now: Timestamp) -> bool {
    t > now && t <= now + BOOKING_HORIZON
}

/// A booking starts in the future, within the horizon.
pub fn check_start(starts_at: Timestamp, now: Timestamp) -> Result<(), OpError> {
    if starts_at <= now {
        return Err(OpError::invalid(
            "start_in_past",
            "starts_at",
            "starts_at must be in the future.",
        ));
    }
    if !bookable(starts_at, now) {
        return Err(OpError::invalid(
            "start_beyond_horizon",
            "starts_at",
            "starts_at must be within two years from now.",
        ));
    }
    Ok(())
}

/// The mark of an appointment booked by an app with this Source App.
pub fn booking_source(source: SourceApp) -> &'static str {
    match source {
        SourceApp::ExternalCma => "mobile",
        SourceApp::ExternalWebstore => "web",
        SourceApp::Bot => "bot",
        SourceApp::ClientApp => "api",
    }
}

/// Who books: the app and key of the request's credential, or the app and
/// the user of an access token.
#[derive(Debug, Clone)]
pub struct Booker {
    pub app_id: AppId,
    pub key_id: Option<KeyId>,
    /// The signed-in user (`employee:<id>`, `guest:<id>`) of an access token.
    pub user: Option<String>,
    pub source: SourceApp,
}

/// A new appointment, as parsed from the request.
#[derive(Debug, Clone)]
pub struct NewBooking {
    pub service_id: ServiceId,
    pub employee_id: EmployeeId,
    pub guest_id: Option<GuestId>,
    pub starts_at: Timestamp,
    pub notes: String,
}

/// What a change moves or replaces; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct BookingChanges {
    pub starts_at: Option<Timestamp>,
    pub employee_id: Option<EmployeeId>,
    pub notes: Option<String>,
}

fn minute_of_day(t: Timestamp) -> i32 {
    i32::from(t.hour()) * 60 + i32::from(t.minute())
}

/// 1 (Monday) to 7 (Sunday).
pub fn weekday(date: time::Date) -> i32 {
    i32::from(date.weekday().number_from_monday())
}

/// The employee works then and is free (apart from the appointment `except`).
/// Locks the employee's row first, so two bookings cannot both pass.
fn check_slot(
    conn: &mut DbConn,
    org: &OrgId,
    employee_id: &EmployeeId,
    starts_at: Timestamp,
    ends_at: Timestamp,
    except: Option<&AppointmentId>,
) -> Result<(), OpError> {
    let employee = Employee::find(conn, org, employee_id)?.ok_or_else(|| {
        OpError::invalid(
            "unknown_employee",
            "employee",
            "There is no employee with this id.",
        )
    })?;
    if !employee.active {
        return Err(OpError::invalid(
            "employee_left",
            "employee",
            "This employee has left the organization.",
        ));
    }
    let (start_min, end_min) = (
        minute_of_day(starts_at),
        minute_of_day(starts_at)
            + i32::try_from((ends_at - starts_at).whole_minutes()).unwrap_or(i32::MAX),
    );
    let spans = WorkingHours::for_employee_day(conn, employee_id, weekday(starts_at.date()))?;
    if !spans
        .iter()
        .any(|s| s.starts_minute <= start_min && end_min <= s.ends_minute)
    {
        return Err(OpError::invalid(
            "outside_working_hours",
            "starts_at",
            "The employee does not work at that time.",
        ));
    }
    Employee::lock(conn, employee_id)?;
    if Appointment::overlaps(conn, employee_id, starts_at, ends_at, except)? {
        return Err(OpError::SlotTaken);
    }
    Ok(())
}

fn ends_at(service: &Service, starts_at: Timestamp) -> Timestamp {
    starts_at + Duration::minutes(i64::from(service.duration_minutes))
}

/// Books an appointment, marked with the booker's Source App.
pub fn book(
    conn: &mut DbConn,
    org: &OrgId,
    booker: &Booker,
    new: &NewBooking,
) -> Result<Appointment, OpError> {
    let now = clock::now();
    check_start(new.starts_at, now)?;
    let service = Service::find(conn, org, &new.service_id)?.ok_or_else(|| {
        OpError::invalid(
            "unknown_service",
            "service",
            "There is no service with this id.",
        )
    })?;
    if let Some(g) = &new.guest_id
        && Guest::find(conn, org, g)?.is_none()
    {
        return Err(OpError::invalid(
            "unknown_guest",
            "guest",
            "There is no guest with this id.",
        ));
    }
    let ends_at = ends_at(&service, new.starts_at);
    check_slot(conn, org, &new.employee_id, new.starts_at, ends_at, None)?;
    let appointment = Appointment {
        id: AppointmentId::generate(),
        organization_id: org.clone(),
        service_id: new.service_id.clone(),
        employee_id: new.employee_id.clone(),
        guest_id: new.guest_id.clone(),
        starts_at: new.starts_at,
        ends_at,
        status: "booked".to_owned(),
        notes: new.notes.clone(),
        source: booking_source(booker.source).to_owned(),
        created_by_app_id: Some(booker.app_id.clone()),
        created_by_key_id: booker.key_id.clone(),
        created_at: now,
        updated_at: now,
        cancelled_at: None,
        created_by_user: booker.user.clone(),
    };
    Appointment::insert(conn, &appointment)?;
    Ok(appointment)
}

/// Moves an appointment, changes its employee or notes. A cancelled one stays.
pub fn change(
    conn: &mut DbConn,
    org: &OrgId,
    id: &AppointmentId,
    changes: &BookingChanges,
) -> Result<Appointment, OpError> {
    let current = Appointment::find(conn, org, id)?.ok_or(OpError::NotFound)?;
    if current.status != "booked" {
        return Err(OpError::AppointmentCancelled);
    }
    let now = clock::now();
    if let Some(t) = changes.starts_at {
        check_start(t, now)?;
    }
    let service = Service::find(conn, org, &current.service_id)?.ok_or(OpError::NotFound)?;
    let starts_at = changes.starts_at.unwrap_or(current.starts_at);
    let ends_at = ends_at(&service, starts_at);
    let employee_id = changes
        .employee_id
        .clone()
        .unwrap_or_else(|| current.employee_id.clone());
    if starts_at != current.starts_at || employee_id != current.employee_id {
        check_slot(
            conn,
            org,
            &employee_id,
            starts_at,
            ends_at,
            Some(&current.id),
        )?;
    }
    let notes = changes
        .notes
        .clone()
        .unwrap_or_else(|| current.notes.clone());
    Appointment::update_booking(
        conn,
        &current.id,
        &employee_id,
        starts_at,
        ends_at,
        &notes,
        now,
    )?;
    Appointment::find(conn, org, &current.id)?.ok_or(OpError::NotFound)
}

/// Cancels an appointment; cancelling it again changes nothing.
pub fn cancel(conn: &mut DbConn, org: &OrgId, id: &AppointmentId) -> Result<Appointment, OpError> {
    let current = Appointment::find(conn, org, id)?.ok_or(OpError::NotFound)?;
    if current.status == "booked" {
        Appointment::cancel(conn, id, clock::now())?;
    }
    Appointment::find(conn, org, id)?.ok_or(OpError::NotFound)
}
