//! The audit trail page.

use actix_session::Session;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::auth::CurrentAdmin;
use crate::db::DbError;
use crate::db::models::AuditEvent;
use crate::error::AppError;
use crate::routes::page::{self, Layout, Nav};
use crate::startup::AppState;

/// One row as shown.
#[derive(Debug)]
struct Row {
    when: String,
    actor: String,
    action: String,
    target: String,
    ip: String,
    changes: String,
}

#[derive(Template)]
#[template(path = "audit/index.html")]
struct AuditPage {
    layout: Layout,
    rows: Vec<Row>,
}

/// `GET /audit`: the newest records first.
pub async fn audit_index(
    session: Session,
    state: web::Data<AppState>,
    admin: CurrentAdmin,
) -> Result<HttpResponse, AppError> {
    let org_id = state.organization_id.clone();
    let events = state
        .db
        .run(move |conn| AuditEvent::list_recent(conn, &org_id, 100).map_err(DbError::from))
        .await?;
    let rows = events
        .into_iter()
        .map(|e| Row {
            when: crate::routes::fmt::timestamp(e.occurred_at),
            actor: e.actor_label.clone(),
            action: e
                .action()
                .map_or_else(|| e.action.clone(), |a| a.label().to_owned()),
            target: e.target_label.clone().unwrap_or_default(),
            ip: e.ip.clone().unwrap_or_default(),
            changes: if e.changes == "{}" {
                String::new()
            } else {
                e.changes.clone()
            },
        })
        .collect();
    page::ok(&AuditPage {
        layout: Layout::new(&session, Some(&admin), Nav::Audit, "Audit")?,
        rows,
    })
}
