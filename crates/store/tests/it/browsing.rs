//! Identities, tabs and sessions: a named identity's seed and storage are
//! sealed (absent from the database file), survive a key rotation and a
//! reopen, names are validated and unique, sessions are replaced by name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use vip_store::vault::{Secret, Vault};
use vip_store::{Store, StoreError};

#[test]
fn identities_are_sealed_and_survive_rotation_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vip.db");
    let master = Secret::new("correct horse battery");
    let store = Store::open(&path).unwrap();
    let mut vault = Vault::init(store.conn(), &master).unwrap();
    let seed = [0x5a_u8; 32];
    let id = store
        .create_identity(
            &vault,
            "work",
            &seed,
            r#"{"kind":"country","country":"DE"}"#,
            "disable_non_proxied_udp",
        )
        .unwrap();
    store
        .save_identity_storage(
            &vault,
            id,
            br#"{"cookies":[{"name":"sid","value":"TOPSECRETCOOKIE"}]}"#,
        )
        .unwrap();
    let err = store
        .create_identity(&vault, "work", &seed, "{}", "default")
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    let err = store
        .create_identity(&vault, "bad name!", &seed, "{}", "default")
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Invalid { .. }) && err.to_string().contains("letters"),
        "{err}"
    );

    let report = vault.rotate_key(store.conn()).unwrap();
    assert_eq!(report.identities, 1);
    let got = store.get_identity(&vault, "work").unwrap().unwrap();
    assert_eq!(got.seed.as_slice(), &seed);
    assert!(String::from_utf8_lossy(got.storage.as_deref().unwrap()).contains("TOPSECRETCOOKIE"));
    assert!(!format!("{got:?}").contains("TOPSECRET"));
    assert!(store.get_identity(&vault, "nobody").unwrap().is_none());
    let listed = store.list_identities().unwrap();
    assert_eq!((listed.len(), listed[0].has_storage), (1, true));
    drop(store);

    // Nothing secret in the file; everything back after a reopen.
    let bytes = std::fs::read(&path).unwrap();
    let wal = std::fs::read(path.with_extension("db-wal")).unwrap_or_default();
    for file in [&bytes, &wal] {
        assert!(!file.windows(15).any(|w| w == b"TOPSECRETCOOKIE"));
        assert!(!file.windows(32).any(|w| w == seed));
    }
    let store = Store::open(&path).unwrap();
    let vault = Vault::unlock(store.conn(), &master).unwrap();
    assert_eq!(
        store
            .get_identity(&vault, "work")
            .unwrap()
            .unwrap()
            .seed
            .as_slice(),
        &seed
    );
    store.delete_identity("work").unwrap();
    assert!(store.delete_identity("work").is_err());
}

#[test]
fn tabs_and_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("vip.db")).unwrap();
    let tab = store
        .insert_tab(
            Some("work"),
            "http://a.test/",
            r#"{"kind":"direct"}"#,
            Some(999),
        )
        .unwrap();
    store.update_tab(tab, "http://a.test/next", 3).unwrap();
    assert_eq!(store.close_tabs(Some(tab)).unwrap(), 1);
    assert_eq!(store.close_tabs(None).unwrap(), 0);
    store.save_session("morning", "[1]").unwrap();
    store.save_session("morning", "[2]").unwrap();
    assert_eq!(store.load_session("morning").unwrap(), "[2]");
    assert_eq!(store.list_sessions().unwrap().len(), 1);
    let err = store.load_session("evening").unwrap_err();
    assert!(
        err.to_string().contains("session evening does not exist"),
        "{err}"
    );
    assert!(store.save_session(" ", "[]").is_err());
}
