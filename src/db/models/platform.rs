//! The business platform's resources served by `/api/v2`: services, employees,
//! guests, working hours, appointments, installments and payments.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::{
    appointments, employees, guests, installments, payments, services, working_hours,
};
use crate::domain::{
    AppId, AppointmentId, EmployeeId, GuestId, InstallmentId, KeyId, OrgId, PaymentId, ServiceId,
    WorkingHoursId,
};

/// Defines `list_page` (by id, after a cursor) and `find` for a table.
macro_rules! listable {
    ($model:ty, $table:ident, $id:ty) => {
        impl $model {
            /// A page of the organization's rows in id order, after `after`.
            pub fn list_page(
                conn: &mut DbConn,
                organization_id: &OrgId,
                after: Option<&str>,
                limit: i64,
            ) -> QueryResult<Vec<Self>> {
                // Two fixed shapes, never a boxed query: Diesel keeps each
                // one's prepared statement for the connection's life. Run on
                // the backend's own connection, its statement cache finds it
                // by the query's type; through the two-backend connection it
                // would build the SQL text on every call to look it up.
                // (`as_select` fixes its backend, hence one query per arm.)
                macro_rules! page {
                    () => {
                        $table::table
                            .filter($table::organization_id.eq(organization_id))
                            .order($table::id.asc())
                            .limit(limit)
                            .select(Self::as_select())
                    };
                }
                match (conn, after) {
                    (DbConn::Sqlite(c), None) => page!().load(c),
                    (DbConn::Postgres(c), None) => page!().load(c),
                    (DbConn::Sqlite(c), Some(after)) => {
                        page!().filter($table::id.gt(after)).load(c)
                    }
                    (DbConn::Postgres(c), Some(after)) => {
                        page!().filter($table::id.gt(after)).load(c)
                    }
                }
            }

            /// Inserts a row.
            pub fn insert(conn: &mut DbConn, row: &Self) -> QueryResult<()> {
                diesel::insert_into($table::table)
                    .values(row)
                    .execute(conn)
                    .map(|_| ())
            }

            /// How many rows the organization has.
            pub fn count(conn: &mut DbConn, organization_id: &OrgId) -> QueryResult<i64> {
                $table::table
                    .filter($table::organization_id.eq(organization_id))
                    .count()
                    .get_result(conn)
            }

            /// One row of the organization.
            pub fn find(
                conn: &mut DbConn,
                organization_id: &OrgId,
                id: &$id,
            ) -> QueryResult<Option<Self>> {
                macro_rules! row {
                    () => {
                        $table::table
                            .find(id)
                            .filter($table::organization_id.eq(organization_id))
                            .select(Self::as_select())
                    };
                }
                // As in `list_page`: found in the statement cache by type.
                match conn {
                    DbConn::Sqlite(c) => row!().first(c).optional(),
                    DbConn::Postgres(c) => row!().first(c).optional(),
                }
            }
        }
    };
}

/// A service the business offers.
#[derive(Debug, Clone, Hash, Queryable, Selectable, Insertable)]
#[diesel(table_name = services)]
pub struct Service {
    pub id: ServiceId,
    pub organization_id: OrgId,
    pub name: String,
    pub description: String,
    pub duration_minutes: i32,
    pub price_cents: i64,
    pub currency: String,
    pub created_at: Timestamp,
}
listable!(Service, services, ServiceId);

/// An employee of the business.
#[derive(Debug, Clone, Hash, Queryable, Selectable, Insertable)]
#[diesel(table_name = employees)]
pub struct Employee {
    pub id: EmployeeId,
    pub organization_id: OrgId,
    pub name: String,
    pub email: String,
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
listable!(Employee, employees, EmployeeId);

/// A customer of the business.
#[derive(Debug, Clone, Hash, Queryable, Selectable, Insertable)]
#[diesel(table_name = guests)]
pub struct Guest {
    pub id: GuestId,
    pub organization_id: OrgId,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
listable!(Guest, guests, GuestId);

/// A weekly span an employee works.
#[derive(Debug, Clone, Hash, Queryable, Selectable, Insertable)]
#[diesel(table_name = working_hours)]
pub struct WorkingHours {
    pub id: WorkingHoursId,
    pub organization_id: OrgId,
    pub employee_id: EmployeeId,
    /// 1 (Monday) to 7 (Sunday).
    pub weekday: i32,
    pub starts_minute: i32,
    pub ends_minute: i32,
}
listable!(WorkingHours, working_hours, WorkingHoursId);

impl WorkingHours {
    /// An employee's spans on a weekday.
    pub fn for_employee_day(
        conn: &mut DbConn,
        employee_id: &EmployeeId,
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
        organization_id: &OrgId,
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
#[derive(Debug, Clone, Hash, Queryable, Selectable, Insertable)]
#[diesel(table_name = appointments)]
pub struct Appointment {
    pub id: AppointmentId,
    pub organization_id: OrgId,
    pub service_id: ServiceId,
    pub employee_id: EmployeeId,
    pub guest_id: Option<GuestId>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    /// `booked` or `cancelled`.
    pub status: String,
    pub notes: String,
    /// `mobile`, `web`, `bot`, `api` or `console`.
    pub source: String,
    pub created_by_app_id: Option<AppId>,
    pub created_by_key_id: Option<KeyId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub cancelled_at: Option<Timestamp>,
    /// The user who booked it with an access token (`employee:<id>`, `guest:<id>`).
    pub created_by_user: Option<String>,
}
listable!(Appointment, appointments, AppointmentId);

impl Appointment {
    /// Whether the employee has another booking overlapping `[starts, ends)`.
    pub fn overlaps(
        conn: &mut DbConn,
        employee_id: &EmployeeId,
        starts: Timestamp,
        ends: Timestamp,
        except: Option<&AppointmentId>,
    ) -> QueryResult<bool> {
        let n: i64 = appointments::table
            .filter(appointments::employee_id.eq(employee_id))
            .filter(appointments::status.eq("booked"))
            .filter(appointments::starts_at.lt(ends))
            .filter(appointments::ends_at.gt(starts))
            .filter(appointments::id.ne(except.map_or("", AppointmentId::as_str)))
            .count()
            .get_result(conn)?;
        Ok(n > 0)
    }

    /// The bookings of a day (for free slots).
    pub fn booked_between(
        conn: &mut DbConn,
        organization_id: &OrgId,
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
        id: &AppointmentId,
        employee_id: &EmployeeId,
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
    pub fn cancel(conn: &mut DbConn, id: &AppointmentId, now: Timestamp) -> QueryResult<()> {
        diesel::update(appointments::table.find(id))
            .set((
                appointments::status.eq("cancelled"),
                appointments::cancelled_at.eq(Some(now)),
                appointments::updated_at.eq(now),
            ))
            .execute(conn)
            .map(|_| ())
    }

    /// A page of the organization's bookings, newest booked first, with the
    /// names of their service, employee and guest, after the `(created_at,
    /// id)` cursor `before`; only those of source `source` (`mobile`, `web`,
    /// `bot`, `api`, `console`) and of the app `app` when given.
    pub fn search_page(
        conn: &mut DbConn,
        organization_id: &OrgId,
        source: Option<&str>,
        app: Option<&AppId>,
        before: Option<(Timestamp, &str)>,
        limit: i64,
    ) -> QueryResult<Vec<BookingListed>> {
        let mut query = appointments::table
            .inner_join(services::table)
            .inner_join(employees::table)
            .left_join(guests::table)
            .filter(appointments::organization_id.eq(organization_id))
            .select((
                Self::as_select(),
                services::name,
                employees::name,
                guests::first_name.nullable(),
                guests::last_name.nullable(),
            ))
            .order((appointments::created_at.desc(), appointments::id.desc()))
            .limit(limit)
            .into_boxed::<crate::db::MultiBackend>();
        if let Some(source) = source {
            query = query.filter(appointments::source.eq(source.to_owned()));
        }
        if let Some(app) = app {
            query = query.filter(appointments::created_by_app_id.eq(app.clone()));
        }
        if let Some((at, id)) = before {
            // `<=` bounds the index range; the OR only breaks ties.
            query = query.filter(appointments::created_at.le(at)).filter(
                appointments::created_at
                    .lt(at)
                    .or(appointments::id.lt(id.to_owned())),
            );
        }
        let rows: Vec<ListedRow> = query.load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(booking, service, employee, first, last)| BookingListed {
                booking,
                service,
                employee,
                guest: first.map(|f| format!("{f} {}", last.unwrap_or_default())),
            })
            .collect())
    }

    /// The newest bookings made through an app's keys.
    pub fn recent_for_app(
        conn: &mut DbConn,
        app_id: &AppId,
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

/// A booking, its service's and employee's names, its guest's first and last.
type ListedRow = (Appointment, String, String, Option<String>, Option<String>);

/// A booking as the Bookings page lists it.
#[derive(Debug, Clone)]
pub struct BookingListed {
    pub booking: Appointment,
    pub service: String,
    pub employee: String,
    /// The guest's name; `None` for a booking without a guest.
    pub guest: Option<String>,
}

/// A scheduled part-payment.
#[derive(Debug, Clone, Hash, Queryable, Selectable, Insertable)]
#[diesel(table_name = installments)]
pub struct Installment {
    pub id: InstallmentId,
    pub organization_id: OrgId,
    pub guest_id: GuestId,
    pub appointment_id: Option<AppointmentId>,
    pub amount_cents: i64,
    pub currency: String,
    /// `YYYY-MM-DD`.
    pub due_on: String,
    /// `due`, `paid` or `overdue`.
    pub status: String,
    pub created_at: Timestamp,
}
listable!(Installment, installments, InstallmentId);

/// A payment received.
#[derive(Debug, Clone, Hash, Queryable, Selectable, Insertable)]
#[diesel(table_name = payments)]
pub struct Payment {
    pub id: PaymentId,
    pub organization_id: OrgId,
    pub guest_id: GuestId,
    pub appointment_id: Option<AppointmentId>,
    pub amount_cents: i64,
    pub currency: String,
    pub method: String,
    pub paid_at: Timestamp,
    pub created_at: Timestamp,
}
listable!(Payment, payments, PaymentId);

diesel::define_sql_function! {
    /// SQL `lower()`, on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// `term` in lower case, as the literal part of a `LIKE … ESCAPE '\'`
/// pattern: its `\`, `%` and `_` match themselves.
pub fn like_literal(term: &str) -> String {
    term.to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

impl Guest {
    /// A page of the organization's guests, newest first, whose name or email
    /// contains `search` (any case), before the guest `before`.
    pub fn search_page(
        conn: &mut DbConn,
        organization_id: &OrgId,
        search: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> QueryResult<Vec<Guest>> {
        let mut query = guests::table
            .filter(guests::organization_id.eq(organization_id))
            .order(guests::id.desc())
            .limit(limit)
            .select(Self::as_select())
            .into_boxed::<crate::db::MultiBackend>();
        if let Some(term) = search {
            let pattern = format!("%{}%", like_literal(term));
            query = query.filter(
                lower(guests::first_name)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(guests::last_name).like(pattern.clone()).escape('\\'))
                    .or(lower(diesel::dsl::sql::<diesel::sql_types::Text>(
                        "COALESCE(guests.email, '')",
                    ))
                    .like(pattern)
                    .escape('\\')),
            );
        }
        if let Some(before) = before {
            query = query.filter(guests::id.lt(before.to_owned()));
        }
        query.load(conn)
    }

    /// The organization's guests with this email (guests may share one).
    pub fn with_email(
        conn: &mut DbConn,
        organization_id: &OrgId,
        email: &str,
    ) -> QueryResult<Vec<Guest>> {
        guests::table
            .filter(guests::organization_id.eq(organization_id))
            .filter(guests::email.eq(email))
            .order(guests::id.asc())
            .limit(50)
            .select(Self::as_select())
            .load(conn)
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
    pub fn list_all(conn: &mut DbConn, organization_id: &OrgId) -> QueryResult<Vec<Employee>> {
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

    /// The organization's employee with this email, if any.
    pub fn find_by_email(
        conn: &mut DbConn,
        organization_id: &OrgId,
        email: &str,
    ) -> QueryResult<Option<Employee>> {
        employees::table
            .filter(employees::organization_id.eq(organization_id))
            .filter(employees::email.eq(email))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Whether another employee has this email.
    pub fn email_taken(
        conn: &mut DbConn,
        organization_id: &OrgId,
        email: &str,
        except: Option<&EmployeeId>,
    ) -> QueryResult<bool> {
        let n: i64 = employees::table
            .filter(employees::organization_id.eq(organization_id))
            .filter(employees::email.eq(email))
            .filter(employees::id.ne(except.map_or("", EmployeeId::as_str)))
            .count()
            .get_result(conn)?;
        Ok(n > 0)
    }

    /// Changes name and email.
    pub fn update(
        conn: &mut DbConn,
        id: &EmployeeId,
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
    pub fn lock(conn: &mut DbConn, id: &EmployeeId) -> QueryResult<()> {
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
        id: &EmployeeId,
        active: bool,
        now: Timestamp,
    ) -> QueryResult<()> {
        diesel::update(employees::table.find(id))
            .set((employees::active.eq(active), employees::updated_at.eq(now)))
            .execute(conn)
            .map(|_| ())
    }
}

/// The name of an app's user (an employee's, or a guest's first and last),
/// if they are in the organization.
pub fn user_name(
    conn: &mut DbConn,
    organization_id: &OrgId,
    user: &crate::domain::UserRef,
) -> QueryResult<Option<String>> {
    Ok(match user {
        crate::domain::UserRef::Employee(id) => {
            Employee::find(conn, organization_id, id)?.map(|e| e.name)
        }
        crate::domain::UserRef::Guest(id) => Guest::find(conn, organization_id, id)?
            .map(|g| format!("{} {}", g.first_name, g.last_name)),
    })
}
