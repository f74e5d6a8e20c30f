//! The attributes of each `/api/v2` resource. The OpenAPI schemas are derived
//! from these same types, so the documentation cannot drift from the responses.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use utoipa::ToSchema;

use crate::clock::Timestamp;
use crate::clock::fmt::iso;
use crate::db::models::platform::{
    Appointment, Employee, Guest, Installment, Payment, Service, WorkingHours,
};

/// An amount of money.
#[derive(Debug, Serialize, ToSchema)]
pub struct Money {
    /// In the currency's minor unit (cents).
    pub amount_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// `services` attributes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAttributes {
    pub name: String,
    pub description: String,
    pub duration_minutes: i32,
    pub price: Money,
}

/// `employees` attributes.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmployeeAttributes {
    pub name: String,
    pub email: String,
    /// False once the employee has left.
    pub active: bool,
}

/// `guests` attributes.
#[derive(Debug, Serialize, ToSchema)]
pub struct GuestAttributes {
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

/// `working_hours` attributes.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkingHoursAttributes {
    /// 1 (Monday) to 7 (Sunday).
    pub weekday: i32,
    /// `HH:MM`.
    pub starts_at: String,
    /// `HH:MM`.
    pub ends_at: String,
}

/// `appointments` attributes.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppointmentAttributes {
    /// RFC 3339, UTC.
    pub starts_at: String,
    /// RFC 3339, UTC.
    pub ends_at: String,
    /// `booked` or `cancelled`.
    pub status: String,
    pub notes: String,
    /// How it was booked: `mobile`, `web`, `bot`, `api` or `console`.
    pub source: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, when cancelled.
    pub cancelled_at: Option<String>,
    /// The user who booked it with an access token (`employee:<id>` or
    /// `guest:<id>`); null when an API key booked it.
    pub booked_by_user: Option<String>,
}

/// `available_slots` attributes.
#[derive(Debug, Serialize, ToSchema)]
pub struct AvailableSlotAttributes {
    /// RFC 3339, UTC.
    pub starts_at: String,
    /// RFC 3339, UTC.
    pub ends_at: String,
}

/// `installments` attributes.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstallmentAttributes {
    pub amount: Money,
    /// `YYYY-MM-DD`.
    pub due_on: String,
    /// `due`, `paid` or `overdue`.
    pub status: String,
}

/// `payments` attributes.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentAttributes {
    pub amount: Money,
    pub method: String,
    /// RFC 3339.
    pub paid_at: String,
}

/// A relationship to one resource, or none (JSON:API 1.1 §7.2.2.2): its
/// resource identifier and a `related` link, or `"data": null`.
#[derive(Debug, Clone, Copy)]
pub struct ToOne<'a> {
    kind: &'static str,
    id: Option<&'a str>,
}

/// A relationship of kind `kind` to the resource `id`, if any.
pub fn to_one<'a, I: AsRef<str> + ?Sized>(kind: &'static str, id: Option<&'a I>) -> ToOne<'a> {
    ToOne {
        kind,
        id: id.map(AsRef::as_ref),
    }
}

/// `/api/v2/<kind>/<id>`, written where it is serialized.
struct Link<'a>(&'a str, &'a str);

impl Serialize for Link<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("/api/v2/{}/{}", self.0, self.1))
    }
}

impl Serialize for ToOne<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Identifier<'a>(&'static str, &'a str);
        impl Serialize for Identifier<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("type", self.0)?;
                map.serialize_entry("id", self.1)?;
                map.end()
            }
        }
        struct Related<'a>(Link<'a>);
        impl Serialize for Related<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("related", &self.0)?;
                map.end()
            }
        }
        match self.id {
            Some(id) => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("data", &Identifier(self.kind, id))?;
                map.serialize_entry("links", &Related(Link(self.kind, id)))?;
                map.end()
            }
            None => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("data", &())?;
                map.end()
            }
        }
    }
}

/// A resource's relationships, by name, in this order.
#[derive(Debug)]
pub struct Relationships<'a, const N: usize>(pub [(&'static str, ToOne<'a>); N]);

impl<const N: usize> Serialize for Relationships<'_, N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(name, to)| (*name, to)))
    }
}

/// A resource object (JSON:API 1.1 §7.2): serialized as it is written, with
/// no intermediate JSON tree.
#[derive(Debug)]
pub struct Object<'a, A, R = Relationships<'a, 0>> {
    kind: &'static str,
    id: &'a str,
    attributes: A,
    relationships: Option<R>,
}

/// The resource object of kind `kind` and id `id`.
pub fn object<'a, A: Serialize, R: Serialize>(
    kind: &'static str,
    id: &'a (impl AsRef<str> + ?Sized),
    attributes: A,
    relationships: Option<R>,
) -> Object<'a, A, R> {
    Object {
        kind,
        id: id.as_ref(),
        attributes,
        relationships,
    }
}

impl<A: Serialize, R: Serialize> Serialize for Object<'_, A, R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct SelfLink<'a>(Link<'a>);
        impl Serialize for SelfLink<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("self", &self.0)?;
                map.end()
            }
        }
        let mut map = s.serialize_map(Some(4 + usize::from(self.relationships.is_some())))?;
        map.serialize_entry("type", self.kind)?;
        map.serialize_entry("id", self.id)?;
        map.serialize_entry("attributes", &self.attributes)?;
        if let Some(relationships) = &self.relationships {
            map.serialize_entry("relationships", relationships)?;
        }
        map.serialize_entry("links", &SelfLink(Link(self.kind, self.id)))?;
        map.end()
    }
}

fn minutes(m: i32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// The JSON:API representation of a row.
pub trait ToResource {
    /// The resource's type, which is also its collection's name.
    const KIND: &'static str;
    /// The resource's id.
    fn id(&self) -> &str;
    /// The resource object, ready to serialize.
    fn resource(&self) -> impl Serialize + '_;
    /// Where the resource is read: `/api/v2/<kind>/<id>`.
    fn location(&self) -> String {
        format!("/api/v2/{}/{}", Self::KIND, self.id())
    }
}

/// No relationships.
const NONE: Option<Relationships<'static, 0>> = None;

impl ToResource for Service {
    const KIND: &'static str = "services";
    fn id(&self) -> &str {
        self.id.as_ref()
    }
    fn resource(&self) -> impl Serialize + '_ {
        object(
            Self::KIND,
            &self.id,
            ServiceAttributes {
                name: self.name.clone(),
                description: self.description.clone(),
                duration_minutes: self.duration_minutes,
                price: Money {
                    amount_cents: self.price_cents,
                    currency: self.currency.clone(),
                },
            },
            NONE,
        )
    }
}

impl ToResource for Employee {
    const KIND: &'static str = "employees";
    fn id(&self) -> &str {
        self.id.as_ref()
    }
    fn resource(&self) -> impl Serialize + '_ {
        object(
            Self::KIND,
            &self.id,
            EmployeeAttributes {
                name: self.name.clone(),
                email: self.email.clone(),
                active: self.active,
            },
            NONE,
        )
    }
}

impl ToResource for Guest {
    const KIND: &'static str = "guests";
    fn id(&self) -> &str {
        self.id.as_ref()
    }
    fn resource(&self) -> impl Serialize + '_ {
        object(
            Self::KIND,
            &self.id,
            GuestAttributes {
                first_name: self.first_name.clone(),
                last_name: self.last_name.clone(),
                email: self.email.clone(),
                phone: self.phone.clone(),
                created_at: iso(self.created_at),
            },
            NONE,
        )
    }
}

impl ToResource for WorkingHours {
    const KIND: &'static str = "working_hours";
    fn id(&self) -> &str {
        self.id.as_ref()
    }
    fn resource(&self) -> impl Serialize + '_ {
        object(
            Self::KIND,
            &self.id,
            WorkingHoursAttributes {
                weekday: self.weekday,
                starts_at: minutes(self.starts_minute),
                ends_at: minutes(self.ends_minute),
            },
            Some(Relationships([(
                "employee",
                to_one("employees", Some(&self.employee_id)),
            )])),
        )
    }
}

impl ToResource for Appointment {
    const KIND: &'static str = "appointments";
    fn id(&self) -> &str {
        self.id.as_ref()
    }
    fn resource(&self) -> impl Serialize + '_ {
        object(
            Self::KIND,
            &self.id,
            AppointmentAttributes {
                starts_at: iso(self.starts_at),
                ends_at: iso(self.ends_at),
                status: self.status.clone(),
                notes: self.notes.clone(),
                source: self.source.clone(),
                created_at: iso(self.created_at),
                cancelled_at: self.cancelled_at.map(iso),
                booked_by_user: self.created_by_user.clone(),
            },
            Some(Relationships([
                ("service", to_one("services", Some(&self.service_id))),
                ("employee", to_one("employees", Some(&self.employee_id))),
                ("guest", to_one("guests", self.guest_id.as_ref())),
            ])),
        )
    }
}

impl ToResource for Installment {
    const KIND: &'static str = "installments";
    fn id(&self) -> &str {
        self.id.as_ref()
    }
    fn resource(&self) -> impl Serialize + '_ {
        object(
            Self::KIND,
            &self.id,
            InstallmentAttributes {
                amount: Money {
                    amount_cents: self.amount_cents,
                    currency: self.currency.clone(),
                },
                due_on: self.due_on.clone(),
                status: self.status.clone(),
            },
            Some(Relationships([
                ("guest", to_one("guests", Some(&self.guest_id))),
                (
                    "appointment",
                    to_one("appointments", self.appointment_id.as_ref()),
                ),
            ])),
        )
    }
}

impl ToResource for Payment {
    const KIND: &'static str = "payments";
    fn id(&self) -> &str {
        self.id.as_ref()
    }
    fn resource(&self) -> impl Serialize + '_ {
        object(
            Self::KIND,
            &self.id,
            PaymentAttributes {
                amount: Money {
                    amount_cents: self.amount_cents,
                    currency: self.currency.clone(),
                },
                method: self.method.clone(),
                paid_at: iso(self.paid_at),
            },
            Some(Relationships([
                ("guest", to_one("guests", Some(&self.guest_id))),
                (
                    "appointment",
                    to_one("appointments", self.appointment_id.as_ref()),
                ),
            ])),
        )
    }
}

/// A free slot: an employee, a service, a start.
#[derive(Debug, Clone)]
pub struct AvailableSlot {
    /// `<employee id>.<service id>.<start, YYYYMMDDTHHMM>`.
    pub id: String,
    pub employee_id: String,
    pub service_id: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
}

impl ToResource for AvailableSlot {
    const KIND: &'static str = "available_slots";
    fn id(&self) -> &str {
        self.id.as_ref()
    }
    fn resource(&self) -> impl Serialize + '_ {
        object(
            Self::KIND,
            &self.id,
            AvailableSlotAttributes {
                starts_at: iso(self.starts_at),
                ends_at: iso(self.ends_at),
            },
            Some(Relationships([
                ("employee", to_one("employees", Some(&self.employee_id))),
                ("service", to_one("services", Some(&self.service_id))),
            ])),
        )
    }
}
