//! The two migration folders hold one history, and every migration runs down and up.

use std::collections::BTreeSet;

use diesel_migrations::MigrationHarness;
use keyward::db::{ConnectionManager, DbConn, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

fn versions(folder: &str) -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder);
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| !name.starts_with('.'))
        .collect()
}

#[test]
fn both_backends_have_the_same_migrations() {
    let sqlite = versions("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, versions("postgres"));
    for name in &sqlite {
        for folder in ["sqlite", "postgres"] {
            for file in ["up.sql", "down.sql"] {
                let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("migrations")
                    .join(folder)
                    .join(name)
                    .join(file);
                assert!(path.exists(), "{}", path.display());
            }
        }
    }
}

#[test]
fn every_migration_runs_down_and_up_again() {
    let data = crate::helpers::TestData::new_for_cli();
    let manager = ConnectionManager::new(data.database_url.clone());
    let mut conn = manager.establish().unwrap();
    keyward::db::run_migrations(&mut conn).unwrap();
    match &mut conn {
        DbConn::Sqlite(c) => {
            c.revert_all_migrations(SQLITE_MIGRATIONS).unwrap();
            assert!(c.has_pending_migration(SQLITE_MIGRATIONS).unwrap());
        }
        DbConn::Postgres(c) => {
            c.revert_all_migrations(POSTGRES_MIGRATIONS).unwrap();
            assert!(c.has_pending_migration(POSTGRES_MIGRATIONS).unwrap());
        }
    }
    keyward::db::run_migrations(&mut conn).unwrap();
    let pending = match &mut conn {
        DbConn::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS).unwrap(),
        DbConn::Postgres(c) => c.has_pending_migration(POSTGRES_MIGRATIONS).unwrap(),
    };
    assert!(!pending, "every migration ran up again");
    // The schema is whole again: the organization the first migration makes is back.
    assert!(keyward::db::models::Organization::the_one(&mut conn).is_ok());
}

#[actix_web::test]
async fn a_database_from_before_many_organizations_keeps_its_organization_its_admins_and_its_keys()
{
    let app = crate::helpers::spawn_app().await;
    let header = format!("apikey {}", app.demo_key().await);
    app.create_admin("ann@example.com", keyward::db::models::Role::Full)
        .await;
    // The database as it was before organizations were tenants.
    app.db()
        .run(|conn| {
            match conn {
                DbConn::Sqlite(c) => c.revert_last_migration(SQLITE_MIGRATIONS).map(|_| ()),
                DbConn::Postgres(c) => c.revert_last_migration(POSTGRES_MIGRATIONS).map(|_| ()),
            }
            .map_err(|e| keyward::db::DbError::Unavailable(e.to_string()))
        })
        .await
        .unwrap();
    // A server of this version migrates it at start.
    let upgraded = app.sibling().await;
    let org = upgraded
        .db()
        .run(|conn| {
            keyward::db::models::Organization::the_one(conn).map_err(keyward::db::DbError::from)
        })
        .await
        .unwrap();
    assert_eq!(org.slug, "main");
    assert!(org.root_issuer, "its tokens' issuer stays the public URL");
    assert_eq!(org.max_keys_per_app, 20);
    assert!(org.suspended_at.is_none() && org.max_apps.is_none());
    let response = upgraded
        .api(reqwest::Method::GET, "/api/v2/services", Some(&header))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "its keys keep working");
    let signed_in = upgraded
        .sign_in("ann@example.com", crate::helpers::PASSWORD)
        .await;
    assert_eq!(signed_in.status().as_u16(), 303);
    assert!(upgraded.get_html("/apps", 200).await.contains("Demo"));
}
