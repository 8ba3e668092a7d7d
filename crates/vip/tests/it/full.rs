//! A full disk under `vip serve`: the data directory is a 16 MiB tmpfs in a
//! private mount namespace (`unshare -m`, so nothing outside the test
//! sees it), traffic flows, the file system is filled to the last block,
//! then SIGTERM. The process must exit within the grace period + 1 s with
//! code 1 and say what it could not save.
//!
//! A file system cannot be made read-only while a process holds files on
//! it open for writing (Linux refuses the remount as busy), so a full disk
//! is how a store that refuses every write is produced for real here.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use vip_testkit::*;

use crate::common::*;

const SCRIPT: &str = r#"
set -e
mount -t tmpfs -o size=16m tmpfs "$D"
"$VIP" proxy add "socks5://u:p-secret@127.0.0.1:$PEER" >/dev/null
"$VIP" serve --listen "127.0.0.1:$GW" --no-browser --no-blocking --check-interval 0 \
    --api-listen 127.0.0.1:0 --grace 3 &
pid=$!
while [ ! -e "$D/api-endpoint" ]; do sleep 0.05; done
echo ready
read go
dd if=/dev/zero of="$D/fill" bs=64k 2>/dev/null || true
echo "full $(df -k "$D" | tail -1)"
start=$(date +%s%N)
kill -TERM $pid
rc=0; wait $pid || rc=$?
echo "exit $rc $(( ($(date +%s%N) - start) / 1000000 ))"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_under_serve_is_reported_and_the_process_exits_in_time() {
    let origin = Origin::start().await;
    let peer = microsocks("127.0.0.2", "u", "p-secret");
    let dir = tempfile::tempdir().unwrap();
    let gw = free_port();
    let mut child = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", SCRIPT])
        .env("D", dir.path())
        .env("VIP", env!("CARGO_BIN_EXE_vip"))
        .env("VIP_DATA_DIR", dir.path())
        .env("VIP_MASTER_PASSWORD", MASTER)
        .env("PEER", peer.addr.port().to_string())
        .env("GW", gw.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux) runs");
    let mut stdin = child.stdin.take().unwrap();
    let (tx, mut said) = tokio::sync::mpsc::unbounded_channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut next_line = async move |within: u64| {
        let line = tokio::time::timeout(Duration::from_secs(within), said.recv()).await;
        line.ok().flatten().unwrap_or_default()
    };
    let ready = next_line(30).await;
    if ready != "ready" {
        let out = child.wait_with_output().unwrap();
        panic!(
            "the daemon did not start on a private tmpfs (needs root or CAP_SYS_ADMIN): {ready:?} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let gateway: std::net::SocketAddr = ([127, 0, 0, 1], gw).into();
    for _ in 0..3 {
        let body = via_connect(gateway, "127.0.0.1", origin.addr.port()).await;
        assert_eq!(body.unwrap(), "127.0.0.2");
    }
    // Traffic keeps flowing (bounded) while the disk fills and the
    // daemon drains.
    let flowing = tokio::spawn(async move {
        for _ in 0..2_000 {
            if via_connect(gateway, "127.0.0.1", origin.addr.port())
                .await
                .is_err()
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    writeln!(stdin, "go").unwrap();
    let full = next_line(30).await;
    let exit = next_line(30).await;
    flowing.abort();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(full.starts_with("full") && full.contains("100%"), "{full}");
    let mut exit = exit.split_whitespace().skip(1);
    let code: i32 = exit.next().and_then(|c| c.parse().ok()).unwrap_or(-1);
    let took_ms: u64 = exit.next().and_then(|c| c.parse().ok()).unwrap_or(u64::MAX);
    assert_eq!(code, 1, "exit code; log:\n{log}");
    assert!(
        took_ms <= 4_000,
        "took {took_ms} ms (grace 3 s); log:\n{log}"
    );
    // Whatever met the full disk (the usage writer's final flush, which
    // answers with the refusal instead of retrying past the grace period,
    // or the last save of breakers) says so.
    assert!(
        log.contains("not saved") && log.contains("disk is full"),
        "{log}"
    );
    assert!(!log.contains("p-secret"), "{log}");
}
