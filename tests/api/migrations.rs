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
