//! Gateway against the usual forwarding proxies, all on loopback, in one run:
//! the same workloads with no hop (client → upstream tinyproxy), through
//! `vip gateway`, and through tinyproxy, privoxy and squid chained to the
//! same upstream. Prints each figure and its ratio to no hop, plus RSS per
//! idle tunnel. Run with `cargo xtask bench gateway` (installs the peers and
//! builds `vip`); every loop is bounded in count.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEEPALIVE_CONNS: usize = 8;
const KEEPALIVE_REQS: usize = 1_500;
const TUNNELS: usize = 1_500;
const TUNNEL_CONCURRENCY: usize = 16;
const BULK_BYTES: u64 = 100 * 1024 * 1024;
const IDLE_TUNNELS: usize = 1_000;

async fn origin() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                let mut chunk = [0u8; 4096];
                loop {
                    let end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let bulk = buf.starts_with(b"GET /bulk");
                    buf.drain(..end);
                    if bulk {
                        if s.write_all(
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {BULK_BYTES}\r\n\r\n")
                                .as_bytes(),
                        )
                        .await
                        .is_err()
                        {
                            return;
                        }
                        let zeros = vec![0u8; 64 * 1024];
                        let mut left = BULK_BYTES;
                        while left > 0 {
                            let n = left.min(zeros.len() as u64) as usize;
                            if s.write_all(&zeros[..n]).await.is_err() {
                                return;
                            }
                            left -= n as u64;
                        }
                    } else if s
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn tunnel(proxy: SocketAddr, origin: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    let _ = s.set_nodelay(true);
    s.write_all(format!("CONNECT {origin} HTTP/1.1\r\nHost: {origin}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut b).await.unwrap(),
            1,
            "proxy closed during CONNECT"
        );
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

async fn get_small(s: &mut TcpStream) {
    s.write_all(b"GET / HTTP/1.1\r\nHost: o\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 256];
    while !got.ends_with(b"ok") {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        got.extend_from_slice(&chunk[..n]);
    }
}

struct Figures {
    keepalive_rps: f64,
    tunnels_ps: f64,
    bulk_mbps: f64,
    idle_kb: Option<f64>,
}

async fn measure(proxy: SocketAddr, origin: SocketAddr, pid: Option<u32>) -> Figures {
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..KEEPALIVE_CONNS {
        set.spawn(async move {
            let mut s = tunnel(proxy, origin).await;
            for _ in 0..KEEPALIVE_REQS {
                get_small(&mut s).await;
            }
        });
    }
    while set.join_next().await.is_some() {}
    let keepalive_rps = (KEEPALIVE_CONNS * KEEPALIVE_REQS) as f64 / start.elapsed().as_secs_f64();

    let start = Instant::now();
    let per = TUNNELS / TUNNEL_CONCURRENCY;
    for _ in 0..TUNNEL_CONCURRENCY {
        set.spawn(async move {
            for _ in 0..per {
                let mut s = tunnel(proxy, origin).await;
                get_small(&mut s).await;
            }
        });
    }
    while set.join_next().await.is_some() {}
    let tunnels_ps = (per * TUNNEL_CONCURRENCY) as f64 / start.elapsed().as_secs_f64();

    let mut s = tunnel(proxy, origin).await;
    let start = Instant::now();
    s.write_all(b"GET /bulk HTTP/1.1\r\nHost: o\r\n\r\n")
        .await
        .unwrap();
    let mut got = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    while got < BULK_BYTES {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "bulk body cut short at {got}");
        got += n as u64;
    }
    let bulk_mbps = BULK_BYTES as f64 / 1e6 / start.elapsed().as_secs_f64();
    drop(s);

    let idle_kb = match pid {
        None => None,
        Some(pid) => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let before = rss_kb(pid);
            let mut idle = Vec::with_capacity(IDLE_TUNNELS);
            for _ in 0..IDLE_TUNNELS {
                idle.push(tunnel(proxy, origin).await);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            let after = rss_kb(pid);
            drop(idle);
            Some((after - before) as f64 / IDLE_TUNNELS as f64)
        }
    };
    Figures {
        keepalive_rps,
        tunnels_ps,
        bulk_mbps,
        idle_kb,
    }
}

/// Resident memory of a process and its children (squid and privoxy fork).
fn rss_kb(pid: u32) -> i64 {
    let mut total = 0;
    let mut pids = vec![pid];
    if let Ok(out) = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
    {
        pids.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.trim().parse::<u32>().ok()),
        );
    }
    for p in pids {
        let status = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
        total += status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
    }
    total
}

/// Starts a contender and returns it with its address.
type Starter = Box<dyn Fn() -> (Proc, SocketAddr)>;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(cmd: &mut Command, addr: SocketAddr) -> Proc {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let started = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{cmd:?} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Proc(child)
}

fn tinyproxy(
    dir: &std::path::Path,
    name: &str,
    upstream: Option<SocketAddr>,
) -> (Proc, SocketAddr) {
    let p = port();
    let conf = dir.join(format!("{name}.conf"));
    let up = upstream.map_or(String::new(), |u| format!("Upstream http {u}\n"));
    std::fs::write(&conf, format!("Port {p}\nListen 127.0.0.1\nTimeout 60\nMaxClients 4000\nAllow 127.0.0.0/8\nDisableViaHeader Yes\nLogLevel Critical\n{up}")).unwrap();
    let addr = format!("127.0.0.1:{p}").parse().unwrap();
    (
        spawn(
            Command::new("tinyproxy").args(["-d", "-c"]).arg(&conf),
            addr,
        ),
        addr,
    )
}

fn privoxy(dir: &std::path::Path, upstream: SocketAddr) -> (Proc, SocketAddr) {
    let p = port();
    let conf = dir.join("privoxy.conf");
    std::fs::write(&conf, format!("listen-address 127.0.0.1:{p}\nforward / {upstream}\ntoggle 0\nmax-client-connections 4000\nkeep-alive-timeout 60\nlogdir {}\n", dir.display())).unwrap();
    let addr = format!("127.0.0.1:{p}").parse().unwrap();
    (
        spawn(
            Command::new("privoxy").args(["--no-daemon"]).arg(&conf),
            addr,
        ),
        addr,
    )
}

fn squid(dir: &std::path::Path, upstream: SocketAddr) -> (Proc, SocketAddr) {
    let p = port();
    let conf = dir.join("squid.conf");
    std::fs::write(
        &conf,
        format!(
            "http_port 127.0.0.1:{p}\nhttp_access allow all\ncache_peer {} parent {} 0 no-query default\nnever_direct allow all\n\
             cache deny all\ncache_mem 8 MB\nmax_filedescriptors 8192\nworkers 1\npid_filename {}/squid.pid\n\
             access_log none\ncache_log {}/cache.log\ncoredump_dir {}\nshutdown_lifetime 1 seconds\n",
            upstream.ip(), upstream.port(), dir.display(), dir.display(), dir.display()
        ),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{p}").parse().unwrap();
    (
        spawn(Command::new("squid").args(["-N", "-f"]).arg(&conf), addr),
        addr,
    )
}

fn vip(upstream: SocketAddr) -> (Proc, SocketAddr) {
    let p = port();
    let bin = std::env::var("VIP_BIN").unwrap_or_else(|_| "target/release/vip".into());
    let addr: SocketAddr = format!("127.0.0.1:{p}").parse().unwrap();
    (
        spawn(
            Command::new(bin).args([
                "gateway",
                "--listen",
                &addr.to_string(),
                "--upstream",
                &format!("http://{upstream}"),
            ]),
            addr,
        ),
        addr,
    )
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let origin = origin().await;
        let (_upstream_proc, upstream) = tinyproxy(dir.path(), "upstream", None);
        let baseline = measure(upstream, origin, None).await;
        let mut rows = vec![("no hop (client → upstream)", baseline.keepalive_rps, baseline.tunnels_ps, baseline.bulk_mbps, None)];
        let contenders: Vec<(&str, Starter)> = vec![
            ("vip gateway", Box::new(move || vip(upstream))),
            ("tinyproxy", Box::new({ let d = dir.path().to_path_buf(); move || tinyproxy(&d, "hop", Some(upstream)) })),
            ("privoxy", Box::new({ let d = dir.path().to_path_buf(); move || privoxy(&d, upstream) })),
            ("squid", Box::new({ let d = dir.path().to_path_buf(); move || squid(&d, upstream) })),
        ];
        for (name, start) in contenders {
            let (proc_, addr) = start();
            let f = measure(addr, origin, Some(proc_.0.id())).await;
            rows.push((name, f.keepalive_rps, f.tunnels_ps, f.bulk_mbps, f.idle_kb));
            drop(proc_);
        }
        println!("| path | keep-alive req/s | ratio | new tunnels/s | ratio | bulk MB/s | ratio | KB per idle tunnel |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        for (name, rps, tps, mbps, kb) in rows {
            println!(
                "| {name} | {rps:.0} | {:.2} | {tps:.0} | {:.2} | {mbps:.0} | {:.2} | {} |",
                rps / baseline.keepalive_rps,
                tps / baseline.tunnels_ps,
                mbps / baseline.bulk_mbps,
                kb.map_or("-".to_string(), |k| format!("{k:.1}"))
            );
        }
    });
}
