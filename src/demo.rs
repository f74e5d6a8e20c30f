//! `keyward demo-data`: a small business to try the API on — services, employees
//! with working hours, guests, appointments, installments, payments — and a demo
//! app whose new key (with every API key permission) is printed once.

use secrecy::SecretString;
use time::{Duration, Time};

use crate::clock::{self, Timestamp};
use crate::db::models::platform::{
    Appointment, Employee, Guest, Installment, Payment, Service, WorkingHours,
};
use crate::db::models::{Actor, App, AppDetails};
use crate::db::{DbConn, write_tx};
use crate::domain::scopes::{PermissionSet, all_permissions};
use crate::domain::{
    AppId, AppUri, AppointmentId, Description, EmployeeId, GuestId, InstallmentId, LoginUserType,
    Name, OrgId, PaymentId, ServiceId, SourceApp, WorkingHoursId,
};
use crate::secrets::DigestKey;
use crate::services::keys::KeyFields;
use crate::services::{self, OpError};

/// What the command made.
#[derive(Debug)]
pub struct DemoData {
    /// Whether the platform resources were created now (false: they existed).
    pub created_resources: bool,
    /// The demo app's id.
    pub app_id: AppId,
    /// The new key, shown once.
    pub key: SecretString,
}

const DEMO_APP: &str = "Demo app";

fn insert_resources(conn: &mut DbConn, org: &OrgId, now: Timestamp) -> diesel::QueryResult<()> {
    let service = |name: &str, description: &str, minutes: i32, cents: i64| Service {
        id: ServiceId::generate(),
        organization_id: org.clone(),
        name: name.to_owned(),
        description: description.to_owned(),
        duration_minutes: minutes,
        price_cents: cents,
        currency: "EUR".to_owned(),
        created_at: now,
    };
    let list = vec![
        service("Haircut", "Wash, cut and style", 30, 3500),
        service("Colour", "Full colour with gloss", 90, 9000),
        service("Manicure", "Shape, cuticle care and polish", 45, 4000),
        service("Massage", "Relaxing full-body massage", 60, 7000),
        service("Facial", "Cleansing and hydrating facial", 60, 6500),
    ];
    // One statement per row: batch inserts do not go through the two-backend connection.
    for row in &list {
        Service::insert(conn, row)?;
    }

    let people = [
        ("Ana Silva", "ana@salon.example"),
        ("Ben Okafor", "ben@salon.example"),
        ("Chloé Martin", "chloe@salon.example"),
    ];
    let staff: Vec<Employee> = people
        .iter()
        .map(|(name, email)| Employee {
            id: EmployeeId::generate(),
            organization_id: org.clone(),
            name: (*name).to_owned(),
            email: (*email).to_owned(),
            active: true,
            created_at: now,
            updated_at: now,
        })
        .collect();
    for row in &staff {
        Employee::insert(conn, row)?;
    }
    let mut hours = Vec::new();
    for e in &staff {
        for weekday in 1..=6 {
            hours.push(WorkingHours {
                id: WorkingHoursId::generate(),
                organization_id: org.clone(),
                employee_id: e.id.clone(),
                weekday,
                starts_minute: 9 * 60,
                ends_minute: 17 * 60,
            });
        }
    }
    for row in &hours {
        WorkingHours::insert(conn, row)?;
    }

    let guests: Vec<Guest> = [
        ("Dana", "Lee", "dana@example.com"),
        ("Eli", "Novak", "eli@example.com"),
        ("Fatima", "Zahra", "fatima@example.com"),
    ]
    .iter()
    .map(|(first, last, email)| Guest {
        id: GuestId::generate(),
        organization_id: org.clone(),
        first_name: (*first).to_owned(),
        last_name: (*last).to_owned(),
        email: Some((*email).to_owned()),
        phone: None,
        created_at: now,
        updated_at: now,
    })
    .collect();
    for g in &guests {
        Guest::insert(conn, g)?;
    }

    // Two bookings tomorrow at 10:00, made at the front desk.
    let tomorrow = (now + Duration::days(1)).date();
    let mut booked = Vec::new();
    for (i, (employee, guest)) in staff.iter().zip(guests.iter()).take(2).enumerate() {
        let s = &list[i];
        let starts_at =
            Timestamp::new(tomorrow, Time::from_hms(10, 0, 0).unwrap_or(Time::MIDNIGHT));
        let a = Appointment {
            id: AppointmentId::generate(),
            organization_id: org.clone(),
            service_id: s.id.clone(),
            employee_id: employee.id.clone(),
            guest_id: Some(guest.id.clone()),
            starts_at,
            ends_at: starts_at + Duration::minutes(i64::from(s.duration_minutes)),
            status: "booked".to_owned(),
            notes: String::new(),
            source: "console".to_owned(),
            created_by_app_id: None,
            created_by_key_id: None,
            created_by_user: None,
            created_at: now,
            updated_at: now,
            cancelled_at: None,
        };
        Appointment::insert(conn, &a)?;
        booked.push(a);
    }
    let due = (now + Duration::days(30)).date().to_string();
    let installment = Installment {
        id: InstallmentId::generate(),
        organization_id: org.clone(),
        guest_id: guests[1].id.clone(),
        appointment_id: booked.get(1).map(|a| a.id.clone()),
        amount_cents: 4500,
        currency: "EUR".to_owned(),
        due_on: due,
        status: "due".to_owned(),
        created_at: now,
    };
    Installment::insert(conn, &installment)?;
    let payment = Payment {
        id: PaymentId::generate(),
        organization_id: org.clone(),
        guest_id: guests[0].id.clone(),
        appointment_id: booked.first().map(|a| a.id.clone()),
        amount_cents: 3500,
        currency: "EUR".to_owned(),
        method: "card".to_owned(),
        paid_at: now,
        created_at: now,
    };
    Payment::insert(conn, &payment)?;
    Ok(())
}

fn invalid(e: crate::domain::Invalid) -> OpError {
    OpError::invalid("demo_data", "demo", e.to_string())
}

/// Creates the demo data (once) and a new key of the demo app. `secret_hash` is
/// the argon2id hash of a fresh secret, stored if the demo app is made now (the
/// secret itself is never shown: the demo uses API keys).
pub fn create(
    conn: &mut DbConn,
    organization_id: &OrgId,
    digest_key: &DigestKey,
    secret_hash: &str,
) -> Result<DemoData, OpError> {
    let actor = Actor::system("demo-data");
    let now = clock::now();
    let created_resources = write_tx(conn, |conn| -> Result<bool, OpError> {
        if Service::count(conn, organization_id)? > 0 {
            return Ok(false);
        }
        insert_resources(conn, organization_id, now)?;
        Ok(true)
    })?;

    let existing = App::list_page(conn, organization_id, Some("demo app"), None, 10)?
        .into_iter()
        .find(|a| a.name == DEMO_APP);
    let app_id = match existing {
        Some(app) => app.id,
        None => {
            let hash = secret_hash;
            write_tx(conn, |conn| -> Result<AppId, OpError> {
                let details = AppDetails {
                    name: Name::parse(DEMO_APP).map_err(invalid)?,
                    uri: AppUri::parse("https://example.com/demo").map_err(invalid)?,
                    description: Description::parse("Created by keyward demo-data to try the API.")
                        .map_err(invalid)?,
                    login_user_type: LoginUserType::Guest,
                    source_app: SourceApp::ClientApp,
                    post_login: Vec::new(),
                    post_logout: Vec::new(),
                };
                let id = services::apps::create_draft(
                    conn,
                    organization_id,
                    &actor,
                    &details,
                    &crate::secrets::random_token::<16>(),
                )?;
                let everything = PermissionSet::from_stored(
                    &all_permissions()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                services::apps::wizard_scopes(
                    conn,
                    organization_id,
                    &actor,
                    &id,
                    &everything,
                    &PermissionSet::default(),
                )?;
                services::apps::wizard_new_secret(conn, organization_id, &actor, &id, hash)?;
                services::apps::wizard_secrets_noted(conn, organization_id, &id)?;
                services::apps::wizard_key_done(conn, organization_id, &id)?;
                services::apps::wizard_finish(conn, organization_id, &actor, &id)?;
                Ok(id)
            })?
        }
    };
    let app = services::apps::load(conn, organization_id, &app_id)?;
    let fields = KeyFields {
        name: Name::parse(&format!(
            "Demo key {}",
            crate::clock::fmt::timestamp_seconds(now)
        ))
        .map_err(invalid)?,
        description: Description::default(),
        expires_at: None,
        active: true,
        permissions: app.apikey_permissions(),
        allowed_ips: crate::domain::IpAllowlist::default(),
        rate_limits: crate::domain::RateLimits::default(),
    };
    let (_, key) = write_tx(conn, |conn| {
        services::keys::create(
            conn,
            organization_id,
            &actor,
            &app_id,
            &fields,
            None,
            digest_key,
        )
    })?;
    Ok(DemoData {
        created_resources,
        app_id,
        key,
    })
}
