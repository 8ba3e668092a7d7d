//! The daemon's state while it runs: a change made with the CLI is in use
//! when the command returns, and what the engine learns (breaker
//! transitions, sticky mappings) is on disk within a second, so a
//! `kill -9` loses none of it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::common::*;
use vip_testkit::*;

/// `vip serve` started before any vault exists: the first proxy with a
/// login makes the vault, and the daemon unlocks it (VIP_MASTER_PASSWORD,
/// as it was started with) and carries traffic through that proxy with
/// its login as soon as the command returns; a password change is picked
/// up the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vault_made_or_rekeyed_while_serve_runs_is_unlocked_again() {
    let origin = Origin::start().await;
    let peer = microsocks("127.0.0.2", "u", "p-secret");
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let args = serve_args(&listen);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let daemon = Daemon::start(dir.path(), &args, &[]).await;
    let gateway: std::net::SocketAddr = listen.parse().unwrap();
    let url = format!("socks5://u:p-secret@{}", peer.addr);
    let added = vip(dir.path(), &["proxy", "add", &url]);
    let said = String::from_utf8_lossy(&added.stderr);
    assert!(
        added.status.success() && !said.contains("warning"),
        "{said}"
    );
    let body = via_connect(gateway, "127.0.0.1", origin.addr.port()).await;
    assert_eq!(body.unwrap(), "127.0.0.2");
    // Named identities are sealed with the same vault.
    let made = vip(dir.path(), &["identity", "create", "alice", "--direct"]);
    assert!(made.status.success(), "{made:?}");

    // A new data key: the next login is encrypted under it, and the
    // daemon unlocks the vault again with the password it has.
    let rotated = vip(dir.path(), &["vault", "rotate-key"]);
    assert!(rotated.status.success(), "{rotated:?}");
    let url = format!("socks5://u:p-secret@localhost:{}", peer.addr.port());
    let added = vip(dir.path(), &["proxy", "add", &url, "--json"]);
    let said = String::from_utf8_lossy(&added.stderr);
    assert!(
        added.status.success() && !said.contains("warning"),
        "{said}"
    );
    let id = serde_json::from_slice::<serde_json::Value>(&added.stdout).unwrap()["id"].clone();
    assert_eq!(id, 2, "a second proxy, with a login under the new key");

    // A new password and a new key: the daemon's password opens nothing
    // now, so a new login is unreadable to it, and the command says so.
    let new = "a new and long master password";
    let as_user = |args: &[&str], password: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vip"))
            .args(args)
            .env("VIP_DATA_DIR", dir.path())
            .env("VIP_MASTER_PASSWORD", password)
            .env("VIP_NEW_MASTER_PASSWORD", new)
            .output()
            .unwrap()
    };
    assert!(
        as_user(&["vault", "change-password"], MASTER)
            .status
            .success()
    );
    assert!(as_user(&["vault", "rotate-key"], new).status.success());
    let url = format!("socks5://u2:p2@localhost:{}", peer.addr.port());
    let second = as_user(&["proxy", "add", &url], new);
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{said}");
    assert!(
        said.contains("cannot read the logins of 1 proxy") && said.contains("VIP_MASTER_PASSWORD"),
        "{said}"
    );
    // The logins it had are still in use (a request that meets the third
    // proxy, whose login it cannot read, fails over).
    for _ in 0..3 {
        let body = via_connect(gateway, "127.0.0.1", origin.addr.port()).await;
        assert_eq!(body.unwrap(), "127.0.0.2");
    }
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{log}");
    assert!(log.contains("vault unlocked again"), "{log}");
    assert!(!log.contains("p-secret"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_added_with_the_cli_is_usable_when_the_command_returns() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let args = serve_args(&listen);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let daemon = Daemon::start(dir.path(), &args, &[]).await;
    // With the browser off, `tab open --proxy N` is refused for a proxy the
    // daemon does not know and, past that check, for the browser being off:
    // the message tells whether the daemon knew it.
    // 40 rounds: opening tabs is limited to 50 a minute per principal.
    for i in 0..40u16 {
        let added = vip(
            dir.path(),
            &[
                "proxy",
                "add",
                &format!("127.0.0.1:{}", 20_000 + i),
                "--json",
            ],
        );
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
        let id = serde_json::from_slice::<serde_json::Value>(&added.stdout).unwrap()["id"]
            .as_i64()
            .unwrap();
        let out = vip(
            dir.path(),
            &[
                "tab",
                "open",
                "http://127.0.0.1/",
                "--proxy",
                &id.to_string(),
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("the browser is off"),
            "attempt {i}, proxy {id}: {err}"
        );
    }
    let (status, log) = daemon.stop().await;
    assert!(status.success(), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakers_and_sticky_mappings_survive_kill_9() {
    let origin = Origin::start().await;
    let socks = microsocks("127.0.0.3", "su", "sp-secret");
    let dir = tempfile::tempdir().unwrap();
    // A live proxy and one whose port refuses: round-robin sends every
    // other request to the dead one first, and its breaker opens.
    let dead = free_port();
    import_list(
        dir.path(),
        &format!(
            "socks5://su:sp-secret@{}\nsocks5://127.0.0.1:{dead}\n",
            socks.addr
        ),
    );
    activate(dir.path(), r#"{"name":"rr","strategy":"round-robin"}"#);
    let listen = format!("127.0.0.1:{}", free_port());
    let args = serve_args(&listen);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut daemon = Daemon::start(dir.path(), &args, &[]).await;
    let gateway: std::net::SocketAddr = listen.parse().unwrap();
    let port = origin.addr.port();
    for _ in 0..12 {
        assert_eq!(
            via_connect(gateway, "localhost", port).await.unwrap(),
            "127.0.0.3"
        );
    }
    // A sticky config made active with the CLI (in use when it returns)
    // learns a mapping for localhost.
    activate(dir.path(), r#"{"name":"st","strategy":"sticky-session"}"#);
    assert_eq!(
        via_connect(gateway, "localhost", port).await.unwrap(),
        "127.0.0.3"
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    daemon.child.kill().unwrap();
    daemon.child.wait().unwrap();

    let store = vip_store::Store::open(dir.path().join(vip_store::DATABASE_FILE)).unwrap();
    store.integrity_check().unwrap();
    let breakers = store.load_breakers().unwrap();
    assert!(
        breakers
            .iter()
            .any(|(id, b)| id.0 == 2 && b.phase() != vip_engine::BreakerPhase::Closed),
        "{breakers:?}"
    );
    let sticky_id = store.find_rotation("st").unwrap().id;
    let mappings = store
        .load_sticky(vip_engine::ConfigId(sticky_id as u64))
        .unwrap();
    assert!(
        mappings
            .iter()
            .any(|m| m.key == "localhost" && m.proxy.0 == 1),
        "{mappings:?}"
    );
}
