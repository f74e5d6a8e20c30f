//! The Staff page: the organization's employees, who receive alerts and will sign
//! in to employee-facing apps. Everyone signed in reads it; full-access admins
//! add, edit and mark employees as left.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::db::models::UserCredential;
use crate::db::models::platform::Employee;
use crate::domain::{EmailAddress, EmployeeId, Name, UserRef};
use crate::error::AppError;
use crate::routes::extract::{CurrentAdmin, FullAdmin};
use crate::routes::form::Form;
use crate::routes::page::{self, Layout, Nav, Problem};
use crate::services::{self, OpError};
use crate::state::AppState;

/// The employee form as typed.
#[derive(Debug, Default, Deserialize)]
pub struct EmployeeForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
}

/// Messages beside the fields.
#[derive(Debug, Default)]
struct Errors {
    name: Option<String>,
    email: Option<String>,
}

impl Errors {
    fn any(&self) -> bool {
        self.name.is_some() || self.email.is_some()
    }

    fn problems(&self) -> Vec<Problem> {
        Problem::list([
            ("name", self.name.as_deref()),
            ("email", self.email.as_deref()),
        ])
    }
}

fn parse(form: &EmployeeForm) -> Result<(Name, EmailAddress), Errors> {
    let mut errors = Errors::default();
    let name = Name::parse(&form.name)
        .map_err(|e| errors.name = Some(e.to_string()))
        .ok();
    let email = EmailAddress::parse(&form.email)
        .map_err(|e| errors.email = Some(e.to_string()))
        .ok();
    match (name, email) {
        (Some(n), Some(e)) if !errors.any() => Ok((n, e)),
        _ => Err(errors),
    }
}

/// Where an employee stands with signing in to the organization's apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// Never invited.
    NotInvited,
    /// Invited (or reset), no password yet.
    Pending,
    /// A password is set.
    Ready,
}

/// An employee row of the list.
#[derive(Debug)]
struct Row {
    e: Employee,
    sign_in: SignIn,
}

#[derive(Template)]
#[template(path = "staff/index.html")]
struct StaffPage {
    layout: Layout,
    staff: Vec<Row>,
    form: EmployeeForm,
    errors: Errors,
}

async fn index_page(
    session: &Session,
    state: &AppState,
    admin: &CurrentAdmin,
    form: EmployeeForm,
    errors: Errors,
) -> Result<HttpResponse, AppError> {
    let org = admin.organization_id.clone();
    let staff = state
        .read(move |conn| {
            let credentials: std::collections::HashMap<String, bool> =
                UserCredential::list_of_type(conn, &org, "employee")?
                    .into_iter()
                    .map(|c| (c.user_id.clone(), c.has_password()))
                    .collect();
            Ok(Employee::list_all(conn, &org)?
                .into_iter()
                .map(|e| {
                    let sign_in = match credentials.get(e.id.as_str()) {
                        None => SignIn::NotInvited,
                        Some(false) => SignIn::Pending,
                        Some(true) => SignIn::Ready,
                    };
                    Row { e, sign_in }
                })
                .collect::<Vec<_>>())
        })
        .await?;
    let status = if errors.any() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page::render(
        status,
        &StaffPage {
            layout: Layout::new(session, Some(admin), Nav::Staff, "Staff")?,
            staff,
            form,
            errors,
        },
    )
}

/// `GET /staff`.
pub async fn staff_index(
    session: Session,
    state: web::Data<AppState>,
    admin: CurrentAdmin,
) -> Result<HttpResponse, AppError> {
    index_page(
        &session,
        &state,
        &admin,
        EmployeeForm::default(),
        Errors::default(),
    )
    .await
}

/// `POST /staff` — adds an employee.
pub async fn staff_create(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    Form(form): Form<EmployeeForm>,
) -> Result<HttpResponse, AppError> {
    let (name, email) = match parse(&form) {
        Ok(parsed) => parsed,
        Err(errors) => return index_page(&session, &state, &admin, form, errors).await,
    };
    let (org, actor) = (admin.organization_id.clone(), admin.actor());
    match state
        .op(move |conn| services::staff::add(conn, &org, &actor, &name, &email))
        .await
    {
        Ok(e) => {
            page::flash(
                &session,
                "success",
                format!("{} was added to the staff.", e.name),
            );
            Ok(page::see_other("/staff"))
        }
        Err(e @ OpError::Invalid { .. }) => {
            let errors = Errors {
                email: Some(e.to_string()),
                ..Errors::default()
            };
            index_page(&session, &state, &admin, form, errors).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "staff/edit.html")]
struct EditPage {
    layout: Layout,
    employee: Employee,
    form: EmployeeForm,
    errors: Errors,
}

async fn load(
    state: &AppState,
    admin: &CurrentAdmin,
    id: EmployeeId,
) -> Result<Employee, AppError> {
    let org = admin.organization_id.clone();
    state
        .read(move |conn| Employee::find(conn, &org, &id))
        .await?
        .ok_or(AppError::NotFound)
}

/// `GET /staff/{id}/edit`.
pub async fn staff_edit_form(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<EmployeeId>,
) -> Result<HttpResponse, AppError> {
    let employee = load(&state, &admin, path.into_inner()).await?;
    let form = EmployeeForm {
        name: employee.name.clone(),
        email: employee.email.clone(),
    };
    page::ok(&EditPage {
        layout: Layout::new(&session, Some(&admin), Nav::Staff, "Edit employee")?,
        employee,
        form,
        errors: Errors::default(),
    })
}

/// `POST /staff/{id}/edit`.
pub async fn staff_update(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<EmployeeId>,
    Form(form): Form<EmployeeForm>,
) -> Result<HttpResponse, AppError> {
    let employee = load(&state, &admin, path.into_inner()).await?;
    let rerender = |form, errors| -> Result<HttpResponse, AppError> {
        page::render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &EditPage {
                layout: Layout::new(&session, Some(&admin), Nav::Staff, "Edit employee")?,
                employee: employee.clone(),
                form,
                errors,
            },
        )
    };
    let (name, email) = match parse(&form) {
        Ok(parsed) => parsed,
        Err(errors) => return rerender(form, errors),
    };
    let (org, actor, id) = (
        admin.organization_id.clone(),
        admin.actor(),
        employee.id.clone(),
    );
    match state
        .op(move |conn| services::staff::edit(conn, &org, &actor, &id, &name, &email))
        .await
    {
        Ok(()) => {
            page::flash(&session, "success", "The employee was saved.");
            Ok(page::see_other("/staff"))
        }
        Err(e @ OpError::Invalid { .. }) => rerender(
            form,
            Errors {
                email: Some(e.to_string()),
                ..Errors::default()
            },
        ),
        Err(e) => Err(e.into()),
    }
}

/// `POST /staff/{id}/left` and `/back`.
pub async fn staff_set_active(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(EmployeeId, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, verb) = path.into_inner();
    let active = match verb.as_str() {
        "back" => true,
        "left" => false,
        _ => return Err(AppError::NotFound),
    };
    let (org, actor) = (admin.organization_id.clone(), admin.actor());
    let e = state
        .op(move |conn| services::staff::set_active(conn, &org, &actor, &id, active))
        .await?;
    let message = if active {
        format!("{} is back on the staff.", e.name)
    } else {
        format!("{} is marked as left: no more alerts.", e.name)
    };
    page::flash(&session, "success", message);
    Ok(page::see_other("/staff"))
}

/// `POST /staff/{id}/invitation` and `/password-reset`: emails the employee a
/// one-time link to set a password (a reset also ends the current password
/// and every token at once).
pub async fn staff_send_link(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(EmployeeId, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, verb) = path.into_inner();
    crate::routes::users::send_link_action(
        &session,
        &state,
        &admin,
        UserRef::Employee(id),
        &verb,
        "/staff",
    )
    .await
}

/// `GET /staff/{id}/sessions`: the employee's live sign-ins through apps.
pub async fn staff_sessions(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<EmployeeId>,
) -> Result<HttpResponse, AppError> {
    crate::routes::users::sessions_page(
        &session,
        &state,
        &admin,
        UserRef::Employee(path.into_inner()),
    )
    .await
}

/// `POST /staff/{id}/sessions/{session}/revoke`.
pub async fn staff_session_revoke(
    session: Session,
    state: web::Data<AppState>,
    admin: FullAdmin,
    path: web::Path<(EmployeeId, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, family) = path.into_inner();
    crate::routes::users::revoke_session_action(
        &session,
        &state,
        &admin,
        UserRef::Employee(id),
        family,
    )
    .await
}
