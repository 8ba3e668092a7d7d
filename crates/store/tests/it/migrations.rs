//! Migrations: from an empty file and from every earlier version to the
//! latest; rollback files; a backup before migrating existing data; a changed
//! migration or a newer database is refused with a clear error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use vip_store::migrate::{self, MIGRATIONS, latest_version};
use vip_store::{Store, StoreError};

fn tables(store: &Store) -> Vec<String> {
    let mut stmt = store
        .conn()
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn empty_file_migrates_to_the_full_schema() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("vip.db")).unwrap();
    let status = migrate::status(store.conn()).unwrap();
    assert_eq!(
        (status.current, status.latest, status.pending.len()),
        (latest_version(), 10, 0)
    );
    let expected = [
        "activity_logs",
        "circuit_breakers",
        "encrypted_credentials",
        "identities",
        "proxies",
        "proxy_rotation_rules",
        "proxy_usage_stats",
        "rotation_configs",
        "rotation_events",
        "schedules",
        "schema_migrations",
        "sessions",
        "sticky_session_mappings",
        "tabs",
        "vault_keys",
    ];
    assert_eq!(tables(&store), expected);
    let fk: i64 = store
        .conn()
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    let mode: String = store
        .conn()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!((fk, mode.as_str()), (1, "wal"));
    store.integrity_check().unwrap();
}

#[test]
fn every_earlier_version_migrates_up_and_rollbacks_work() {
    for from in 0..latest_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vip.db");
        {
            let store = Store::open(&path).unwrap();
            migrate::migrate_to(store.conn(), &path, from).unwrap();
            assert_eq!(migrate::status(store.conn()).unwrap().current, from);
            if from >= 1 {
                store
                    .conn()
                    .execute(
                        "INSERT INTO proxies (protocol, host, port, created_at, updated_at) VALUES ('http', 'kept.example', 8080, 0, 0)",
                        [],
                    )
                    .unwrap();
            }
        }
        let store = Store::open(&path).unwrap();
        let status = migrate::status(store.conn()).unwrap();
        assert_eq!(status.current, latest_version(), "from {from}");
        assert_eq!(status.applied.len(), MIGRATIONS.len());
        if from >= 1 {
            let kept: i64 = store
                .conn()
                .query_row(
                    "SELECT COUNT(*) FROM proxies WHERE host = 'kept.example'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(kept, 1, "data survives migrating from {from}");
            let backups = std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .contains(&format!(".v{from}-"))
                })
                .count();
            assert!(
                backups >= 1,
                "a backup was made before migrating from {from}"
            );
        }
    }
}

#[test]
fn sticky_mappings_move_into_their_configs_base_scope() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vip.db");
    let far = vip_store::now_ms() + 3_600_000;
    {
        let store = Store::open(&path).unwrap();
        migrate::migrate_to(store.conn(), &path, 6).unwrap();
        let c = store.conn();
        c.execute("INSERT INTO proxies (id, protocol, host, port, created_at, updated_at) VALUES (1, 'http', 'p.example', 8080, 0, 0)", []).unwrap();
        c.execute("INSERT INTO rotation_configs (id, name, strategy, target_group, created_at, updated_at) VALUES (1, 'g', 'sticky-session', 'res', 0, 0), (2, 'all', 'sticky-session', NULL, 0, 0)", []).unwrap();
        for config in [1, 2] {
            c.execute(
                "INSERT INTO sticky_session_mappings (config_id, domain_pattern, proxy_id, created_at, expires_at, last_used_at, uses) VALUES (?1, 'shop.test', 1, 0, ?2, 0, 2)",
                rusqlite::params![config, far],
            )
            .unwrap();
        }
    }
    let store = Store::open(&path).unwrap();
    let grouped = store.load_sticky(vip_engine::ConfigId(1_u64)).unwrap();
    assert_eq!(grouped.len(), 1);
    assert_eq!(
        (
            grouped[0].scope.group.as_deref(),
            grouped[0].scope.country,
            grouped[0].uses
        ),
        (Some("res"), None, 2)
    );
    let whole = store.load_sticky(vip_engine::ConfigId(2_u64)).unwrap();
    assert_eq!((whole.len(), whole[0].scope.group.as_deref()), (1, None));
    // And back: the rollback keeps them.
    migrate::migrate_to(store.conn(), &path, 6).unwrap();
    let kept: i64 = store
        .conn()
        .query_row("SELECT COUNT(*) FROM sticky_session_mappings", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(kept, 2);
}

#[test]
fn a_changed_migration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vip.db");
    {
        let store = Store::open(&path).unwrap();
        store
            .conn()
            .execute(
                "UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 2",
                [],
            )
            .unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    match &err {
        StoreError::ChecksumMismatch {
            version, applied, ..
        } => assert_eq!((*version, applied.as_str()), (2, "deadbeef")),
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .contains("migration 2 (rotation) was applied with checksum deadbeef")
    );
}

#[test]
fn a_newer_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vip.db");
    {
        let store = Store::open(&path).unwrap();
        store
            .conn()
            .execute("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (99, 'future', 'x', 0)", [])
            .unwrap();
    }
    let err = Store::open(&path).unwrap_err().to_string();
    assert!(
        err.contains("schema version 99 but this binary knows only up to 10"),
        "{err}"
    );
}

#[test]
fn backup_copies_a_consistent_database() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("vip.db")).unwrap();
    store.conn().execute("INSERT INTO proxies (protocol, host, port, created_at, updated_at) VALUES ('http', 'a.example', 1, 0, 0)", []).unwrap();
    let copy = dir.path().join("copy.db");
    store.backup_to(&copy).unwrap();
    let restored = Store::open(&copy).unwrap();
    restored.integrity_check().unwrap();
    assert_eq!(restored.list_proxies(None).unwrap().len(), 1);
}
