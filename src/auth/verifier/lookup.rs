//! Finding a key in the database by its public id and checking its secret's
//! digest, in constant time.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use super::cache::{Entry, OrgFlags};
use super::decision::Standing;
use super::grant::Grant;
use crate::db::models::{ApiKey, App, AppStatus};
use crate::db::{Db, DbError};
use crate::secrets::{constant_time_eq, hex};

/// The key with `public_id` whose stored digest is `digest`, with its app; `None`
/// when there is no such key or the secret does not match.
pub async fn find_key(
    db: &Db,
    public_id: &str,
    digest: &[u8; 32],
) -> Result<Option<(ApiKey, App)>, DbError> {
    let public_id = public_id.to_owned();
    let found = db
        .run(move |conn| -> Result<Option<(ApiKey, App)>, DbError> {
            let Some(key) = ApiKey::find_by_public_id(conn, &public_id)? else {
                return Ok(None);
            };
            Ok(App::find(conn, &key.organization_id, &key.app_id)?.map(|app| (key, app)))
        })
        .await?;
    Ok(found
        .filter(|(key, _)| constant_time_eq(hex(digest).as_bytes(), key.secret_digest.as_bytes())))
}

/// The cache entry of a verified key, read in `generation`.
pub fn entry(key: &ApiKey, app: &App, org: Arc<OrgFlags>, generation: u64) -> Entry {
    let permissions = key.permission_set();
    Entry {
        generation,
        grant: Arc::new(Grant::for_key(key, app, permissions.clone())),
        standing: Standing {
            active: key.active,
            expires_at: key.expires_at,
            app_active: app.status() == AppStatus::Active,
            permissions,
        },
        org,
        queued_use: AtomicI64::new(i64::MIN),
    }
}
