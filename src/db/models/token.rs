//! What access and refresh tokens rest on: the signing keys, the sign-ins
//! (token families), their refresh tokens and the access tokens revoked one by one.

use diesel::prelude::*;

use crate::clock::Timestamp;
use crate::db::DbConn;
use crate::db::schema::{
    organizations, refresh_tokens, revoked_access_tokens, signing_keys, token_families,
};
use crate::domain::{AppId, OrgId};

/// A key that signs access tokens.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct SigningKey {
    /// The key id, the JWS `kid`.
    pub kid: String,
    pub organization_id: OrgId,
    /// `EdDSA`.
    pub algorithm: String,
    /// base64url of the Ed25519 public key (the JWK's `x`).
    pub public_key: String,
    /// The private key, sealed under the server's secret key.
    pub private_key_sealed: String,
    pub created_at: Timestamp,
    /// When it stopped signing; `None` for the key that signs.
    pub retired_at: Option<Timestamp>,
    /// Until when a retired key stays published.
    pub published_until: Option<Timestamp>,
    /// The longest access token lifetime in force while it signed, in minutes.
    pub max_token_minutes: i32,
}

impl SigningKey {
    /// The organization's key that signs now.
    pub fn active(conn: &mut DbConn, org: &OrgId) -> QueryResult<Option<Self>> {
        signing_keys::table
            .filter(signing_keys::organization_id.eq(org))
            .filter(signing_keys::retired_at.is_null())
            .order(signing_keys::created_at.desc())
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Every key to publish at `now`: the active ones and the retired ones whose
    /// tokens may still be in use, of every organization.
    pub fn published(conn: &mut DbConn, now: Timestamp) -> QueryResult<Vec<Self>> {
        signing_keys::table
            .filter(
                signing_keys::retired_at
                    .is_null()
                    .or(signing_keys::published_until.gt(now)),
            )
            .order((signing_keys::created_at.asc(), signing_keys::kid.asc()))
            .select(Self::as_select())
            .load(conn)
    }

    /// The [published](Self::published) keys of every organization, each
    /// with its organization's issuer under the `public` URL, as the set that
    /// verifies tokens: a token is checked against the issuer of the
    /// organization whose key signed it.
    pub fn public_keys(
        conn: &mut DbConn,
        now: Timestamp,
        public: &str,
    ) -> QueryResult<crate::jwt::PublicKeys> {
        let rows: Vec<(String, OrgId, String, String, bool)> = signing_keys::table
            .inner_join(organizations::table)
            .filter(
                signing_keys::retired_at
                    .is_null()
                    .or(signing_keys::published_until.gt(now)),
            )
            .select((
                signing_keys::kid,
                signing_keys::organization_id,
                signing_keys::public_key,
                organizations::slug,
                organizations::root_issuer,
            ))
            .load(conn)?;
        Ok(crate::jwt::PublicKeys::new(rows.iter().map(
            |(kid, org, x, slug, root)| {
                let issuer = crate::domain::tenant::issuer(public, slug, *root);
                (kid.as_str(), org.as_str(), issuer, x.as_str())
            },
        )))
    }

    /// The published keys of one organization, for its own key set.
    pub fn published_of(conn: &mut DbConn, org: &OrgId, now: Timestamp) -> QueryResult<Vec<Self>> {
        signing_keys::table
            .filter(signing_keys::organization_id.eq(org))
            .filter(
                signing_keys::retired_at
                    .is_null()
                    .or(signing_keys::published_until.gt(now)),
            )
            .order((signing_keys::created_at.asc(), signing_keys::kid.asc()))
            .select(Self::as_select())
            .load(conn)
    }

    /// Stores a new key.
    pub fn insert(conn: &mut DbConn, key: &Self) -> QueryResult<()> {
        diesel::insert_into(signing_keys::table)
            .values(key)
            .execute(conn)
            .map(|_| ())
    }

    /// Notes a new access token lifetime on the organization's signing key:
    /// it keeps the longest.
    pub fn note_lifetime(conn: &mut DbConn, org: &OrgId, minutes: i32) -> QueryResult<()> {
        diesel::update(
            signing_keys::table
                .filter(signing_keys::organization_id.eq(org))
                .filter(signing_keys::retired_at.is_null())
                .filter(signing_keys::max_token_minutes.lt(minutes)),
        )
        .set(signing_keys::max_token_minutes.eq(minutes))
        .execute(conn)
        .map(|_| ())
    }

    /// Retires the organization's active keys: published until `until`.
    pub fn retire_active(
        conn: &mut DbConn,
        org: &OrgId,
        now: Timestamp,
        until: Timestamp,
    ) -> QueryResult<usize> {
        diesel::update(
            signing_keys::table
                .filter(signing_keys::organization_id.eq(org))
                .filter(signing_keys::retired_at.is_null()),
        )
        .set((
            signing_keys::retired_at.eq(now),
            signing_keys::published_until.eq(until),
        ))
        .execute(conn)
    }
}

/// One sign-in of a user through an app.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = token_families)]
pub struct TokenFamily {
    pub id: String,
    pub organization_id: OrgId,
    pub app_id: AppId,
    /// `employee:<id>` or `guest:<id>`.
    pub subject: String,
    /// The permissions granted, space-separated.
    pub scope: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: Timestamp,
    pub last_used_at: Timestamp,
    /// The absolute end of its refresh tokens.
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    /// Why: `revoked`, `reuse_detected`, `password_changed`, `user_left`…
    pub revoked_reason: Option<String>,
    /// The hosted session it came through (the authorization code flow).
    pub hosted_session_id: Option<String>,
}

impl TokenFamily {
    /// Stores a new family.
    pub fn insert(conn: &mut DbConn, family: &Self) -> QueryResult<()> {
        diesel::insert_into(token_families::table)
            .values(family)
            .execute(conn)
            .map(|_| ())
    }

    /// One family by id.
    pub fn find(conn: &mut DbConn, id: &str) -> QueryResult<Option<Self>> {
        token_families::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Marks the family used now.
    pub fn touch(conn: &mut DbConn, id: &str, now: Timestamp) -> QueryResult<()> {
        diesel::update(token_families::table.find(id))
            .set(token_families::last_used_at.eq(now))
            .execute(conn)
            .map(|_| ())
    }

    /// Revokes one family (if it is not already): true if it was live.
    pub fn revoke(conn: &mut DbConn, id: &str, reason: &str, now: Timestamp) -> QueryResult<bool> {
        diesel::update(
            token_families::table
                .find(id)
                .filter(token_families::revoked_at.is_null()),
        )
        .set((
            token_families::revoked_at.eq(now),
            token_families::revoked_reason.eq(reason),
        ))
        .execute(conn)
        .map(|n| n == 1)
    }

    /// Revokes every live family that came through a hosted session: how many.
    pub fn revoke_hosted_session(
        conn: &mut DbConn,
        session_id: &str,
        reason: &str,
        now: Timestamp,
    ) -> QueryResult<usize> {
        diesel::update(
            token_families::table
                .filter(token_families::hosted_session_id.eq(session_id))
                .filter(token_families::revoked_at.is_null()),
        )
        .set((
            token_families::revoked_at.eq(now),
            token_families::revoked_reason.eq(reason),
        ))
        .execute(conn)
    }

    /// Revokes every live family of a user: how many.
    pub fn revoke_subject(
        conn: &mut DbConn,
        subject: &str,
        reason: &str,
        now: Timestamp,
    ) -> QueryResult<usize> {
        diesel::update(
            token_families::table
                .filter(token_families::subject.eq(subject))
                .filter(token_families::revoked_at.is_null()),
        )
        .set((
            token_families::revoked_at.eq(now),
            token_families::revoked_reason.eq(reason),
        ))
        .execute(conn)
    }

    /// Revokes every live family of a user but `except` (the sign-in that
    /// asked): how many.
    pub fn revoke_subject_except(
        conn: &mut DbConn,
        subject: &str,
        except: &str,
        reason: &str,
        now: Timestamp,
    ) -> QueryResult<usize> {
        diesel::update(
            token_families::table
                .filter(token_families::subject.eq(subject))
                .filter(token_families::id.ne(except))
                .filter(token_families::revoked_at.is_null()),
        )
        .set((
            token_families::revoked_at.eq(now),
            token_families::revoked_reason.eq(reason),
        ))
        .execute(conn)
    }

    /// Revokes every live family of an app: how many.
    pub fn revoke_app(
        conn: &mut DbConn,
        app_id: &AppId,
        reason: &str,
        now: Timestamp,
    ) -> QueryResult<usize> {
        diesel::update(
            token_families::table
                .filter(token_families::app_id.eq(app_id))
                .filter(token_families::revoked_at.is_null()),
        )
        .set((
            token_families::revoked_at.eq(now),
            token_families::revoked_reason.eq(reason),
        ))
        .execute(conn)
    }

    /// An app's sign-ins, newest first.
    pub fn recent_of_app(
        conn: &mut DbConn,
        org: &OrgId,
        app_id: &AppId,
        limit: i64,
    ) -> QueryResult<Vec<Self>> {
        token_families::table
            .filter(token_families::organization_id.eq(org))
            .filter(token_families::app_id.eq(app_id))
            .order((token_families::created_at.desc(), token_families::id.desc()))
            .limit(limit)
            .select(Self::as_select())
            .load(conn)
    }

    /// Deletes an app's families and their refresh tokens (the app is deleted).
    pub fn delete_of_app(conn: &mut DbConn, app_id: &AppId) -> QueryResult<usize> {
        let ids = token_families::table
            .filter(token_families::app_id.eq(app_id))
            .select(token_families::id);
        diesel::delete(refresh_tokens::table.filter(refresh_tokens::family_id.eq_any(ids)))
            .execute(conn)?;
        diesel::delete(token_families::table.filter(token_families::app_id.eq(app_id)))
            .execute(conn)
    }

    /// Forgets the families that ended before `before` (expired or revoked),
    /// with their refresh tokens: how many.
    pub fn delete_ended(conn: &mut DbConn, before: Timestamp) -> QueryResult<usize> {
        let ended = token_families::table
            .filter(
                token_families::expires_at
                    .lt(before)
                    .or(token_families::revoked_at.lt(before)),
            )
            .select(token_families::id);
        diesel::delete(refresh_tokens::table.filter(refresh_tokens::family_id.eq_any(ended)))
            .execute(conn)?;
        diesel::delete(
            token_families::table.filter(
                token_families::expires_at
                    .lt(before)
                    .or(token_families::revoked_at.lt(before)),
            ),
        )
        .execute(conn)
    }

    /// A user's live sign-ins, newest first.
    pub fn live_of_subject(
        conn: &mut DbConn,
        org: &OrgId,
        subject: &str,
        now: Timestamp,
    ) -> QueryResult<Vec<Self>> {
        token_families::table
            .filter(token_families::organization_id.eq(org))
            .filter(token_families::subject.eq(subject))
            .filter(token_families::revoked_at.is_null())
            .filter(token_families::expires_at.gt(now))
            .order(token_families::last_used_at.desc())
            .select(Self::as_select())
            .load(conn)
    }
}

/// A refresh token as stored: its keyed digest.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub public_id: String,
    pub family_id: String,
    /// Hex HMAC-SHA-256 of the secret.
    pub digest: String,
    pub created_at: Timestamp,
    /// Unused until then, it expires.
    pub idle_expires_at: Timestamp,
    /// When it was exchanged for a new pair.
    pub rotated_at: Option<Timestamp>,
    /// The pair it was exchanged for, sealed; kept during the grace only.
    pub successor_sealed: Option<String>,
}

impl RefreshToken {
    /// Stores a new token.
    pub fn insert(conn: &mut DbConn, token: &Self) -> QueryResult<()> {
        diesel::insert_into(refresh_tokens::table)
            .values(token)
            .execute(conn)
            .map(|_| ())
    }

    /// One token by public id.
    pub fn find(conn: &mut DbConn, public_id: &str) -> QueryResult<Option<Self>> {
        refresh_tokens::table
            .find(public_id)
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// Marks a live token rotated, keeping the sealed successor: false if it
    /// was rotated already (a concurrent refresh won).
    pub fn rotate(
        conn: &mut DbConn,
        public_id: &str,
        successor_sealed: &str,
        now: Timestamp,
    ) -> QueryResult<bool> {
        diesel::update(
            refresh_tokens::table
                .find(public_id)
                .filter(refresh_tokens::rotated_at.is_null()),
        )
        .set((
            refresh_tokens::rotated_at.eq(now),
            refresh_tokens::successor_sealed.eq(successor_sealed),
        ))
        .execute(conn)
        .map(|n| n == 1)
    }

    /// Forgets the sealed successors whose grace has passed.
    pub fn forget_successors(conn: &mut DbConn, rotated_before: Timestamp) -> QueryResult<usize> {
        diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::successor_sealed.is_not_null())
                .filter(refresh_tokens::rotated_at.lt(rotated_before)),
        )
        .set(refresh_tokens::successor_sealed.eq(None::<String>))
        .execute(conn)
    }
}

/// Blocks an access token by its `jti` until it expires.
pub fn revoke_access_token(
    conn: &mut DbConn,
    org: &OrgId,
    jti: &str,
    expires_at: Timestamp,
) -> QueryResult<()> {
    let exists: bool = diesel::select(diesel::dsl::exists(revoked_access_tokens::table.find(jti)))
        .get_result(conn)?;
    if !exists {
        diesel::insert_into(revoked_access_tokens::table)
            .values((
                revoked_access_tokens::jti.eq(jti),
                revoked_access_tokens::organization_id.eq(org),
                revoked_access_tokens::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Forgets the revocations of access tokens that have expired anyway.
pub fn forget_expired_revocations(conn: &mut DbConn, now: Timestamp) -> QueryResult<usize> {
    diesel::delete(revoked_access_tokens::table.filter(revoked_access_tokens::expires_at.lt(now)))
        .execute(conn)
}

/// Whether an access token was revoked by its `jti`.
pub fn access_token_revoked(conn: &mut DbConn, jti: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(revoked_access_tokens::table.find(jti))).get_result(conn)
}
