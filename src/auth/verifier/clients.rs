//! Apps authenticating as OAuth clients with their Application ID and Secret
//! (RFC 6749 §2.3.1): at the token, revocation and introspection endpoints.
//!
//! A secret is an argon2id hash in the database, which costs tens of
//! milliseconds to check: a refresh or an introspection cannot pay that each
//! time. So a secret checked once is remembered as its keyed digest beside
//! the app row it was checked against, until the change feed names the app
//! or its organization. Then the app
//! row is read again, and the remembered digest still vouches for the secret
//! if the app's secret was not regenerated since; only a new secret, or a
//! wrong one, costs argon2 again. An unknown client is checked against a dummy
//! hash, so it costs what a wrong secret costs.

use std::sync::Arc;

use super::cache::{Cache, Stamp};
use crate::clock::Timestamp;
use crate::db::models::{App, ChangeKind};
use crate::db::{Db, DbError};
use crate::domain::AppId;
use crate::secrets::{DigestKey, constant_time_eq};

/// An app whose secret was checked, as remembered.
#[derive(Debug)]
pub struct Client {
    /// The app row, as read when the secret was last vouched for.
    pub app: Arc<App>,
    secret_digest: [u8; 32],
    secret_generated_at: Option<Timestamp>,
    /// When the app row was read: it is read again once the change feed
    /// names the app or its organization.
    stamp: Stamp,
}

/// Why a client was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientDenial {
    /// Unknown client, or a wrong secret (which of the two is not said).
    Invalid,
    /// Every hashing slot is busy: retry in a moment.
    Busy,
    /// The database cannot be reached.
    Unavailable,
}

/// The remembered clients, by Application ID.
pub struct Clients {
    verified: quick_cache::sync::Cache<AppId, Arc<Client>>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("remembered", &self.verified.len())
            .finish()
    }
}

/// The keyed digest a client secret is remembered by (its own purpose, so it
/// can never be mistaken for a key's or a token's digest).
fn secret_digest(key: &DigestKey, client_id: &str, secret: &str) -> [u8; 32] {
    key.digest_bytes(&format!("client-secret\u{0}{client_id}\u{0}{secret}"))
}

/// Whether `s` can be an Application ID at all.
fn plausible_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic())
}

impl Clients {
    /// None yet, room for `capacity` apps.
    pub fn new(capacity: usize) -> Self {
        Self {
            verified: quick_cache::sync::Cache::new(capacity),
        }
    }

    /// The app of `client_id` if `secret` is its secret. `cache` says whether
    /// a remembered app row is still fresh; `check` runs argon2 (against the
    /// dummy hash for `None`).
    pub async fn authenticate<F, Fut>(
        &self,
        db: &Db,
        digest_key: &DigestKey,
        cache: &Cache,
        client_id: &str,
        secret: &str,
        check: F,
    ) -> Result<Arc<App>, ClientDenial>
    where
        F: FnOnce(Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<bool, ClientDenial>>,
    {
        let digest = secret_digest(digest_key, client_id, secret);
        let id = AppId::from(client_id);
        let remembered = self.verified.get(&id);
        if cache.trusted()
            && let Some(client) = &remembered
            && cache.fresh(&client.stamp)
            && constant_time_eq(&client.secret_digest, &digest)
        {
            return Ok(Arc::clone(&client.app));
        }
        let start = cache.read_start();
        let app = if plausible_id(client_id) {
            let id = id.clone();
            db.run(move |conn| App::find_by_id(conn, &id).map_err(DbError::from))
                .await
                .map_err(|_| ClientDenial::Unavailable)?
        } else {
            None
        };
        let Some(app) = app else {
            // Unknown: the cost of a wrong secret, and the same answer.
            let _ = check(None).await?;
            return Err(ClientDenial::Invalid);
        };
        let vouched = remembered.is_some_and(|client| {
            client.secret_generated_at == app.secret_generated_at
                && app.secret_hash.is_some()
                && constant_time_eq(&client.secret_digest, &digest)
        });
        if !vouched && !check(app.secret_hash.clone()).await? {
            return Err(ClientDenial::Invalid);
        }
        let stamp = cache.stamp(
            start,
            [
                (ChangeKind::Organization, app.organization_id.as_str()),
                (ChangeKind::App, app.id.as_str()),
                (ChangeKind::App, app.id.as_str()),
            ],
        );
        let client = Arc::new(Client {
            stamp,
            secret_generated_at: app.secret_generated_at,
            app: Arc::new(app),
            secret_digest: digest,
        });
        self.verified.insert(id, Arc::clone(&client));
        Ok(Arc::clone(&client.app))
    }
}
