//! `vip gateway` end to end: a foreground gateway over a real tinyproxy
//! upstream given on the command line, with tracker blocking from
//! `--filter-list`, `--allow-domain` exempting a domain, and a missing list
//! refused with its path named.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use vip_testkit::*;

/// A running `vip gateway`; killed when dropped.
struct Foreground {
    child: Child,
    addr: std::net::SocketAddr,
}

impl Drop for Foreground {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `vip gateway ARGS` on a free port and waits until it accepts.
async fn start(upstream: &str, args: &[&str]) -> Foreground {
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vip"))
        .args([
            "gateway",
            "--listen",
            &addr.to_string(),
            "--upstream",
            upstream,
        ])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(child.try_wait().unwrap().is_none(), "vip gateway exited");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "vip gateway did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Foreground { child, addr }
}

fn list(dir: &Path) -> String {
    let path = dir.join("list.txt");
    std::fs::write(&path, "! test list\n||localhost^\n").unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_blocks_from_its_lists_and_allows_the_allowlist() {
    let origin = Origin::start().await;
    let peer = tinyproxy("127.0.0.2", "gu", "gp-secret");
    let upstream = format!("http://gu:gp-secret@{}", peer.addr);
    let dir = tempfile::tempdir().unwrap();
    let list = list(dir.path());
    let port = origin.addr.port();

    let blocking = start(&upstream, &["--filter-list", &list]).await;
    let refused = via_connect(blocking.addr, "localhost", port)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    assert!(refused.contains("tracker"), "{refused}");
    let exit = via_connect(blocking.addr, "127.0.0.1", port).await.unwrap();
    assert_eq!(
        exit, "127.0.0.2",
        "an unlisted host goes out through tinyproxy"
    );
    drop(blocking);

    let allowing = start(
        &upstream,
        &["--filter-list", &list, "--allow-domain", "localhost"],
    )
    .await;
    let exit = via_connect(allowing.addr, "localhost", port).await.unwrap();
    assert_eq!(exit, "127.0.0.2", "an allowlisted host passes");
    drop(allowing);

    let off = start(&upstream, &["--no-blocking"]).await;
    let exit = via_connect(off.addr, "localhost", port).await.unwrap();
    assert_eq!(exit, "127.0.0.2", "--no-blocking blocks nothing");
}

#[test]
fn a_missing_filter_list_is_refused_by_name() {
    let out = Command::new(env!("CARGO_BIN_EXE_vip"))
        .args([
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "127.0.0.1:9",
            "--filter-list",
            "/nonexistent/vip-list.txt",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "invalid input exits 2");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/vip-list.txt"), "{err}");
}
