//! `/api/v2`: the platform's resources as JSON:API. Every handler takes an
//! [`Authorized`] credential, whose permission the route table decides.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value};
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime};

use super::error::ApiError;
use super::resources::{AvailableSlot, ToResource};
use super::{Authorized, JsonApiBody, Page, collection, query_pairs, single};
use crate::clock::{self, Timestamp};
use crate::db::models::platform::{
    Appointment, Employee, Guest, Installment, Payment, Service, WorkingHours,
};
use crate::db::{DbConn, DbError, new_id, write_tx};
use crate::domain::{EmailAddress, SourceApp, has_control_chars};
use crate::startup::AppState;

/// A table served as a JSON:API collection.
pub trait PlatformResource: ToResource + Send + Sized + 'static {
    /// The collection's path.
    const PATH: &'static str;
    /// A page of rows after `after`.
    fn page(
        conn: &mut DbConn,
        org: &str,
        after: Option<&str>,
        limit: i64,
    ) -> diesel::QueryResult<Vec<Self>>;
    /// One row.
    fn one(conn: &mut DbConn, org: &str, id: &str) -> diesel::QueryResult<Option<Self>>;
}

macro_rules! platform_resource {
    ($model:ty, $path:literal) => {
        impl PlatformResource for $model {
            const PATH: &'static str = $path;
            fn page(
                conn: &mut DbConn,
                org: &str,
                after: Option<&str>,
                limit: i64,
            ) -> diesel::QueryResult<Vec<Self>> {
                <$model>::list_page(conn, org, after, limit)
            }
            fn one(conn: &mut DbConn, org: &str, id: &str) -> diesel::QueryResult<Option<Self>> {
                <$model>::find(conn, org, id)
            }
        }
    };
}

platform_resource!(Service, "/api/v2/services");
platform_resource!(Employee, "/api/v2/employees");
platform_resource!(Guest, "/api/v2/guests");
platform_resource!(WorkingHours, "/api/v2/working_hours");
platform_resource!(Appointment, "/api/v2/appointments");
platform_resource!(Installment, "/api/v2/installments");
platform_resource!(Payment, "/api/v2/payments");

/// `GET /api/v2/<collection>`.
pub async fn list<T: PlatformResource>(
    req: HttpRequest,
    auth: Authorized,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let page = Page::from_query(&query_pairs(&req)?)?;
    let (org, after, limit) = (
        auth.0.organization_id.clone(),
        page.after.clone(),
        page.size + 1,
    );
    let rows = state
        .db
        .run(move |conn| T::page(conn, &org, after.as_deref(), limit).map_err(DbError::from))
        .await?;
    Ok(collection(
        T::PATH,
        &page,
        rows.iter().map(ToResource::to_resource).collect(),
        "",
    ))
}

/// `GET /api/v2/<collection>/{id}`.
pub async fn read<T: PlatformResource>(
    auth: Authorized,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = (auth.0.organization_id.clone(), path.into_inner());
    let row = state
        .db
        .run(move |conn| T::one(conn, &org, &id).map_err(DbError::from))
        .await?;
    row.map(|r| single(StatusCode::OK, r.to_resource()))
        .ok_or_else(ApiError::not_found)
}

/// How far ahead an appointment may be booked: a time years away is a typo, and
/// the bound keeps every end time (start plus a service's duration) representable.
const BOOKING_HORIZON: Duration = Duration::days(2 * 366);

/// Whether `t` is a time that may be booked: after `now`, within the horizon.
fn bookable(t: Timestamp, now: Timestamp) -> bool {
    t > now && t <= now + BOOKING_HORIZON
}

fn parse_instant(raw: &str) -> Option<Timestamp> {
    OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(clock::from_offset)
}

fn slot_start_text(t: Timestamp) -> String {
    t.format(format_description!("[year][month][day]T[hour][minute]"))
        .unwrap_or_default()
}

fn minute_of_day(t: Timestamp) -> i32 {
    i32::from(t.hour()) * 60 + i32::from(t.minute())
}

fn weekday(date: Date) -> i32 {
    i32::from(date.weekday().number_from_monday())
}

/// The free slots of `service` on `date`, every 15 minutes within working hours,
/// not overlapping a booking, bookable (see [`bookable`]); sorted by start then
/// employee.
fn free_slots(
    conn: &mut DbConn,
    org: &str,
    service: &Service,
    date: Date,
    now: Timestamp,
) -> Result<Vec<AvailableSlot>, DbError> {
    if date < now.date() || date > (now + BOOKING_HORIZON).date() {
        return Ok(Vec::new());
    }
    let day_start = PrimitiveDateTime::new(date, time::Time::MIDNIGHT);
    let day_end = day_start + Duration::days(1);
    let spans = WorkingHours::for_day(conn, org, weekday(date))?;
    let booked = Appointment::booked_between(conn, org, day_start, day_end)?;
    let mut slots = Vec::new();
    let duration = Duration::minutes(i64::from(service.duration_minutes));
    for span in spans {
        let Some(employee) = Employee::find(conn, org, &span.employee_id)? else {
            continue;
        };
        if !employee.active {
            continue;
        }
        let mut start = day_start + Duration::minutes(i64::from(span.starts_minute));
        let span_end = day_start + Duration::minutes(i64::from(span.ends_minute));
        while start + duration <= span_end {
            let end = start + duration;
            let taken = booked.iter().any(|a| {
                a.employee_id == span.employee_id && a.starts_at < end && a.ends_at > start
            });
            if !taken && bookable(start, now) {
                slots.push(AvailableSlot {
                    id: format!(
                        "{}.{}.{}",
                        span.employee_id,
                        service.id,
                        slot_start_text(start)
                    ),
                    employee_id: span.employee_id.clone(),
                    service_id: service.id.clone(),
                    starts_at: start,
                    ends_at: end,
                });
            }
            start += Duration::minutes(15);
        }
    }
    slots.sort_by(|a, b| (a.starts_at, &a.employee_id).cmp(&(b.starts_at, &b.employee_id)));
    Ok(slots)
}

fn filter_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `GET /api/v2/available_slots?filter[service]=…&filter[date]=YYYY-MM-DD`.
pub async fn slots_list(
    req: HttpRequest,
    auth: Authorized,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = query_pairs(&req)?;
    let page = Page::from_query(&pairs)?;
    let service_id = filter_value(&pairs, "filter[service]")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::bad_parameter(
                "filter[service]",
                "Name the service: filter[service]=<service id>.",
            )
        })?
        .to_owned();
    let date_text = filter_value(&pairs, "filter[date]")
        .ok_or_else(|| {
            ApiError::bad_parameter("filter[date]", "Name the day: filter[date]=YYYY-MM-DD.")
        })?
        .to_owned();
    let date =
        Date::parse(&date_text, format_description!("[year]-[month]-[day]")).map_err(|_| {
            ApiError::bad_parameter(
                "filter[date]",
                "filter[date] must be a date like 2026-12-01.",
            )
        })?;
    if date > (clock::now() + BOOKING_HORIZON).date() {
        return Err(ApiError::bad_parameter(
            "filter[date]",
            "filter[date] must be within two years from now: nothing can be booked later.",
        ));
    }
    let org = auth.0.organization_id.clone();
    let sid = service_id.clone();
    let slots = state
        .db
        .run(move |conn| -> Result<Option<Vec<AvailableSlot>>, DbError> {
            let Some(service) = Service::find(conn, &org, &sid)? else {
                return Ok(None);
            };
            free_slots(conn, &org, &service, date, clock::now()).map(Some)
        })
        .await?
        .ok_or_else(|| {
            ApiError::bad_parameter("filter[service]", "There is no service with this id.")
        })?;
    let after = page.after.clone();
    let items: Vec<_> = slots
        .into_iter()
        .skip_while(|s| after.as_deref().is_some_and(|a| s.id.as_str() != a))
        .skip(usize::from(after.is_some()))
        .take(usize::try_from(page.size + 1).unwrap_or(26))
        .map(|s| s.to_resource())
        .collect();
    let extra = format!(
        "filter%5Bservice%5D={}&filter%5Bdate%5D={}",
        crate::error::urlencode(&service_id),
        crate::error::urlencode(&date_text)
    );
    Ok(collection("/api/v2/available_slots", &page, items, &extra))
}

/// `GET /api/v2/available_slots/{id}`: the slot, while it is still free.
pub async fn slot_read(
    auth: Authorized,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let mut parts = id.splitn(3, '.');
    let (Some(_employee), Some(service_id), Some(start)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(ApiError::not_found());
    };
    let start = PrimitiveDateTime::parse(
        start,
        format_description!("[year][month][day]T[hour][minute]"),
    )
    .map_err(|_| ApiError::not_found())?;
    let (org, service_id, wanted) = (
        auth.0.organization_id.clone(),
        service_id.to_owned(),
        id.clone(),
    );
    let slot = state
        .db
        .run(move |conn| -> Result<Option<AvailableSlot>, DbError> {
            let Some(service) = Service::find(conn, &org, &service_id)? else {
                return Ok(None);
            };
            Ok(
                free_slots(conn, &org, &service, start.date(), clock::now())?
                    .into_iter()
                    .find(|s| s.id == wanted),
            )
        })
        .await?;
    slot.map(|s| single(StatusCode::OK, s.to_resource()))
        .ok_or_else(ApiError::not_found)
}

/// Problems with a request document, as (JSON pointer, message).
#[derive(Debug, Default)]
struct Problems(Vec<(String, String)>);

impl Problems {
    fn add(&mut self, pointer: &str, message: impl Into<String>) {
        self.0.push((pointer.to_owned(), message.into()));
    }

    fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

/// The `data` object of a request document, of the expected type (and id).
fn data_of<'a>(
    body: &'a Value,
    kind: &str,
    id: Option<&str>,
) -> Result<&'a Map<String, Value>, ApiError> {
    let data = body.get("data").and_then(Value::as_object).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_document",
            "Invalid document",
            "The body must be a JSON:API document with a data object.",
        )
    })?;
    if data.get("type").and_then(Value::as_str) != Some(kind) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "type_mismatch",
            "Type mismatch",
            format!("data.type must be \"{kind}\"."),
        ));
    }
    if let Some(id) = id
        && data.get("id").and_then(Value::as_str) != Some(id)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "id_mismatch",
            "Id mismatch",
            "data.id must be the id in the URL.",
        ));
    }
    Ok(data)
}

fn attribute<'a>(data: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    data.get("attributes").and_then(|a| a.get(name))
}

/// A to-one relationship's id: `None` when absent, `Some(None)` when null.
fn relationship(
    data: &Map<String, Value>,
    name: &str,
    kind: &str,
    problems: &mut Problems,
) -> Option<Option<String>> {
    let rel = data.get("relationships")?.get(name)?;
    let pointer = format!("/data/relationships/{name}");
    match rel.get("data") {
        Some(Value::Null) => Some(None),
        Some(Value::Object(o)) if o.get("type").and_then(Value::as_str) == Some(kind) => {
            match o.get("id").and_then(Value::as_str) {
                Some(id)
                    if !id.is_empty() && id.len() <= 64 && !id.chars().any(char::is_control) =>
                {
                    Some(Some(id.to_owned()))
                }
                _ => {
                    problems.add(&pointer, format!("{name} needs a valid id."));
                    None
                }
            }
        }
        _ => {
            problems.add(
                &pointer,
                format!("{name} must be {{\"data\": {{\"type\": \"{kind}\", \"id\": …}}}}."),
            );
            None
        }
    }
}

fn text_attribute(
    data: &Map<String, Value>,
    name: &str,
    max: usize,
    problems: &mut Problems,
) -> Option<String> {
    let value = attribute(data, name)?;
    let pointer = format!("/data/attributes/{name}");
    match value.as_str() {
        Some(s) if s.chars().count() > max => {
            problems.add(&pointer, format!("{name} has at most {max} characters."))
        }
        Some(s) if has_control_chars(s) => {
            problems.add(&pointer, format!("{name} contains control characters."))
        }
        Some(s) => return Some(s.trim().to_owned()),
        None => problems.add(&pointer, format!("{name} must be a string.")),
    }
    None
}

fn booking_source(source: SourceApp) -> &'static str {
    match source {
        SourceApp::ExternalCma => "mobile",
        SourceApp::ExternalWebstore => "web",
        SourceApp::Bot => "bot",
        SourceApp::ClientApp => "api",
    }
}

/// Locks the employee's row so two bookings cannot take the same time (PostgreSQL;
/// SQLite's write transactions already run one at a time).
fn lock_employee(conn: &mut DbConn, id: &str) -> diesel::QueryResult<()> {
    use diesel::prelude::*;
    if let DbConn::Postgres(pg) = conn {
        crate::db::schema::employees::table
            .find(id)
            .select(crate::db::schema::employees::id)
            .for_update()
            .first::<String>(pg)
            .optional()?;
    }
    Ok(())
}

/// Why a booking cannot be made, found inside the transaction.
enum BookingError {
    Invalid(Vec<(String, String)>),
    Taken,
    Db(DbError),
}

impl From<DbError> for BookingError {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

impl From<diesel::result::Error> for BookingError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

impl From<BookingError> for ApiError {
    fn from(e: BookingError) -> Self {
        match e {
            BookingError::Invalid(problems) => ApiError::validation(problems),
            BookingError::Taken => ApiError::new(
                StatusCode::CONFLICT,
                "slot_taken",
                "Slot taken",
                "The employee has another appointment at that time. List available_slots for free times.",
            ),
            BookingError::Db(e) => e.into(),
        }
    }
}

/// Checks a booking against the employee's hours and other bookings.
fn check_booking(
    conn: &mut DbConn,
    org: &str,
    employee_id: &str,
    starts_at: Timestamp,
    ends_at: Timestamp,
    except: Option<&str>,
) -> Result<(), BookingError> {
    let invalid = |pointer: &str, message: &str| {
        BookingError::Invalid(vec![(pointer.to_owned(), message.to_owned())])
    };
    let employee = Employee::find(conn, org, employee_id)?.ok_or_else(|| {
        invalid(
            "/data/relationships/employee",
            "There is no employee with this id.",
        )
    })?;
    if !employee.active {
        return Err(invalid(
            "/data/relationships/employee",
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
        return Err(invalid(
            "/data/attributes/starts_at",
            "The employee does not work at that time.",
        ));
    }
    lock_employee(conn, employee_id)?;
    if Appointment::overlaps(conn, employee_id, starts_at, ends_at, except)? {
        return Err(BookingError::Taken);
    }
    Ok(())
}

fn start_attribute(
    data: &Map<String, Value>,
    problems: &mut Problems,
    now: Timestamp,
) -> Option<Timestamp> {
    let value = attribute(data, "starts_at")?;
    match value.as_str().and_then(parse_instant) {
        Some(t) if t <= now => problems.add(
            "/data/attributes/starts_at",
            "starts_at must be in the future.",
        ),
        Some(t) if !bookable(t, now) => problems.add(
            "/data/attributes/starts_at",
            "starts_at must be within two years from now.",
        ),
        Some(t) => return Some(t),
        None => problems.add(
            "/data/attributes/starts_at",
            "starts_at must be an RFC 3339 time, e.g. 2026-12-01T10:00:00Z.",
        ),
    }
    None
}

/// `POST /api/v2/appointments`: books, marked with the key's Source App.
pub async fn appointment_create(
    auth: Authorized,
    state: web::Data<AppState>,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    let grant = auth.0;
    let data = data_of(&body.0, "appointments", None)?;
    let now = clock::now();
    let mut problems = Problems::default();
    let starts_at = start_attribute(data, &mut problems, now);
    if attribute(data, "starts_at").is_none() {
        problems.add("/data/attributes/starts_at", "starts_at is required.");
    }
    let notes = text_attribute(data, "notes", 1000, &mut problems).unwrap_or_default();
    let service_id = relationship(data, "service", "services", &mut problems).flatten();
    let employee_id = relationship(data, "employee", "employees", &mut problems).flatten();
    let guest_id = relationship(data, "guest", "guests", &mut problems).flatten();
    if data
        .get("relationships")
        .and_then(|r| r.get("service"))
        .is_none()
    {
        problems.add("/data/relationships/service", "service is required.");
    }
    if data
        .get("relationships")
        .and_then(|r| r.get("employee"))
        .is_none()
    {
        problems.add("/data/relationships/employee", "employee is required.");
    }
    problems.into_result()?;
    let (Some(starts_at), Some(service_id), Some(employee_id)) =
        (starts_at, service_id, employee_id)
    else {
        return Err(ApiError::validation(vec![(
            "/data".to_owned(),
            "starts_at, service and employee are required.".to_owned(),
        )]));
    };
    let org = grant.organization_id.clone();
    let appointment = state
        .db
        .run(move |conn| {
            write_tx(conn, |conn| -> Result<Appointment, BookingError> {
                let service = Service::find(conn, &org, &service_id)?.ok_or_else(|| {
                    BookingError::Invalid(vec![(
                        "/data/relationships/service".into(),
                        "There is no service with this id.".into(),
                    )])
                })?;
                if let Some(g) = &guest_id
                    && Guest::find(conn, &org, g)?.is_none()
                {
                    return Err(BookingError::Invalid(vec![(
                        "/data/relationships/guest".into(),
                        "There is no guest with this id.".into(),
                    )]));
                }
                let ends_at = starts_at + Duration::minutes(i64::from(service.duration_minutes));
                check_booking(conn, &org, &employee_id, starts_at, ends_at, None)?;
                let now = clock::now();
                let appointment = Appointment {
                    id: new_id(),
                    organization_id: org.clone(),
                    service_id,
                    employee_id,
                    guest_id,
                    starts_at,
                    ends_at,
                    status: "booked".to_owned(),
                    notes,
                    source: booking_source(grant.source_app).to_owned(),
                    created_by_app_id: Some(grant.app_id.clone()),
                    created_by_key_id: Some(grant.key_id.to_string()),
                    created_at: now,
                    updated_at: now,
                    cancelled_at: None,
                };
                Appointment::insert(conn, &appointment)?;
                Ok(appointment)
            })
        })
        .await?;
    Ok(single(StatusCode::CREATED, appointment.to_resource()))
}

/// `PATCH /api/v2/appointments/{id}`: moves it, changes its employee or notes.
pub async fn appointment_update(
    auth: Authorized,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let data = data_of(&body.0, "appointments", Some(&id))?;
    let now = clock::now();
    let mut problems = Problems::default();
    let new_start = start_attribute(data, &mut problems, now);
    let new_notes = text_attribute(data, "notes", 1000, &mut problems);
    let new_employee = relationship(data, "employee", "employees", &mut problems);
    if matches!(new_employee, Some(None)) {
        problems.add(
            "/data/relationships/employee",
            "An appointment needs an employee.",
        );
    }
    problems.into_result()?;
    let org = auth.0.organization_id.clone();
    let updated = state
        .db
        .run(move |conn| {
            write_tx(
                conn,
                |conn| -> Result<Option<Result<Appointment, ApiError>>, BookingError> {
                    let Some(current) = Appointment::find(conn, &org, &id)? else {
                        return Ok(None);
                    };
                    if current.status != "booked" {
                        return Ok(Some(Err(ApiError::new(
                            StatusCode::CONFLICT,
                            "appointment_cancelled",
                            "Appointment cancelled",
                            "A cancelled appointment cannot be changed.",
                        ))));
                    }
                    let service = Service::find(conn, &org, &current.service_id)?.ok_or(
                        BookingError::Db(DbError::Query(diesel::result::Error::NotFound)),
                    )?;
                    let starts_at = new_start.unwrap_or(current.starts_at);
                    let ends_at =
                        starts_at + Duration::minutes(i64::from(service.duration_minutes));
                    let employee_id = new_employee
                        .flatten()
                        .unwrap_or_else(|| current.employee_id.clone());
                    if starts_at != current.starts_at || employee_id != current.employee_id {
                        check_booking(
                            conn,
                            &org,
                            &employee_id,
                            starts_at,
                            ends_at,
                            Some(&current.id),
                        )?;
                    }
                    let notes = new_notes.unwrap_or_else(|| current.notes.clone());
                    Appointment::update_booking(
                        conn,
                        &current.id,
                        &employee_id,
                        starts_at,
                        ends_at,
                        &notes,
                        clock::now(),
                    )?;
                    Ok(Appointment::find(conn, &org, &current.id)?.map(Ok))
                },
            )
        })
        .await?;
    match updated {
        None => Err(ApiError::not_found()),
        Some(Err(e)) => Err(e),
        Some(Ok(a)) => Ok(single(StatusCode::OK, a.to_resource())),
    }
}

/// `DELETE /api/v2/appointments/{id}`: cancels it (again is harmless).
pub async fn appointment_cancel(
    auth: Authorized,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = (auth.0.organization_id.clone(), path.into_inner());
    let cancelled = state
        .db
        .run(move |conn| {
            write_tx(conn, |conn| -> Result<Option<Appointment>, DbError> {
                let Some(current) = Appointment::find(conn, &org, &id)? else {
                    return Ok(None);
                };
                if current.status == "booked" {
                    Appointment::cancel(conn, &id, clock::now())?;
                }
                Ok(Appointment::find(conn, &org, &id)?)
            })
        })
        .await?;
    cancelled
        .map(|a| single(StatusCode::OK, a.to_resource()))
        .ok_or_else(ApiError::not_found)
}

fn guest_fields(
    data: &Map<String, Value>,
    current: Option<&Guest>,
    problems: &mut Problems,
) -> (String, String, Option<String>, Option<String>) {
    let mut name = |field: &str, existing: Option<&str>| -> String {
        match text_attribute(data, field, 100, problems) {
            Some(v) if v.is_empty() => {
                problems.add(
                    &format!("/data/attributes/{field}"),
                    format!("{field} cannot be empty."),
                );
                String::new()
            }
            Some(v) => v,
            None if existing.is_none() && attribute(data, field).is_none() => {
                problems.add(
                    &format!("/data/attributes/{field}"),
                    format!("{field} is required."),
                );
                String::new()
            }
            None => existing.unwrap_or_default().to_owned(),
        }
    };
    let first = name("first_name", current.map(|g| g.first_name.as_str()));
    let last = name("last_name", current.map(|g| g.last_name.as_str()));
    let email = match attribute(data, "email") {
        None => current.and_then(|g| g.email.clone()),
        Some(Value::Null) => None,
        Some(Value::String(s)) => match EmailAddress::parse(s) {
            Ok(e) => Some(e.as_str().to_owned()),
            Err(e) => {
                problems.add("/data/attributes/email", e.to_string());
                None
            }
        },
        Some(_) => {
            problems.add("/data/attributes/email", "email must be a string or null.");
            None
        }
    };
    let phone = match attribute(data, "phone") {
        None => current.and_then(|g| g.phone.clone()),
        Some(Value::Null) => None,
        Some(Value::String(s))
            if s.len() <= 32
                && !s.trim().is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c)) =>
        {
            Some(s.trim().to_owned())
        }
        Some(_) => {
            problems.add(
                "/data/attributes/phone",
                "phone must be up to 32 digits, spaces and + - ( ) . characters.",
            );
            None
        }
    };
    (first, last, email, phone)
}

/// `POST /api/v2/guests`.
pub async fn guest_create(
    auth: Authorized,
    state: web::Data<AppState>,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    let data = data_of(&body.0, "guests", None)?;
    let mut problems = Problems::default();
    let (first_name, last_name, email, phone) = guest_fields(data, None, &mut problems);
    problems.into_result()?;
    let now = clock::now();
    let guest = Guest {
        id: new_id(),
        organization_id: auth.0.organization_id.clone(),
        first_name,
        last_name,
        email,
        phone,
        created_at: now,
        updated_at: now,
    };
    let row = guest.clone();
    state
        .db
        .run(move |conn| Guest::insert(conn, &row).map_err(DbError::from))
        .await?;
    Ok(single(StatusCode::CREATED, guest.to_resource()))
}

/// `PATCH /api/v2/guests/{id}`.
pub async fn guest_update(
    auth: Authorized,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let data = data_of(&body.0, "guests", Some(&id))?.clone();
    let org = auth.0.organization_id.clone();
    let result = state
        .db
        .run(move |conn| {
            write_tx(
                conn,
                |conn| -> Result<Option<Result<Guest, ApiError>>, DbError> {
                    let Some(current) = Guest::find(conn, &org, &id)? else {
                        return Ok(None);
                    };
                    let mut problems = Problems::default();
                    let (first_name, last_name, email, phone) =
                        guest_fields(&data, Some(&current), &mut problems);
                    if let Err(e) = problems.into_result() {
                        return Ok(Some(Err(e)));
                    }
                    let updated = Guest {
                        first_name,
                        last_name,
                        email,
                        phone,
                        updated_at: clock::now(),
                        ..current
                    };
                    Guest::update(conn, &updated)?;
                    Ok(Some(Ok(updated)))
                },
            )
        })
        .await?;
    match result {
        None => Err(ApiError::not_found()),
        Some(Err(e)) => Err(e),
        Some(Ok(g)) => Ok(single(StatusCode::OK, g.to_resource())),
    }
}
