//! The request log: the API requests of known keys and tokens that were
//! refused or failed, and a sample of the allowed ones. Written in batches by
//! the credential check's flush; never a query string, header value or secret.

use diesel::prelude::*;

use super::platform::{like_literal, lower};
use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::request_logs;
use crate::domain::usage::Outcome;
use crate::domain::{AppId, KeyId, OrgId};

/// One logged request.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = request_logs)]
pub struct RequestLog {
    /// UUIDv7.
    pub id: String,
    pub organization_id: OrgId,
    /// When the answer left.
    pub at: Timestamp,
    pub app_id: AppId,
    /// The key; none for an access token.
    pub key_id: Option<KeyId>,
    /// `api_key` or `access_token`.
    pub credential: String,
    pub method: String,
    /// The route pattern, e.g. `/api/v2/services/{id}`.
    pub route: String,
    pub status: i32,
    /// `allowed`, `401`, `402`, `403`, `429` or `5xx`.
    pub outcome: String,
    /// The API's error code, when refused (`key_expired`, say).
    pub error_code: Option<String>,
    /// The client address, as the check saw it.
    pub client: Option<String>,
    /// From the request's arrival to its answer, in microseconds.
    pub latency_us: i64,
    /// The id the answer's `X-Request-Id` and the server's log carry.
    pub request_id: String,
}

/// What a search of the log keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub key_id: Option<KeyId>,
    pub app_id: Option<AppId>,
    pub outcome: Option<Outcome>,
    /// From this instant.
    pub from: Option<Timestamp>,
    /// Before this instant.
    pub until: Option<Timestamp>,
    /// Text in the route, the error code, the client address or the
    /// request id, in any case.
    pub text: Option<String>,
}

impl RequestLog {
    /// Writes a batch of rows.
    pub fn insert_all(conn: &mut DbConn, rows: &[RequestLog]) -> QueryResult<()> {
        for row in rows {
            diesel::insert_into(request_logs::table)
                .values(row)
                .execute(conn)?;
        }
        Ok(())
    }

    /// Rows matching `filter`, newest first, older than the `before` cursor
    /// (`at`, `id`): keyset pagination, as fast on the last page as the first.
    pub fn search(
        conn: &mut DbConn,
        organization_id: &OrgId,
        filter: &LogFilter,
        before: Option<(Timestamp, &str)>,
        limit: i64,
    ) -> QueryResult<Vec<RequestLog>> {
        let mut query = request_logs::table
            .filter(request_logs::organization_id.eq(organization_id))
            .select(Self::as_select())
            .order((request_logs::at.desc(), request_logs::id.desc()))
            .limit(limit)
            .into_boxed::<crate::db::MultiBackend>();
        if let Some(key) = &filter.key_id {
            query = query.filter(request_logs::key_id.eq(key.clone()));
        }
        if let Some(app) = &filter.app_id {
            query = query.filter(request_logs::app_id.eq(app.clone()));
        }
        if let Some(outcome) = filter.outcome {
            query = query.filter(request_logs::outcome.eq(outcome.as_str()));
        }
        if let Some(from) = filter.from {
            query = query.filter(request_logs::at.ge(from));
        }
        if let Some(until) = filter.until {
            query = query.filter(request_logs::at.lt(until));
        }
        if let Some(text) = &filter.text {
            let pattern = format!("%{}%", like_literal(text));
            query = query.filter(
                lower(request_logs::route)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(request_logs::error_code.assume_not_null())
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(lower(request_logs::client.assume_not_null())
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(lower(request_logs::request_id).like(pattern).escape('\\')),
            );
        }
        if let Some((at, id)) = before {
            // The plain `<=` bound lets the index start at the cursor; the OR
            // then only breaks ties within the same instant.
            query = query.filter(request_logs::at.le(at)).filter(
                request_logs::at
                    .lt(at)
                    .or(request_logs::id.lt(id.to_owned())),
            );
        }
        query.load(conn)
    }

    /// Forgets the organization's rows from before `before`, then the oldest
    /// beyond the newest `max_rows`.
    pub fn prune(
        conn: &mut DbConn,
        organization_id: &OrgId,
        before: Timestamp,
        max_rows: i64,
    ) -> QueryResult<usize> {
        let old = diesel::delete(
            request_logs::table
                .filter(request_logs::organization_id.eq(organization_id))
                .filter(request_logs::at.lt(before)),
        )
        .execute(conn)?;
        // The row at the cap, if there are that many: it and every older one go.
        let cap: Option<(Timestamp, String)> = request_logs::table
            .filter(request_logs::organization_id.eq(organization_id))
            .order((request_logs::at.desc(), request_logs::id.desc()))
            .select((request_logs::at, request_logs::id))
            .offset(max_rows.max(0))
            .first(conn)
            .optional()?;
        let over = match cap {
            Some((at, id)) => diesel::delete(
                request_logs::table
                    .filter(request_logs::organization_id.eq(organization_id))
                    .filter(request_logs::at.le(at))
                    .filter(request_logs::at.lt(at).or(request_logs::id.le(id))),
            )
            .execute(conn)?,
            None => 0,
        };
        Ok(old + over)
    }
}
