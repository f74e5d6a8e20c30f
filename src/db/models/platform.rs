//! The business platform's resources served by `/api/v2`: services, employees,
//! guests, working hours, appointments, installments and payments.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::{
    appointments, employees, guests, installments, payments, services, working_hours,
};

/// Defines `list_page` (by id, after a cursor) and `find` for a table.
macro_rules! listable {
    ($model:ty, $table:ident) => {
        impl $model {
            /// A page of the organization's rows in id order, after `after`.
            pub fn list_page(
                conn: &mut DbConn,
                organization_id: &str,
                after: Option<&str>,
                limit: i64,
            ) -> QueryResult<Vec<Self>> {
                let mut query = $table::table
                    .filter($table::organization_id.eq(organization_id))
                    .order($table::id.asc())
                    .limit(limit)
                    .select(Self::as_select())
                    .into_boxed::<crate::db::MultiBackend>();
                if let Some(after) = after {
                    query = query.filter($table::id.gt(after.to_owned()));
                }
                query.load(conn)
            }

            /// One row of the organization.
            pub fn find(
                conn: &mut DbConn,
                organization_id: &str,
                id: &str,
            ) -> QueryResult<Option<Self>> {
                $table::table
                    .find(id)
                    .filter($table::organization_id.eq(organization_id))
                    .select(Self::as_select())
                    .first(conn)
                    .optional()
            }
        }
    };
}

/// A service the business offers.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = services)]
pub struct Service {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub description: String,
    pub duration_minutes: i32,
    pub price_cents: i64,
    pub currency: String,
    pub created_at: Timestamp,
}
listable!(Service, services);

/// An employee of the business.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = employees)]
pub struct Employee {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub email: String,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
listable!(Employee, employees);

/// A customer of the business.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = guests)]
pub struct Guest {
    pub id: String,
    pub organization_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
listable!(Guest, guests);

/// A weekly span an employee works.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = working_hours)]
pub struct WorkingHours {
    pub id: String,
    pub organization_id: String,
    pub employee_id: String,
    /// 1 (Monday) to 7 (Sunday).
    pub weekday: i32,
    pub starts_minute: i32,
    pub ends_minute: i32,
}
listable!(WorkingHours, working_hours);

impl WorkingHours {
    /// An employee's spans on a weekday.
    pub fn for_employee_day(
        conn: &mut DbConn,
        employee_id: &str,
        weekday: i32,
    ) -> QueryResult<Vec<WorkingHours>> {
        working_hours::table
            .filter(working_hours::employee_id.eq(employee_id))
            .filter(working_hours::weekday.eq(weekday))
            .order(working_hours::starts_minute.asc())
            .select(Self::as_select())
            .load(conn)
    }

    /// Every span on a weekday, for computing free slots.
    pub fn for_day(
        conn: &mut DbConn,
        organization_id: &str,
        weekday: i32,
    ) -> QueryResult<Vec<WorkingHours>> {
        working_hours::table
            .filter(working_hours::organization_id.eq(organization_id))
            .filter(working_hours::weekday.eq(weekday))
            .order((
                working_hours::employee_id.asc(),
                working_hours::starts_minute.asc(),
            ))
            .select(Self::as_select())
            .load(conn)
    }
}

/// A booking.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = appointments)]
pub struct Appointment {
    pub id: String,
    pub organization_id: String,
    pub service_id: String,
    pub employee_id: String,
    pub guest_id: Option<String>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// `booked` or `cancelled`.
    pub status: String,
    pub notes: String,
    /// `mobile`, `web`, `bot`, `api` or `console`.
    pub source: String,
    pub created_by_app_id: Option<String>,
    pub created_by_key_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub cancelled_at: Option<Timestamp>,
}
listable!(Appointment, appointments);

impl Appointment {
    /// Inserts a booking.
    pub fn insert(conn: &mut DbConn, appointment: &Appointment) -> QueryResult<()> {
        diesel::insert_into(appointments::table)
            .values(appointment)
            .execute(conn)
            .map(|_| ())
    }

    /// Whether the employee has another booking overlapping `[starts, ends)`.
    pub fn overlaps(
        conn: &mut DbConn,
        employee_id: &str,
        starts: Timestamp,
        ends: Timestamp,
        except: Option<&str>,
    ) -> QueryResult<bool> {
        let n: i64 = appointments::table
            .filter(appointments::employee_id.eq(employee_id))
            .filter(appointments::status.eq("booked"))
            .filter(appointments::starts_at.lt(ends))
            .filter(appointments::ends_at.gt(starts))
            .filter(appointments::id.ne(except.unwrap_or("")))
            .count()
            .get_result(conn)?;
        Ok(n > 0)
    }

    /// The bookings of a day (for free slots).
    pub fn booked_between(
        conn: &mut DbConn,
        organization_id: &str,
        from: Timestamp,
        until: Timestamp,
    ) -> QueryResult<Vec<Appointment>> {
        appointments::table
            .filter(appointments::organization_id.eq(organization_id))
            .filter(appointments::status.eq("booked"))
            .filter(appointments::starts_at.lt(until))
            .filter(appointments::ends_at.gt(from))
            .select(Self::as_select())
            .load(conn)
    }

    /// Moves or re-assigns a booking.
    pub fn update_booking(
        conn: &mut DbConn,
        id: &str,
        employee_id: &str,
        starts_at: Timestamp,
        ends_at: Timestamp,
        notes: &str,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(appointments::table.find(id))
            .set((
                appointments::employee_id.eq(employee_id),
                appointments::starts_at.eq(starts_at),
                appointments::ends_at.eq(ends_at),
                appointments::notes.eq(notes),
                appointments::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Cancels a booking.
    pub fn cancel(conn: &mut DbConn, id: &str, now: Timestamp) -> QueryResult<()> {
        diesel::update(appointments::table.find(id))
            .set((
                appointments::status.eq("cancelled"),
                appointments::cancelled_at.eq(Some(now)),
                appointments::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// The newest bookings made through an app's keys.
    pub fn recent_for_app(
        conn: &mut DbConn,
        app_id: &str,
        limit: i64,
    ) -> QueryResult<Vec<Appointment>> {
        appointments::table
            .filter(appointments::created_by_app_id.eq(app_id))
            .order(appointments::created_at.desc())
            .limit(limit)
            .select(Self::as_select())
            .load(conn)
    }
}

/// A scheduled part-payment.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = installments)]
pub struct Installment {
    pub id: String,
    pub organization_id: String,
    pub guest_id: String,
    pub appointment_id: Option<String>,
    pub amount_cents: i64,
    pub currency: String,
    /// `YYYY-MM-DD`.
    pub due_on: String,
    /// `due`, `paid` or `overdue`.
    pub status: String,
    pub created_at: Timestamp,
}
listable!(Installment, installments);

/// A payment received.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payments)]
pub struct Payment {
    pub id: String,
    pub organization_id: String,
    pub guest_id: String,
    pub appointment_id: Option<String>,
    pub amount_cents: i64,
    pub currency: String,
    pub method: String,
    pub paid_at: Timestamp,
    pub created_at: Timestamp,
}
listable!(Payment, payments);

impl Guest {
    /// Inserts a guest.
    pub fn insert(conn: &mut DbConn, guest: &Guest) -> QueryResult<()> {
        diesel::insert_into(guests::table)
            .values(guest)
            .execute(conn)
            .map(|_| ())
    }

    /// Replaces a guest's details.
    pub fn update(conn: &mut DbConn, guest: &Guest) -> QueryResult<()> {
        diesel::update(guests::table.find(&guest.id))
            .set((
                guests::first_name.eq(&guest.first_name),
                guests::last_name.eq(&guest.last_name),
                guests::email.eq(&guest.email),
                guests::phone.eq(&guest.phone),
                guests::updated_at.eq(guest.updated_at),
            ))
            .execute(conn)
            .map(|_| ())
    }
}

impl Employee {
    /// Every employee of the organization, by name.
    pub fn list_all(conn: &mut DbConn, organization_id: &str) -> QueryResult<Vec<Employee>> {
        employees::table
            .filter(employees::organization_id.eq(organization_id))
            .order((
                employees::active.desc(),
                employees::name.asc(),
                employees::id.asc(),
            ))
            .select(Self::as_select())
            .load(conn)
    }

    /// Whether another employee has this email.
    pub fn email_taken(
        conn: &mut DbConn,
        organization_id: &str,
        email: &str,
        except: Option<&str>,
    ) -> QueryResult<bool> {
        let n: i64 = employees::table
            .filter(employees::organization_id.eq(organization_id))
            .filter(employees::email.eq(email))
            .filter(employees::id.ne(except.unwrap_or("")))
            .count()
            .get_result(conn)?;
        Ok(n > 0)
    }

    /// Inserts an employee.
    pub fn insert(conn: &mut DbConn, employee: &Employee) -> QueryResult<()> {
        diesel::insert_into(employees::table)
            .values(employee)
            .execute(conn)
            .map(|_| ())
    }

    /// Changes name and email.
    pub fn update(
        conn: &mut DbConn,
        id: &str,
        name: &str,
        email: &str,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(employees::table.find(id))
            .set((
                employees::name.eq(name),
                employees::email.eq(email),
                employees::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// Locks the employee's row until the transaction ends, so two bookings
    /// cannot take the same time (PostgreSQL; SQLite's write transactions already
    /// run one at a time).
    pub fn lock(conn: &mut DbConn, id: &str) -> QueryResult<()> {
        if let DbConn::Postgres(pg) = conn {
            employees::table
                .find(id)
                .select(employees::id)
                .for_update()
                .first::<String>(pg)
                .optional()?;
        }
        Ok(())
    }

    /// Marks as left (or back).
    pub fn set_active(
        conn: &mut DbConn,
        id: &str,
        active: bool,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(employees::table.find(id))
            .set((employees::active.eq(active), employees::updated_at.eq(now)))
            .execute(conn)
            .map(|_| ())
    }
}
