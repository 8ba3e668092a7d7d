//! Gateway against the usual forwarding proxies, all on loopback, in one run:
//! the same workloads with no hop (client → upstream tinyproxy), through
//! `vip gateway`, and through tinyproxy, privoxy and squid chained to the
//! same upstream. Every path runs in each of several rounds (rotating order)
//! and the medians are printed: rates, ratios to no hop within the round,
//! the hop's own CPU time per request and per tunnel, and RSS per idle
//! tunnel. Run with `cargo xtask bench gateway` (installs the peers and
//! builds `vip`); `VIP_BENCH_ONLY=vip` measures only paths whose name
//! contains that text. Every loop is bounded in count.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEEPALIVE_CONNS: usize = 8;
const KEEPALIVE_REQS: usize = 2_000;
const TUNNELS: usize = 1_600;
const TUNNEL_CONCURRENCY: usize = 16;
const BULK_BYTES: u64 = 100 * 1024 * 1024;
const IDLE_TUNNELS: usize = 1_000;
const ROUNDS: usize = 5;

async fn origin() -> SocketAddr {
    vip_testkit::keep_alive_origin(BULK_BYTES).await
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

/// On-CPU time of a process so far: its threads, living and ended, its
/// waited-for children and its living children, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    fn own(pid: u32) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name: state is field 3, utime 14 ... cstime 17.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<u64> = rest
            .split_whitespace()
            .skip(11)
            .take(4)
            .filter_map(|f| f.parse().ok())
            .collect();
        fields.iter().sum()
    }
    own(pid) + children(pid).into_iter().map(own).sum::<u64>()
}

fn children(pid: u32) -> Vec<u32> {
    Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.trim().parse::<u32>().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// One round's figures for one path; `*_cpu_us` is the hop's own CPU time
/// per request or tunnel (absent for no hop).
#[derive(Clone, Copy, Default)]
struct Round {
    keepalive_rps: f64,
    keepalive_cpu_us: f64,
    tunnels_ps: f64,
    tunnel_cpu_us: f64,
    bulk_mbps: f64,
}

async fn keepalive(proxy: SocketAddr, origin: SocketAddr) -> usize {
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
    KEEPALIVE_CONNS * KEEPALIVE_REQS
}

async fn new_tunnels(proxy: SocketAddr, origin: SocketAddr) -> usize {
    let mut set = tokio::task::JoinSet::new();
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
    per * TUNNEL_CONCURRENCY
}

async fn bulk(proxy: SocketAddr, origin: SocketAddr) -> f64 {
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
    BULK_BYTES as f64 / 1e6 / start.elapsed().as_secs_f64()
}

/// Runs `work` and returns (operations per second, hop CPU µs per operation).
async fn timed<F: std::future::Future<Output = usize>>(
    hop: Option<u32>,
    tick_us: f64,
    work: F,
) -> (f64, f64) {
    let cpu = hop.map_or(0, cpu_ticks);
    let start = Instant::now();
    let n = work.await as f64;
    let rate = n / start.elapsed().as_secs_f64();
    let used = hop.map_or(0, cpu_ticks).saturating_sub(cpu) as f64;
    (rate, used * tick_us / n)
}

async fn round(proxy: SocketAddr, origin: SocketAddr, hop: Option<u32>, tick_us: f64) -> Round {
    let (keepalive_rps, keepalive_cpu_us) = timed(hop, tick_us, keepalive(proxy, origin)).await;
    let (tunnels_ps, tunnel_cpu_us) = timed(hop, tick_us, new_tunnels(proxy, origin)).await;
    Round {
        keepalive_rps,
        keepalive_cpu_us,
        tunnels_ps,
        tunnel_cpu_us,
        bulk_mbps: bulk(proxy, origin).await,
    }
}

/// RSS growth of the hop per idle tunnel, at `IDLE_TUNNELS` tunnels:
/// fresh ones, or (`used`) ones that each carried one GET first.
async fn idle_kb(proxy: SocketAddr, origin: SocketAddr, pid: u32, used: bool) -> f64 {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kb(pid);
    let mut idle = Vec::with_capacity(IDLE_TUNNELS);
    for _ in 0..IDLE_TUNNELS {
        let mut s = tunnel(proxy, origin).await;
        if used {
            get_small(&mut s).await;
        }
        idle.push(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kb(pid);
    drop(idle);
    (after - before) as f64 / IDLE_TUNNELS as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Resident memory of a process and its children (squid and privoxy fork).
fn rss_kb(pid: u32) -> i64 {
    let mut total = 0;
    let mut pids = vec![pid];
    pids.extend(children(pid));
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
    let tick_us = 1e6 / clock_ticks_per_second();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let origin = origin().await;
        let (_upstream_proc, upstream) = tinyproxy(dir.path(), "upstream", None);
        let only = std::env::var("VIP_BENCH_ONLY").unwrap_or_default();
        let starters: Vec<(&str, Starter)> = vec![
            ("vip gateway", Box::new(move || vip(upstream))),
            ("tinyproxy", Box::new({ let d = dir.path().to_path_buf(); move || tinyproxy(&d, "hop", Some(upstream)) })),
            ("privoxy", Box::new({ let d = dir.path().to_path_buf(); move || privoxy(&d, upstream) })),
            ("squid", Box::new({ let d = dir.path().to_path_buf(); move || squid(&d, upstream) })),
        ];
        // Every path is measured in every round, in a rotating order, so the
        // machine's drift falls on all of them alike; ratios are taken
        // within a round, then the median over rounds is printed.
        let starters: Vec<(&str, Starter)> =
            starters.into_iter().filter(|(n, _)| n.contains(only.as_str())).collect();
        let mut paths: Vec<(&str, SocketAddr, Option<Proc>)> = vec![("no hop (client → upstream)", upstream, None)];
        for (name, start) in &starters {
            let (p, addr) = start();
            paths.push((name, addr, Some(p)));
        }
        let mut rounds: Vec<Vec<Round>> = vec![Vec::new(); paths.len()];
        for r in 0..ROUNDS {
            for k in 0..paths.len() {
                let i = (k + r) % paths.len();
                let (_, addr, p) = &paths[i];
                let got = round(*addr, origin, p.as_ref().map(|p| p.0.id()), tick_us).await;
                rounds[i].push(got);
            }
            eprintln!("round {} of {ROUNDS} done", r + 1);
        }
        println!("Medians over {ROUNDS} rounds; each ratio is taken against no hop in the same round. CPU is the hop's own on-CPU time.");
        println!();
        println!("| path | keep-alive req/s | ratio | CPU µs/req | new tunnels/s | ratio | CPU µs/tunnel | bulk MB/s | ratio | KB per idle tunnel (fresh) | (after one GET) |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (i, (name, addr, p)) in paths.iter().enumerate() {
            let ratio = |f: fn(&Round) -> f64| {
                median(rounds[i].iter().zip(&rounds[0]).map(|(a, b)| f(a) / f(b)).collect())
            };
            let med = |f: fn(&Round) -> f64| median(rounds[i].iter().map(f).collect());
            // Idle memory in a hop started for it (one per measure): memory
            // a hop freed earlier would otherwise be reused and hide growth.
            let idle_in_new = |used: bool| {
                let (p, addr) = (starters[i - 1].1)();
                async move { idle_kb(addr, origin, p.0.id(), used).await }
            };
            let _ = addr;
            let (cpu_req, cpu_tunnel, kb, kb_used) = match p {
                None => ("-".to_string(), "-".to_string(), "-".to_string(), "-".to_string()),
                Some(_) => (
                    format!("{:.1}", med(|r| r.keepalive_cpu_us)),
                    format!("{:.0}", med(|r| r.tunnel_cpu_us)),
                    format!("{:.1}", idle_in_new(false).await),
                    format!("{:.1}", idle_in_new(true).await),
                ),
            };
            println!(
                "| {name} | {:.0} | {:.2} | {cpu_req} | {:.0} | {:.2} | {cpu_tunnel} | {:.0} | {:.2} | {kb} | {kb_used} |",
                med(|r| r.keepalive_rps),
                ratio(|r| r.keepalive_rps),
                med(|r| r.tunnels_ps),
                ratio(|r| r.tunnels_ps),
                med(|r| r.bulk_mbps),
                ratio(|r| r.bulk_mbps),
            );
        }
    });
}
