//! `/api/v2`: the platform's resources as JSON:API. Every handler takes an
//! [`Authorized`] credential, whose permission the route table decides.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde_json::{Map, Value};
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, PrimitiveDateTime};

use super::error::ApiError;
use super::etag::ETag;
use super::resources::{AvailableSlot, ToResource};
use super::{Authorized, JsonApiBody, Page, collection, param, query_pairs, single};
use crate::clock::{self, Timestamp};
use crate::db::DbConn;
use crate::db::models::platform::{
    Appointment, Employee, Guest, Installment, Payment, Service, WorkingHours,
};
use crate::domain::{EmailAddress, Password, has_control_chars};
use crate::domain::{OrgId, UserRef};
use crate::services::bookings::{
    self, BOOKING_HORIZON, Booker, BookingChanges, NewBooking, bookable, weekday,
};
use crate::services::{self, guests::GuestChanges};
use crate::state::AppState;

/// A table served as a JSON:API collection.
pub trait PlatformResource: ToResource + std::hash::Hash + Send + Sized + 'static {
    /// The collection's path.
    const PATH: &'static str;
    /// A page of rows after `after`.
    fn page(
        conn: &mut DbConn,
        org: &OrgId,
        after: Option<&str>,
        limit: i64,
    ) -> diesel::QueryResult<Vec<Self>>;
    /// One row.
    fn one(conn: &mut DbConn, org: &OrgId, id: &str) -> diesel::QueryResult<Option<Self>>;
}

macro_rules! platform_resource {
    ($model:ty, $path:literal) => {
        impl PlatformResource for $model {
            const PATH: &'static str = $path;
            fn page(
                conn: &mut DbConn,
                org: &OrgId,
                after: Option<&str>,
                limit: i64,
            ) -> diesel::QueryResult<Vec<Self>> {
                <$model>::list_page(conn, org, after, limit)
            }
            fn one(conn: &mut DbConn, org: &OrgId, id: &str) -> diesel::QueryResult<Option<Self>> {
                <$model>::find(conn, org, &id.into())
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
        .read_short(move |conn| T::page(conn, &org, after.as_deref(), limit))
        .await?;
    // The rows and the page make the answer: its tag is known before it is.
    let tag = ETag::of(&(T::PATH, page.size, page.after.as_deref(), &rows));
    if tag.matches(req.headers()) {
        return Ok(tag.not_modified());
    }
    let mut response = collection(T::PATH, &page, &rows, "");
    tag.put_on(&mut response);
    Ok(response)
}

/// `GET /api/v2/<collection>/{id}`.
pub async fn read<T: PlatformResource>(
    req: HttpRequest,
    auth: Authorized,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = (auth.0.organization_id.clone(), path.into_inner());
    let row = state
        .read_short(move |conn| T::one(conn, &org, &id))
        .await?
        .ok_or_else(ApiError::not_found)?;
    let tag = ETag::of(&(T::PATH, &row));
    if tag.matches(req.headers()) {
        return Ok(tag.not_modified());
    }
    let mut response = single(StatusCode::OK, &row);
    tag.put_on(&mut response);
    Ok(response)
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

/// The free slots of `service` on `date`, every 15 minutes within working hours,
/// not overlapping a booking, bookable (see [`bookable`]); sorted by start then
/// employee.
fn free_slots(
    conn: &mut DbConn,
    org: &OrgId,
    service: &Service,
    date: Date,
    now: Timestamp,
) -> diesel::QueryResult<Vec<AvailableSlot>> {
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
                    employee_id: span.employee_id.to_string(),
                    service_id: service.id.to_string(),
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

/// `GET /api/v2/available_slots?filter[service]=…&filter[date]=YYYY-MM-DD`: the
/// free slots of that day, none for a day in the past or beyond the two-year
/// booking horizon; 404 for an unknown service.
pub async fn slots_list(
    req: HttpRequest,
    auth: Authorized,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pairs = query_pairs(&req)?;
    let page = Page::from_query(&pairs)?;
    let service_id = param(&pairs, "filter[service]")?
        .filter(|s| super::is_id(s, 64))
        .ok_or_else(|| {
            ApiError::bad_parameter(
                "filter[service]",
                "Name the service: filter[service]=<service id>.",
            )
        })?
        .to_owned();
    let date_text = param(&pairs, "filter[date]")?
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
    let org = auth.0.organization_id.clone();
    let sid = service_id.clone();
    let slots = state
        .read(move |conn| {
            let Some(service) = Service::find(conn, &org, &sid.into())? else {
                return Ok(None);
            };
            free_slots(conn, &org, &service, date, clock::now()).map(Some)
        })
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "Not found",
                "There is no service with this id.",
            )
            .at_parameter("filter[service]")
        })?;
    let after = page.after.clone();
    let items: Vec<_> = slots
        .into_iter()
        .skip_while(|s| after.as_deref().is_some_and(|a| s.id.as_str() != a))
        .skip(usize::from(after.is_some()))
        .take(usize::try_from(page.size + 1).unwrap_or(26))
        .collect();
    let extra = format!(
        "filter%5Bservice%5D={}&filter%5Bdate%5D={}",
        crate::error::urlencode(&service_id),
        crate::error::urlencode(&date_text)
    );
    Ok(collection("/api/v2/available_slots", &page, &items, &extra))
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
        .read(move |conn| {
            let Some(service) = Service::find(conn, &org, &service_id.into())? else {
                return Ok(None);
            };
            Ok(
                free_slots(conn, &org, &service, start.date(), clock::now())?
                    .into_iter()
                    .find(|s| s.id == wanted),
            )
        })
        .await?;
    slot.map(|s| single(StatusCode::OK, &s))
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
    // JSON:API 1.1 §7.2: attributes and relationships are objects when present.
    for member in ["attributes", "relationships"] {
        if data.get(member).is_some_and(|v| !v.is_object()) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_document",
                "Invalid document",
                format!("data.{member} must be an object."),
            )
            .at_pointer(&format!("/data/{member}")));
        }
    }
    if data.get("type").and_then(Value::as_str) != Some(kind) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "type_mismatch",
            "Type mismatch",
            format!("data.type must be \"{kind}\"."),
        ));
    }
    if id.is_none() && data.contains_key("id") {
        // JSON:API 1.1 §9.1.1: a server that does not take client-generated ids
        // answers 403 to a create that sends one.
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "client_generated_id",
            "Client-generated id",
            "Leave out data.id: the server assigns the id of a new resource.",
        )
        .at_pointer("/data/id"));
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
                Some(id) if super::is_id(id, 64) => Some(Some(id.to_owned())),
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

fn start_attribute(
    data: &Map<String, Value>,
    problems: &mut Problems,
    now: Timestamp,
) -> Option<Timestamp> {
    let value = attribute(data, "starts_at")?;
    match value.as_str().and_then(parse_instant) {
        Some(t) => match bookings::check_start(t, now) {
            Ok(()) => return Some(t),
            Err(e) => problems.add("/data/attributes/starts_at", e.to_string()),
        },
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
    let booker = Booker {
        app_id: grant.app_id.clone(),
        key_id: grant.key_id().cloned(),
        user: grant.user().map(UserRef::subject),
        source: grant.source_app,
    };
    let new = NewBooking {
        service_id: service_id.into(),
        employee_id: employee_id.into(),
        guest_id: guest_id.map(Into::into),
        starts_at,
        notes,
    };
    let appointment = state
        .op(move |conn| bookings::book(conn, &org, &booker, &new))
        .await?;
    Ok(single(StatusCode::CREATED, &appointment))
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
    let changes = BookingChanges {
        starts_at: new_start,
        employee_id: new_employee.flatten().map(Into::into),
        notes: new_notes,
    };
    let updated = state
        .op(move |conn| bookings::change(conn, &org, &id.into(), &changes))
        .await?;
    Ok(single(StatusCode::OK, &updated))
}

/// `POST /api/v2/appointments/{id}/cancel`: cancels it; it stays, with status
/// `cancelled` (cancelling again is harmless).
pub async fn appointment_cancel(
    auth: Authorized,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (org, id) = (auth.0.organization_id.clone(), path.into_inner());
    let cancelled = state
        .op(move |conn| bookings::cancel(conn, &org, &id.into()))
        .await?;
    Ok(single(StatusCode::OK, &cancelled))
}

/// A guest's attributes as sent. `creating` makes the names required.
fn guest_fields(
    data: &Map<String, Value>,
    creating: bool,
    problems: &mut Problems,
) -> GuestChanges {
    let mut name = |field: &str| -> Option<String> {
        match text_attribute(data, field, 100, problems) {
            Some(v) if v.is_empty() => {
                problems.add(
                    &format!("/data/attributes/{field}"),
                    format!("{field} cannot be empty."),
                );
                None
            }
            Some(v) => Some(v),
            None if creating && attribute(data, field).is_none() => {
                problems.add(
                    &format!("/data/attributes/{field}"),
                    format!("{field} is required."),
                );
                None
            }
            None => None,
        }
    };
    let first_name = name("first_name");
    let last_name = name("last_name");
    let email = match attribute(data, "email") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => match EmailAddress::parse(s) {
            Ok(e) => Some(Some(e.as_str().to_owned())),
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
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s))
            if s.len() <= 32
                && !s.trim().is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c)) =>
        {
            Some(Some(s.trim().to_owned()))
        }
        Some(_) => {
            problems.add(
                "/data/attributes/phone",
                "phone must be up to 32 digits, spaces and + - ( ) . characters.",
            );
            None
        }
    };
    GuestChanges {
        first_name,
        last_name,
        email,
        phone,
    }
}

/// The write-only `password` attribute of a new guest: checked under the
/// rules of every password (its email and names count as easy guesses), and
/// only with an email to sign in with.
fn guest_password(
    data: &Map<String, Value>,
    fields: &GuestChanges,
    problems: &mut Problems,
) -> Option<Password> {
    let raw = match attribute(data, "password") {
        None => return None,
        Some(Value::String(s)) => SecretString::from(s.clone()),
        Some(_) => {
            problems.add("/data/attributes/password", "password must be a string.");
            return None;
        }
    };
    let Some(Some(email)) = &fields.email else {
        problems.add(
            "/data/attributes/email",
            "A guest with a password signs in with their email: send email too.",
        );
        return None;
    };
    let context: Vec<&str> = [
        Some(email.as_str()),
        fields.first_name.as_deref(),
        fields.last_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    match Password::parse_for(raw, &context) {
        Ok(p) => Some(p),
        Err(e) => {
            problems.add("/data/attributes/password", e.to_string());
            None
        }
    }
}

/// `POST /api/v2/guests`. A `password` attribute (write-only, never shown)
/// lets the guest sign in to the organization's Guest apps at once.
pub async fn guest_create(
    auth: Authorized,
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    let data = data_of(&body.0, "guests", None)?;
    let mut problems = Problems::default();
    let fields = guest_fields(data, true, &mut problems);
    let password = guest_password(data, &fields, &mut problems);
    problems.into_result()?;
    let hash = match password {
        Some(p) => Some(state.hasher.hash(p.expose()).await.map_err(|e| {
            tracing::warn!(error = %e, "a guest's password could not be hashed");
            ApiError::unavailable()
        })?),
        None => None,
    };
    let org = auth.0.organization_id.clone();
    let actor = crate::routes::extract::actor(
        &req,
        None,
        &format!(
            "app {} ({})",
            auth.0.app_id,
            auth.0.key_id().map_or("access token", |k| k.as_str())
        ),
    );
    let guest = state
        .op(move |conn| {
            let guest = services::guests::add(
                conn,
                &org,
                fields.first_name.unwrap_or_default(),
                fields.last_name.unwrap_or_default(),
                fields.email.flatten(),
                fields.phone.flatten(),
            )?;
            if let Some(hash) = hash {
                services::users::set_password_by_app(conn, &org, &guest, &hash, &actor)?;
            }
            Ok(guest)
        })
        .await?;
    Ok(single(StatusCode::CREATED, &guest))
}

/// `PATCH /api/v2/guests/{id}`.
pub async fn guest_update(
    auth: Authorized,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let data = data_of(&body.0, "guests", Some(&id))?;
    let mut problems = Problems::default();
    let changes = guest_fields(data, false, &mut problems);
    if attribute(data, "password").is_some() {
        problems.add(
            "/data/attributes/password",
            "A guest's password is set only when the guest is created; an admin can send a reset link from the Guests page.",
        );
    }
    let org = auth.0.organization_id.clone();
    // An unknown guest is a 404 before its attributes are judged.
    let (o, i) = (org.clone(), id.clone());
    if state
        .read(move |conn| Guest::find(conn, &o, &i.into()))
        .await?
        .is_none()
    {
        return Err(ApiError::not_found());
    }
    problems.into_result()?;
    let guest = state
        .op(move |conn| services::guests::change(conn, &org, &id.into(), changes))
        .await?;
    Ok(single(StatusCode::OK, &guest))
}
