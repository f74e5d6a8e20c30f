//! The keys that sign access tokens: one per organization signs; rotation
//! makes a new one and keeps the old one published until the last token it
//! signed has expired. Private keys are sealed under the server's secret key,
//! so every instance that shares the database and the secret key signs with
//! the same key, and a database dump alone cannot forge a token.

use serde_json::json;

use super::{OpError, audit};
use crate::clock::{self, Timestamp};
use crate::db::DbConn;
use crate::db::models::token::SigningKey;
use crate::db::models::{Action, Actor, Organization, Target};
use crate::domain::OrgId;
use crate::jwt;
use crate::secrets::SealingKey;

/// The time a retired key stays published beyond its last token's lifetime:
/// room for clocks that differ and for verifiers that cache the JWKS.
pub const PUBLISH_MARGIN: time::Duration = time::Duration::minutes(5);

fn new_key(sealing: &SealingKey, org: &Organization, now: Timestamp) -> SigningKey {
    let (kid, public_key, private_key_sealed) = jwt::generate_key(sealing);
    SigningKey {
        kid,
        organization_id: org.id.clone(),
        algorithm: jwt::ALGORITHM.to_owned(),
        public_key,
        private_key_sealed,
        created_at: now,
        retired_at: None,
        published_until: None,
        max_token_minutes: org.access_token_minutes,
    }
}

fn target(org: &Organization, key: &SigningKey) -> Target {
    Target::new(
        "signing_key",
        &key.kid,
        format!("{} token signing key", org.name),
    )
}

/// The organization's signing key, made now if it has none (at first start).
pub fn ensure(conn: &mut DbConn, org: &OrgId, sealing: &SealingKey) -> Result<SigningKey, OpError> {
    if let Some(key) = SigningKey::active(conn, org)? {
        return Ok(key);
    }
    let organization = Organization::find_by_id(conn, org)?;
    let key = new_key(sealing, &organization, clock::now());
    SigningKey::insert(conn, &key)?;
    audit(
        conn,
        org,
        &Actor::system("system"),
        Action::SigningKeyCreated,
        target(&organization, &key),
        json!({ "kid": key.kid, "algorithm": key.algorithm }),
    )?;
    Ok(key)
}

/// Replaces the organization's signing key: the new one signs from now on;
/// the old one stays published until every token it signed has expired.
pub fn rotate(
    conn: &mut DbConn,
    org: &OrgId,
    actor: &Actor,
    sealing: &SealingKey,
) -> Result<SigningKey, OpError> {
    let organization = Organization::find_by_id(conn, org)?;
    let now = clock::now();
    let old = SigningKey::active(conn, org)?;
    // Every token the old key signed has expired once the longest lifetime
    // in force while it signed has passed.
    let longest = old.as_ref().map_or(organization.access_token_minutes, |k| {
        k.max_token_minutes.max(organization.access_token_minutes)
    });
    let until = now + time::Duration::minutes(i64::from(longest)) + PUBLISH_MARGIN;
    SigningKey::retire_active(conn, org, now, until)?;
    let key = new_key(sealing, &organization, now);
    SigningKey::insert(conn, &key)?;
    audit(
        conn,
        org,
        actor,
        Action::SigningKeyRotated,
        target(&organization, &key),
        json!({
            "kid": { "from": old.map(|k| k.kid), "to": key.kid },
            "previous_published_until": clock::fmt::timestamp(until),
        }),
    )?;
    Ok(key)
}

/// Changes how long the organization's tokens live. The signing key notes a
/// longer access token lifetime, so its retirement waits for those tokens.
pub fn update_lifetimes(
    conn: &mut DbConn,
    org: &OrgId,
    actor: &Actor,
    lifetimes: &crate::domain::settings::TokenLifetimes,
) -> Result<bool, OpError> {
    let organization = Organization::find_by_id(conn, org)?;
    let diff = super::Diff::default()
        .field(
            "access_token_minutes",
            organization.access_token_minutes,
            lifetimes.access_minutes,
        )
        .field(
            "refresh_token_days",
            organization.refresh_token_days,
            lifetimes.refresh_days,
        )
        .field(
            "refresh_idle_days",
            organization.refresh_idle_days,
            lifetimes.idle_days,
        )
        .field(
            "refresh_grace_seconds",
            organization.refresh_grace_seconds,
            lifetimes.grace_seconds,
        );
    if diff.is_empty() {
        return Ok(false);
    }
    Organization::update_token_lifetimes(conn, org, lifetimes, clock::now())?;
    SigningKey::note_lifetime(conn, org, lifetimes.access_minutes)?;
    audit(
        conn,
        org,
        actor,
        Action::TokenLifetimesChanged,
        Target::new("organization", &organization.id, organization.name.clone()),
        diff.into_value(),
    )?;
    Ok(true)
}
