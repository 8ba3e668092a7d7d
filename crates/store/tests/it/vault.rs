//! The vault: values are bound to their row and column, a wrong master
//! password is a clear error that changes nothing, key rotation leaves every
//! credential readable and none under the old key, and a password change
//! keeps everything readable under the new password only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use vip_store::repo::proxies::{AddOutcome, NewProxy};
use vip_store::vault::{Secret, Vault, VaultError};
use vip_store::{Store, StoreError};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("vip.db")).unwrap();
    (dir, store)
}

fn file_bytes(dir: &tempfile::TempDir) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        all.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn credentials_round_trip_and_never_hit_the_disk_in_plaintext() {
    let (dir, store) = store();
    let master = Secret::new("correct horse battery");
    assert_eq!(
        Vault::unlock(store.conn(), &master).unwrap_err(),
        VaultError::NotInitialized
    );
    assert_eq!(
        Vault::init(store.conn(), &Secret::new("short")).unwrap_err(),
        VaultError::WeakPassword
    );
    let vault = Vault::init(store.conn(), &master).unwrap();
    let user = Secret::new("alice-session-7f3a9c");
    let pass = Secret::new("Pw-0a1b2c3d4e5f-unique");
    let id = store
        .create_credential(&vault, &user, &pass, Some("acme"))
        .unwrap();
    let back = store
        .get_credential(&vault, vip_engine::CredentialRef(id as u64))
        .unwrap();
    assert_eq!(
        (back.username.expose(), back.password.expose()),
        (user.expose(), pass.expose())
    );
    let count: i64 = store
        .conn()
        .query_row(
            "SELECT access_count FROM encrypted_credentials WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(count, 1);
    assert!(!format!("{back:?} {vault:?}").contains("Pw-0a1b"));
    store
        .conn()
        .execute_batch("PRAGMA wal_checkpoint(FULL)")
        .unwrap();
    let bytes = file_bytes(&dir);
    assert!(!contains(&bytes, pass.expose()) && !contains(&bytes, user.expose()));
    // Unlocking again with the right password reads it; a fresh vault object works.
    let again = Vault::unlock(store.conn(), &master).unwrap();
    assert_eq!(
        store
            .get_credential(&again, vip_engine::CredentialRef(id as u64))
            .unwrap()
            .password
            .expose(),
        pass.expose()
    );
}

#[test]
fn ciphertexts_cannot_be_swapped_between_rows_or_columns() {
    let (_dir, store) = store();
    let vault = Vault::init(store.conn(), &Secret::new("correct horse battery")).unwrap();
    let a = store
        .create_credential(&vault, &"user-a".into(), &"pass-a".into(), None)
        .unwrap();
    let b = store
        .create_credential(&vault, &"user-b".into(), &"pass-b".into(), None)
        .unwrap();
    store
        .conn()
        .execute(
            "UPDATE encrypted_credentials SET encrypted_password = (SELECT encrypted_password FROM encrypted_credentials WHERE id = ?1) WHERE id = ?2",
            [a, b],
        )
        .unwrap();
    let err = store
        .get_credential(&vault, vip_engine::CredentialRef(b as u64))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Vault(VaultError::Tampered { .. })),
        "{err}"
    );
    store
        .conn()
        .execute("UPDATE encrypted_credentials SET encrypted_username = encrypted_password WHERE id = ?1", [a])
        .unwrap();
    assert!(
        store
            .get_credential(&vault, vip_engine::CredentialRef(a as u64))
            .unwrap_err()
            .to_string()
            .contains("altered or belongs to another row")
    );
}

#[test]
fn wrong_master_password_changes_nothing() {
    let (dir, store) = store();
    let vault = Vault::init(store.conn(), &Secret::new("correct horse battery")).unwrap();
    store
        .create_credential(&vault, &"u".into(), &"p".into(), None)
        .unwrap();
    store
        .conn()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let before = std::fs::read(dir.path().join("vip.db")).unwrap();
    let err = Vault::unlock(store.conn(), &Secret::new("wrong horse battery")).unwrap_err();
    assert_eq!(err, VaultError::WrongPassword);
    assert_eq!(
        err.to_string(),
        "wrong master password: the vault could not be unlocked (nothing was changed)"
    );
    store
        .conn()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    assert_eq!(std::fs::read(dir.path().join("vip.db")).unwrap(), before);
}

#[test]
fn key_rotation_reencrypts_everything_and_retires_the_old_key() {
    let (_dir, store) = store();
    let master = Secret::new("correct horse battery");
    let mut vault = Vault::init(store.conn(), &master).unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let p = NewProxy {
            host: format!("gw{i}.example"),
            port: 8000,
            username: Some(Secret::new(format!("user{i}"))),
            password: Some(Secret::new(format!("secret-{i}"))),
            ..NewProxy::default()
        };
        let AddOutcome::Added(id) = store.add_proxy(Some(&vault), &p).unwrap() else {
            panic!()
        };
        ids.push(id);
    }
    let old_blob: Vec<u8> = store
        .conn()
        .query_row(
            "SELECT encrypted_password FROM encrypted_credentials LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let report = vault.rotate_key(store.conn()).unwrap();
    assert_eq!(
        (report.new_key_id, report.credentials, report.retired_keys),
        (2, 5, 1)
    );
    let old_key_rows: i64 = store
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM encrypted_credentials WHERE key_id <> 2",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(old_key_rows, 0);
    let keys: i64 = store
        .conn()
        .query_row("SELECT COUNT(*) FROM vault_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(keys, 1);
    let new_blob: Vec<u8> = store
        .conn()
        .query_row(
            "SELECT encrypted_password FROM encrypted_credentials LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_ne!(old_blob, new_blob);
    let reopened = Vault::unlock(store.conn(), &master).unwrap();
    for (i, id) in ids.iter().enumerate() {
        let cred_id = store.get_proxy(*id).unwrap().credential_id.unwrap();
        assert_eq!(
            store
                .get_credential(&reopened, vip_engine::CredentialRef(cred_id as u64))
                .unwrap()
                .password
                .expose(),
            format!("secret-{i}")
        );
    }
    // Fingerprints follow the new key: the same proxy is still a duplicate.
    let again = NewProxy {
        host: "gw3.example".into(),
        port: 8000,
        username: Some("user3".into()),
        password: Some("other".into()),
        ..NewProxy::default()
    };
    assert_eq!(
        store.add_proxy(Some(&reopened), &again).unwrap(),
        AddOutcome::Duplicate(ids[3])
    );
}

#[test]
fn change_password_rewraps_keys() {
    let (_dir, store) = store();
    let mut vault = Vault::init(store.conn(), &Secret::new("correct horse battery")).unwrap();
    let id = store
        .create_credential(&vault, &"u".into(), &"p-value".into(), None)
        .unwrap();
    vault
        .change_password(store.conn(), &Secret::new("new staple password"))
        .unwrap();
    assert_eq!(
        Vault::unlock(store.conn(), &Secret::new("correct horse battery")).unwrap_err(),
        VaultError::WrongPassword
    );
    let v = Vault::unlock(store.conn(), &Secret::new("new staple password")).unwrap();
    assert_eq!(
        store
            .get_credential(&v, vip_engine::CredentialRef(id as u64))
            .unwrap()
            .password
            .expose(),
        "p-value"
    );
    assert_eq!(Vault::status(store.conn()).unwrap().credentials, 1);
}
