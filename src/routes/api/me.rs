//! `/api/v1/users/me/…`: what a signed-in user does for themselves with their
//! access token: change their password.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::JsonApiBody;
use super::error::ApiError;
use crate::auth::password::HashError;
use crate::auth::verifier::Principal;
use crate::clock;
use crate::db::models::{Actor, UserCredential};
use crate::domain::{EmailAddress, Password};
use crate::routes::extract;
use crate::services::sign_in::{Account, Verdict};
use crate::services::{self, OpError};
use crate::state::AppState;

/// The string member `name` of the body, required.
fn member(body: &Value, name: &str) -> Result<SecretString, ApiError> {
    match body.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(SecretString::from(s.clone())),
        Some(Value::String(_)) | None => Err(ApiError::validation(vec![(
            format!("/{name}"),
            format!("{name} is required."),
        )])),
        Some(_) => Err(ApiError::validation(vec![(
            format!("/{name}"),
            format!("{name} must be a string."),
        )])),
    }
}

fn busy() -> ApiError {
    ApiError::unavailable()
}

/// `POST /api/v1/users/me/password` with `Authorization: Bearer <access
/// token>` and `{"current_password": …, "new_password": …}`: the user's new
/// password, under the same rules as every password; every other sign-in of
/// theirs ends (this one goes on). The current password is checked like a
/// sign-in: counted by the throttle first, with one answer for any mistake.
/// 204 when done.
pub async fn password_change(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonApiBody,
) -> Result<HttpResponse, ApiError> {
    let grant = super::authorize(&req, &state, None).await?.grant;
    let (Some(user), Principal::User { family_id, .. }) = (grant.user(), &grant.principal) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "user_token_required",
            "User token required",
            "Send the access token of the user whose password this is, not an API key.",
        ));
    };
    if !body.0.is_object() {
        return Err(ApiError::validation(vec![(
            String::new(),
            "The body must be a JSON object.".to_owned(),
        )]));
    }
    let current = member(&body.0, "current_password")?;
    let new = member(&body.0, "new_password")?;
    let org = grant.organization_id.clone();
    let (o, u) = (org.clone(), user.clone());
    let recipient = state
        .read(move |conn| {
            Ok(match services::users::recipient(conn, &o, &u) {
                Ok(r) => Some(r),
                Err(OpError::Db(crate::db::DbError::Query(e))) => return Err(e),
                Err(_) => None,
            })
        })
        .await?
        // Gone since the token was cached: as good as revoked.
        .ok_or(crate::auth::Denial::TokenRevoked)?;
    let new = Password::parse_for(new, &[recipient.email.as_str(), recipient.name.as_str()])
        .map_err(|e| ApiError::validation(vec![("/new_password".to_owned(), e.to_string())]))?;
    let Ok(email) = EmailAddress::parse(&recipient.email) else {
        return Err(crate::auth::Denial::TokenRevoked.into());
    };
    let account = Account::User {
        org: org.clone(),
        user_type: user.user_type(),
        email,
        app_id: Some(grant.app_id.clone()),
    };
    let actor = Actor {
        label: format!("{} {}", user.user_type().as_str(), recipient.email),
        ..extract::actor(&req, None, "")
    };
    let mut slot = state.hasher.sign_in_slot().await.map_err(|_| busy())?;
    let (a, who, ip) = (account.clone(), actor.clone(), actor.ip.clone());
    let verdict = state
        .op(move |conn| services::sign_in::reserve(conn, a, ip.as_deref(), &who, clock::now()))
        .await?;
    if let Verdict::Wait(seconds) = verdict {
        return Err(too_many(seconds));
    }
    let (o, u) = (org.clone(), user.clone());
    let stored = state
        .read(move |conn| UserCredential::find(conn, &o, &u))
        .await?
        .and_then(|c| c.password_hash);
    let checked = slot
        .check(current.expose_secret(), stored)
        .await
        .map_err(hash_failed)?;
    if verdict == Verdict::Locked || !checked.matches {
        drop(slot);
        state
            .op(move |conn| services::sign_in::failed(conn, account, &actor, clock::now()))
            .await?;
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "current_password_incorrect",
            "Invalid attribute",
            "The current password is incorrect.",
        )
        .at_pointer("/current_password"));
    }
    let hash = slot.hash(new.expose()).await.map_err(hash_failed)?;
    drop(slot);
    let (user, current_family) = (user.clone(), family_id.clone());
    state
        .op(move |conn| {
            let now = clock::now();
            services::sign_in::succeeded(conn, account, actor.ip.as_deref(), &actor, now)?;
            services::users::change_password(conn, &org, &user, &current_family, &hash, &actor)
        })
        .await?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

fn too_many(seconds: i64) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_failures",
        "Too many failed attempts",
        format!("Too many wrong passwords. Wait {seconds} seconds, then try again."),
    )
    .with_retry_after(u64::try_from(seconds).unwrap_or(60))
}

fn hash_failed(e: HashError) -> ApiError {
    match e {
        HashError::Busy => busy(),
        HashError::Failed(why) => OpError::Internal(why).into(),
    }
}
