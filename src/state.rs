//! What every request handler shares: the settings, the database and the two
//! runners through which handlers reach it, the hasher, the keys, the credential
//! check and the mailer. Built once by `startup`; nothing here knows the routes.
//!
//! Handlers never open a transaction or a connection themselves: they call
//! [`AppState::read`] for a read and [`AppState::op`] for a state change (a
//! `services` function, its audit record included, committed as one).

use std::sync::Arc;

use diesel::QueryResult;

use crate::auth::{PasswordHasher, Verifier};
use crate::config::Settings;
use crate::db::{Db, DbConn, DbError, write_tx};
use crate::email::Mailer;
use crate::jwt::Signers;
use crate::secrets::{DigestKey, KeyFileError, MasterKey, SealingKey};
use crate::services::tokens::Issuer;
use crate::services::{self, OpError};

/// Shared by every handler, behind `web::Data`.
#[derive(Debug)]
pub struct AppState {
    /// The settings the server started with.
    pub settings: Arc<Settings>,
    /// The database; handlers go through [`AppState::read`] and [`AppState::op`].
    pub db: Db,
    /// Argon2 for passwords and app secrets.
    pub hasher: PasswordHasher,
    /// The master key, for the keys derived from it.
    pub master_key: Arc<MasterKey>,
    /// Keys the digests of API key secrets.
    pub digest_key: DigestKey,
    /// Seals what the database keeps encrypted (token signing keys).
    pub sealing_key: SealingKey,
    /// The token signing keys opened so far.
    pub signers: Signers,
    /// The credential check of `/api`.
    pub verifier: Arc<Verifier>,
    /// Sends emails (SMTP or the outbox folder).
    pub mailer: Arc<Mailer>,
    /// Names this instance in the alert ledger's claims.
    pub instance_id: String,
    /// How many refused requests of one address are audited a minute.
    pub refusals: crate::telemetry::Limiter,
    /// The server's own issuer: the public URL without a trailing slash. Each
    /// organization's is derived from it (`Organization::issuer`).
    pub issuer: String,
    /// The operators' metrics, kept when `KEYWARD_METRICS_BIND` is set.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// The client webhooks are sent with (and their URLs checked by).
    pub outbound: crate::outbound::Outbound,
    /// Wakes this instance's webhook delivery job when a change queued one.
    pub webhook_wake: Arc<tokio::sync::Notify>,
    /// The WebAuthn relying party for admins' passkeys, when the public URL
    /// names a domain.
    pub passkeys: Option<Passkeys>,
}

/// The WebAuthn relying party.
pub struct Passkeys(pub webauthn_rs::Webauthn);

impl std::fmt::Debug for Passkeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passkeys(…)")
    }
}

impl AppState {
    /// Runs a state change (a `services` function) in one write transaction;
    /// after it commits, if it appended to the change feed, this instance
    /// reads the feed at once (others within a poll), and if it queued a
    /// webhook, the delivery job
    /// is woken.
    pub async fn op<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConn) -> Result<T, OpError> + Send + 'static,
    ) -> Result<T, OpError> {
        let (value, moved, queued) = self
            .db
            .run(move |conn| {
                services::take_moved();
                services::webhooks::take_queued();
                write_tx(conn, f).map(|value| {
                    (
                        value,
                        services::take_moved(),
                        services::webhooks::take_queued(),
                    )
                })
            })
            .await?;
        if moved {
            self.verifier.refresh().await;
        }
        if queued {
            self.webhook_wake.notify_one();
        }
        Ok(value)
    }

    /// What issuing access tokens needs: the signing keys, the sealing and
    /// digest keys, and the public URL each organization's issuer is under.
    pub fn token_issuer(&self) -> Issuer<'_> {
        Issuer {
            signers: &self.signers,
            sealing: &self.sealing_key,
            digest_key: &self.digest_key,
            public: &self.issuer,
        }
    }

    /// Runs a short read (one bounded page, or one row by its key) at once
    /// where the backend allows it: see [`crate::db::Db::run_short`].
    pub async fn read_short<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConn) -> QueryResult<T> + Send + 'static,
    ) -> Result<T, DbError> {
        self.db
            .run_short(move |conn| f(conn).map_err(DbError::from))
            .await
    }

    /// Runs a read (model functions) on a pooled connection, off the async workers.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConn) -> QueryResult<T> + Send + 'static,
    ) -> Result<T, DbError> {
        self.db
            .run(move |conn| f(conn).map_err(DbError::from))
            .await
    }
}

/// Opening the database or the master key failed; the message is for the operator.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The secret key file.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// The database.
    #[error(transparent)]
    Database(#[from] crate::db::SetupError),
    /// The blocking task that opened the database did not finish.
    #[error("opening the database failed: {0}")]
    Task(String),
}

/// Opens the database (migrated) and the master key: what every command needs.
pub async fn open(settings: &Settings) -> Result<(Db, MasterKey), OpenError> {
    let master_key = match settings.secret_key_bytes() {
        Some(bytes) => MasterKey::from_bytes(bytes),
        None => {
            if settings.database_url.backend() == "postgres" {
                tracing::warn!(
                    "KEYWARD_SECRET_KEY is not set: this instance keeps its own key in the data folder; \
                     several instances sharing one database must share one KEYWARD_SECRET_KEY"
                );
            }
            MasterKey::load_or_create(&settings.secret_key_file())?
        }
    };
    let (url, size) = (settings.database_url.clone(), settings.pool_size);
    let db = tokio::task::spawn_blocking(move || Db::open(&url, size))
        .await
        .map_err(|e| OpenError::Task(e.to_string()))??;
    Ok((db, master_key))
}
