//! The gateway under faults, with default settings, all on loopback:
//! 1. the latency a request gains when its first candidate is faulty
//!    (refuse, hang, reset, slow, garbage, 407) against one whose first
//!    candidate is healthy (a real tinyproxy second), for CONNECT and
//!    absolute-form plain HTTP; each request goes through a fresh gateway,
//!    so that every one meets the fault first (breaker shut);
//! 2. keep-alive plain-HTTP requests/s with upstream connection reuse
//!    against without (`keep_alive.per_proxy = 0`), through a real
//!    microsocks and a real privoxy;
//! 3. `vip proxy check --all` (the binary in `VIP_BIN`, default settings)
//!    over 10,000 local proxies: half healthy, a quarter refusing, a
//!    quarter hanging; wall time, peak RSS and peak open files.
//!
//! Run with `cargo xtask bench gateway`; `VIP_BENCH_FAULTS=latency`,
//! `keepalive` or `check` runs one part. Every loop is bounded in count.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vip_engine::{HealthSettings, Protocol};
use vip_gateway::{Assignment, Gateway, GatewaySettings, KeepAliveSettings, NullSink};
use vip_testkit::*;

/// Requests per fault kind and client mode.
const LATENCY_REQUESTS: usize = 200;
/// Of them at once.
const LATENCY_CONCURRENCY: usize = 8;
const KEEPALIVE_CONNS: usize = 8;
// Without reuse every request leaves a TIME_WAIT socket towards the proxy:
// three runs of 4,000 stay well inside the ephemeral port range.
const KEEPALIVE_REQS: usize = 500;
const CHECK_PROXIES: usize = 10_000;

async fn gateway(pool: Vec<vip_engine::Proxy>, settings: GatewaySettings) -> (Gateway, SocketAddr) {
    let engine = engine(
        pool,
        r#"{"name":"f","strategy":"failover"}"#,
        HealthSettings::default(),
    );
    let gateway = Gateway::new(
        engine,
        logins(&[(9, "u", "p")]),
        Arc::new(NullSink),
        settings,
    );
    let addr = listen(&gateway, Assignment::Rotation(ROTATION)).await;
    (gateway, addr)
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// (p50, p99, failures) of `LATENCY_REQUESTS` requests, each through a
/// gateway of its own over `pool` (so each meets the first candidate with
/// its breaker shut and the retry budget unspent, as the first requests
/// after a proxy breaks do).
async fn latencies(
    pool: Vec<vip_engine::Proxy>,
    origin: SocketAddr,
    connect: bool,
) -> (Duration, Duration, usize) {
    let mut set = tokio::task::JoinSet::new();
    let per = LATENCY_REQUESTS / LATENCY_CONCURRENCY;
    for _ in 0..LATENCY_CONCURRENCY {
        let pool = pool.clone();
        set.spawn(async move {
            let mut out = Vec::with_capacity(per);
            let mut failed = 0;
            for _ in 0..per {
                let (gw, listener) = gateway(pool.clone(), GatewaySettings::default()).await;
                let t = Instant::now();
                let ok = if connect {
                    via_connect(listener, "127.0.0.1", origin.port())
                        .await
                        .is_ok()
                } else {
                    via_forward(listener, "127.0.0.1", origin.port())
                        .await
                        .starts_with("HTTP/1.1 200")
                };
                out.push(t.elapsed());
                failed += usize::from(!ok);
                gw.shutdown(Duration::ZERO).await;
            }
            (out, failed)
        });
    }
    let mut all = Vec::new();
    let mut failed = 0;
    while let Some(r) = set.join_next().await {
        let (out, f) = r.unwrap();
        all.extend(out);
        failed += f;
    }
    all.sort();
    (percentile(&all, 0.5), percentile(&all, 0.99), failed)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

async fn latency_table() {
    let origin = Origin::start().await;
    let healthy = tinyproxy("127.0.0.2", "u", "p");
    let kinds: [(&str, Option<Fault>); 7] = [
        ("healthy", None),
        ("refuse", Some(Fault::Refuse)),
        ("hang", Some(Fault::Hang)),
        ("reset", Some(Fault::Reset)),
        ("slow (10 s)", Some(Fault::Slow(Duration::from_secs(10)))),
        ("garbage", Some(Fault::Garbage)),
        ("407", Some(Fault::Answer407)),
    ];
    println!("### Failover: a request whose first candidate is faulty (second: a real tinyproxy)");
    println!();
    println!(
        "{LATENCY_REQUESTS} requests per row and mode, {LATENCY_CONCURRENCY} at once, each through a fresh gateway with default settings (the faulty proxy's breaker shut, no latency history: the hedge delay is its 150 ms floor). Added = p99 less the healthy row's."
    );
    println!();
    println!(
        "| first candidate | CONNECT p50 ms | p99 ms | added p99 ms | plain HTTP p50 ms | p99 ms | added p99 ms | failed |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut base: Option<(Duration, Duration)> = None;
    for (name, fault) in kinds {
        let mut pool = Vec::new();
        if let Some(fault) = fault {
            pool.push(proxy(1, Protocol::Http, faulty(fault).await.0, None));
        }
        pool.push(proxy(2, Protocol::Http, healthy.addr, Some(9)));
        let (c50, c99, cf) = latencies(pool.clone(), origin.addr, true).await;
        let (f50, f99, ff) = latencies(pool, origin.addr, false).await;
        let (bc, bf) = *base.get_or_insert((c99, f99));
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            ms(c50),
            ms(c99),
            ms(c99.saturating_sub(bc)),
            ms(f50),
            ms(f99),
            ms(f99.saturating_sub(bf)),
            cf + ff
        );
    }
    println!();
}

/// Keep-alive plain-HTTP requests per second through `listener`.
async fn keepalive_rps(listener: SocketAddr, origin: SocketAddr) -> f64 {
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..KEEPALIVE_CONNS {
        set.spawn(async move {
            let mut s = TcpStream::connect(listener).await.unwrap();
            let _ = s.set_nodelay(true);
            let request = format!("GET http://{origin}/small HTTP/1.1\r\nHost: {origin}\r\n\r\n");
            let mut buf = Vec::with_capacity(1024);
            let mut chunk = [0u8; 1024];
            for _ in 0..KEEPALIVE_REQS {
                s.write_all(request.as_bytes()).await.unwrap();
                buf.clear();
                while !buf.ends_with(b"ok") {
                    let n = s.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "closed: {}", String::from_utf8_lossy(&buf));
                    buf.extend_from_slice(&chunk[..n]);
                }
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    (KEEPALIVE_CONNS * KEEPALIVE_REQS) as f64 / start.elapsed().as_secs_f64()
}

async fn keepalive_table() {
    let origin = keep_alive_origin(0).await;
    let socks = microsocks("127.0.0.3", "u", "p");
    let http = privoxy();
    println!(
        "### Keep-alive plain HTTP: upstream connection reuse against one connection per request"
    );
    println!();
    println!(
        "{KEEPALIVE_CONNS} client connections × {KEEPALIVE_REQS} sequential GETs each (absolute form), median of 3 runs."
    );
    println!();
    println!("| upstream | reuse req/s | no reuse req/s | ratio |");
    println!("|---|---:|---:|---:|");
    for (name, protocol, addr, login) in [
        ("microsocks (SOCKS5)", Protocol::Socks5, socks.addr, Some(9)),
        ("privoxy (HTTP)", Protocol::Http, http.addr, None),
    ] {
        let mut rates = [Vec::new(), Vec::new()];
        for _ in 0..3 {
            for (i, per_proxy) in [8, 0].into_iter().enumerate() {
                let settings = GatewaySettings {
                    keep_alive: KeepAliveSettings {
                        per_proxy,
                        ..KeepAliveSettings::default()
                    },
                    ..GatewaySettings::default()
                };
                let (gw, listener) = gateway(vec![proxy(1, protocol, addr, login)], settings).await;
                rates[i].push(keepalive_rps(listener, origin).await);
                gw.shutdown(Duration::from_secs(1)).await;
            }
        }
        for r in &mut rates {
            r.sort_by(f64::total_cmp);
        }
        let (with, without) = (rates[0][1], rates[1][1]);
        println!(
            "| {name} | {with:.0} | {without:.0} | {:.2} |",
            with / without
        );
    }
    println!();
}

/// Raises this process's open-file limit to its hard limit.
fn raise_fd_limit() -> u64 {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let hard = limit.maximum;
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: hard,
            maximum: hard,
        },
    );
    hard.unwrap_or(u64::MAX)
}

/// Listeners that each answer any request with `204 No Content` (a proxy
/// forwarding the check's GET), or accept and never answer.
async fn fake_proxies(n: usize, answer: bool) -> Vec<SocketAddr> {
    let mut addrs = Vec::with_capacity(n);
    for _ in 0..n {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(l.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    if read_until(&mut s, &mut buf, has_head).await && answer {
                        let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
                    } else {
                        let mut sink = [0u8; 64];
                        while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
                    }
                });
            }
        });
    }
    addrs
}

fn proc_peak(pid: u32, rss_kb: &mut u64, fds: &mut usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    if let Some(kb) = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    {
        *rss_kb = (*rss_kb).max(kb);
    }
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        *fds = (*fds).max(dir.count());
    }
}

async fn check_table() {
    let hard = raise_fd_limit();
    assert!(
        hard >= 16_384,
        "the open-file hard limit ({hard}) is too low for 10,000 proxies"
    );
    let bin = std::env::var("VIP_BIN").unwrap_or_else(|_| "target/release/vip".into());
    let healthy = fake_proxies(CHECK_PROXIES / 2, true).await;
    let hanging = fake_proxies(CHECK_PROXIES / 4, false).await;
    // Nothing listens on 127.0.2.1: every port refuses.
    let refusing: Vec<String> = (0..CHECK_PROXIES / 4)
        .map(|i| format!("http://127.0.2.1:{}", 20_000 + i))
        .collect();
    let mut lines: Vec<String> = healthy
        .iter()
        .chain(&hanging)
        .map(|a| format!("http://{a}"))
        .collect();
    lines.extend(refusing);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("proxies.txt");
    std::fs::write(&list, lines.join("\n")).unwrap();
    let data = dir.path().to_str().unwrap().to_string();
    let imported = Command::new(&bin)
        .args(["--data-dir", &data, "proxy", "import"])
        .arg(&list)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(imported.success(), "import failed");
    let started = Instant::now();
    let mut child = Command::new(&bin)
        .args(["--data-dir", &data, "proxy", "check", "--all", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (mut rss, mut fds) = (0u64, 0usize);
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut out).unwrap();
        out
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        proc_peak(pid, &mut rss, &mut fds);
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "vip proxy check ran past 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let wall = started.elapsed();
    let out = reader.join().unwrap();
    let reports: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let up = reports
        .as_array()
        .map_or(0, |a| a.iter().filter(|r| r["ok"] == true).count());
    println!("### `vip proxy check --all` over {CHECK_PROXIES} local proxies");
    println!();
    println!(
        "Half answer the check's GET, a quarter refuse, a quarter accept and never answer; default settings (concurrency 1000, 10 s per stage)."
    );
    println!();
    println!("| wall s | up | down | peak RSS MB | peak open files | exit code |");
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {:.1} | {up} | {} | {:.1} | {fds} | {} |",
        wall.as_secs_f64(),
        CHECK_PROXIES - up,
        rss as f64 / 1024.0,
        status.code().unwrap_or(-1)
    );
    println!();
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let only = std::env::var("VIP_BENCH_FAULTS").unwrap_or_default();
    rt.block_on(async {
        if only.is_empty() || only == "latency" {
            latency_table().await;
        }
        if only.is_empty() || only == "keepalive" {
            keepalive_table().await;
        }
        if only.is_empty() || only == "check" {
            check_table().await;
        }
    });
}
