//! The attributes of each `/api/v2` resource. The OpenAPI schemas are derived
//! from these same types, so the documentation cannot drift from the responses.

use serde::Serialize;
use serde_json::{Value, json};
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

/// A relationship to one resource, or none.
pub fn to_one<I: AsRef<str>>(kind: &str, id: Option<&I>) -> Value {
    let id = id.map(AsRef::as_ref);
    match id {
        Some(id) => {
            json!({ "data": { "type": kind, "id": id }, "links": { "related": format!("/api/v2/{kind}/{id}") } })
        }
        None => json!({ "data": null }),
    }
}

/// A resource object.
pub fn object(
    kind: &str,
    id: &impl AsRef<str>,
    attributes: impl Serialize,
    relationships: Option<Value>,
) -> Value {
    let id = id.as_ref();
    let mut o = json!({
        "type": kind,
        "id": id,
        "attributes": serde_json::to_value(attributes).unwrap_or(Value::Null),
        "links": { "self": format!("/api/v2/{kind}/{id}") },
    });
    if let (Some(rel), Some(map)) = (relationships, o.as_object_mut()) {
        map.insert("relationships".to_owned(), rel);
    }
    o
}

fn minutes(m: i32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// The JSON:API representation of a row.
pub trait ToResource {
    /// The resource object.
    fn to_resource(&self) -> Value;
}

impl ToResource for Service {
    fn to_resource(&self) -> Value {
        object(
            "services",
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
            None,
        )
    }
}

impl ToResource for Employee {
    fn to_resource(&self) -> Value {
        object(
            "employees",
            &self.id,
            EmployeeAttributes {
                name: self.name.clone(),
                email: self.email.clone(),
                active: self.active,
            },
            None,
        )
    }
}

impl ToResource for Guest {
    fn to_resource(&self) -> Value {
        object(
            "guests",
            &self.id,
            GuestAttributes {
                first_name: self.first_name.clone(),
                last_name: self.last_name.clone(),
                email: self.email.clone(),
                phone: self.phone.clone(),
                created_at: iso(self.created_at),
            },
            None,
        )
    }
}

impl ToResource for WorkingHours {
    fn to_resource(&self) -> Value {
        object(
            "working_hours",
            &self.id,
            WorkingHoursAttributes {
                weekday: self.weekday,
                starts_at: minutes(self.starts_minute),
                ends_at: minutes(self.ends_minute),
            },
            Some(json!({ "employee": to_one("employees", Some(&self.employee_id)) })),
        )
    }
}

impl ToResource for Appointment {
    fn to_resource(&self) -> Value {
        object(
            "appointments",
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
            Some(json!({
                "service": to_one("services", Some(&self.service_id)),
                "employee": to_one("employees", Some(&self.employee_id)),
                "guest": to_one("guests", self.guest_id.as_ref()),
            })),
        )
    }
}

impl ToResource for Installment {
    fn to_resource(&self) -> Value {
        object(
            "installments",
            &self.id,
            InstallmentAttributes {
                amount: Money {
                    amount_cents: self.amount_cents,
                    currency: self.currency.clone(),
                },
                due_on: self.due_on.clone(),
                status: self.status.clone(),
            },
            Some(json!({
                "guest": to_one("guests", Some(&self.guest_id)),
                "appointment": to_one("appointments", self.appointment_id.as_ref()),
            })),
        )
    }
}

impl ToResource for Payment {
    fn to_resource(&self) -> Value {
        object(
            "payments",
            &self.id,
            PaymentAttributes {
                amount: Money {
                    amount_cents: self.amount_cents,
                    currency: self.currency.clone(),
                },
                method: self.method.clone(),
                paid_at: iso(self.paid_at),
            },
            Some(json!({
                "guest": to_one("guests", Some(&self.guest_id)),
                "appointment": to_one("appointments", self.appointment_id.as_ref()),
            })),
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
    fn to_resource(&self) -> Value {
        object(
            "available_slots",
            &self.id,
            AvailableSlotAttributes {
                starts_at: iso(self.starts_at),
                ends_at: iso(self.ends_at),
            },
            Some(json!({
                "employee": to_one("employees", Some(&self.employee_id)),
                "service": to_one("services", Some(&self.service_id)),
            })),
        )
    }
}
