//! Test fixtures shared by the suites: an origin server that answers with the address each
//! connection came from, real Debian proxies (tinyproxy, microsocks) started
//! on loopback with their outgoing connections bound to distinct 127.0.0.x
//! addresses, a collecting event sink, and a client for both inbound
//! protocols.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod faults;
mod site;
pub use faults::{Counts, Fault, faulty, reset_on_close};
pub use site::{Seen, Site};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vip_engine::{
    CredentialRef, HealthSettings, PoolSnapshot, Protocol, Proxy, ProxyId, RotationConfig,
    RotationEvent,
};
use vip_gateway::{ConnectionRecord, EventSink};
use vip_model::Secret;

/// Where the HTTP head at the start of `buf` ends (just past its blank line).
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Whether `buf` holds a whole HTTP head.
pub fn has_head(buf: &[u8]) -> bool {
    head_end(buf).is_some()
}

/// Reads from `s` into `buf` until `done(buf)`; false if the peer closed
/// (or failed) first.
pub async fn read_until<R: tokio::io::AsyncRead + Unpin>(
    s: &mut R,
    buf: &mut Vec<u8>,
    done: impl Fn(&[u8]) -> bool,
) -> bool {
    let mut chunk = [0u8; 4096];
    while !done(buf) {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    true
}

/// An HTTP origin on 127.0.0.1 whose body is the peer IP it saw.
pub struct Origin {
    pub addr: SocketAddr,
    pub peers: Arc<Mutex<Vec<String>>>,
}

impl Origin {
    pub async fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let peers = Arc::new(Mutex::new(Vec::new()));
        let seen = peers.clone();
        tokio::spawn(async move {
            while let Ok((mut s, peer)) = listener.accept().await {
                seen.lock().unwrap().push(peer.ip().to_string());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    if !read_until(&mut s, &mut buf, has_head).await {
                        return;
                    }
                    // Take the whole request body before answering, as a
                    // well-behaved origin does (Content-Length or chunked).
                    let end = head_end(&buf).unwrap();
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let length: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    let chunked = head.contains("transfer-encoding: chunked");
                    let complete = |b: &[u8]| {
                        let body = &b[end..];
                        if chunked {
                            (body.starts_with(b"0\r\n")
                                || body.windows(5).any(|w| w == b"\r\n0\r\n"))
                                && body.ends_with(b"\r\n\r\n")
                        } else {
                            body.len() >= length
                        }
                    };
                    if !read_until(&mut s, &mut buf, complete).await {
                        return;
                    }
                    let body = peer.ip().to_string();
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        Origin { addr, peers }
    }
}

/// An origin that keeps connections open for the benchmarks: `GET /bulk`
/// gets `bulk_bytes` zeros, any other request `ok` (Content-Length framed).
pub async fn keep_alive_origin(bulk_bytes: u64) -> SocketAddr {
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
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {bulk_bytes}\r\n\r\n")
                                .as_bytes(),
                        )
                        .await
                        .is_err()
                        {
                            return;
                        }
                        let zeros = vec![0u8; 64 * 1024];
                        let mut left = bulk_bytes;
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

/// A child process killed on drop.
pub struct Peer {
    pub addr: SocketAddr,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn require(binary: &str, package: &str) {
    assert!(
        Command::new("sh")
            .args(["-c", &format!("command -v {binary}")])
            .output()
            .unwrap()
            .status
            .success(),
        "{binary} is missing: install the Debian package {package} (cargo xtask test does)"
    );
}

fn wait_ready(addr: SocketAddr, child: &mut Child) {
    let start = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "peer exited early");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "peer not ready on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// tinyproxy with Basic auth, outgoing connections from `bind`.
pub fn tinyproxy(bind: &str, user: &str, pass: &str) -> Peer {
    require("tinyproxy", "tinyproxy");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("tinyproxy.conf");
    std::fs::write(
        &conf,
        format!(
            "Port {port}\nListen 127.0.0.1\nBind {bind}\nTimeout 30\nMaxClients 500\nAllow 127.0.0.0/8\n\
             BasicAuth {user} {pass}\nDisableViaHeader Yes\nLogLevel Critical\n"
        ),
    )
    .unwrap();
    start_peer(
        Command::new("tinyproxy").args(["-d", "-c"]).arg(&conf),
        port,
        dir,
    )
}

/// privoxy as a plain forwarding proxy (no filtering, no auth) that keeps
/// client and server connections alive.
pub fn privoxy() -> Peer {
    require("privoxy", "privoxy");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let conf = dir.path().join("privoxy.conf");
    std::fs::write(
        &conf,
        format!(
            "listen-address 127.0.0.1:{port}\ntoggle 0\nkeep-alive-timeout 60\n\
             default-server-timeout 60\nconnection-sharing 1\nlogdir {}\n",
            dir.path().display()
        ),
    )
    .unwrap();
    start_peer(
        Command::new("privoxy").arg("--no-daemon").arg(&conf),
        port,
        dir,
    )
}

/// Starts `cmd`, which listens on 127.0.0.1:`port`, and waits until it accepts.
fn start_peer(cmd: &mut Command, port: u16, dir: tempfile::TempDir) -> Peer {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_ready(addr, &mut child);
    Peer {
        addr,
        child,
        _dir: dir,
    }
}

/// microsocks (SOCKS5) with username/password, outgoing from `bind`.
pub fn microsocks(bind: &str, user: &str, pass: &str) -> Peer {
    require("microsocks", "microsocks");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let port_text = port.to_string();
    let args = [
        "-i",
        "127.0.0.1",
        "-p",
        &port_text,
        "-u",
        user,
        "-P",
        pass,
        "-b",
        bind,
    ];
    start_peer(Command::new("microsocks").args(args), port, dir)
}

/// A virtual X display (Xvfb) for tests of windows and keys; killed on drop.
pub struct Display {
    /// The `DISPLAY` value, `:N`.
    pub name: String,
    child: Child,
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Display {
    /// Starts Xvfb on the first free display number from 90 and waits
    /// until it takes clients.
    pub fn start() -> Display {
        require("Xvfb", "xvfb");
        require("xdotool", "xdotool");
        for n in 90..190 {
            if std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                || std::path::Path::new(&format!("/tmp/.X{n}-lock")).exists()
            {
                continue;
            }
            let name = format!(":{n}");
            let mut child = Command::new("Xvfb")
                .args([
                    name.as_str(),
                    "-screen",
                    "0",
                    "1280x800x24",
                    "-nolisten",
                    "tcp",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                    return Display { name, child };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("no X display could be started (Xvfb)");
    }

    /// Runs `xdotool ARGS` on this display; returns what it printed.
    pub fn xdotool(&self, args: &[&str]) -> String {
        let out = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.name)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "xdotool {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// A pool entry for a proxy at `addr`.
pub fn proxy(id: u64, protocol: Protocol, addr: SocketAddr, credential: Option<u64>) -> Proxy {
    let mut p = Proxy::new(id, &addr.ip().to_string(), addr.port());
    p.protocol = protocol;
    p.credential = credential.map(CredentialRef);
    p
}

/// An engine over `proxies` with one rotation (id 1) from `config`.
pub fn engine(proxies: Vec<Proxy>, config: &str, health: HealthSettings) -> vip_engine::Engine {
    let mut engine = vip_engine::Engine::new(PoolSnapshot::new(proxies).unwrap(), health);
    let mut c = RotationConfig::from_json(config).unwrap();
    c.id = vip_engine::ConfigId(1);
    engine.set_rotation(c, vip_gateway::now());
    engine
}

/// Logins by credential reference.
pub fn logins(entries: &[(u64, &str, &str)]) -> Arc<HashMap<CredentialRef, (Secret, Secret)>> {
    Arc::new(
        entries
            .iter()
            .map(|(id, u, p)| (CredentialRef(*id), (Secret::new(*u), Secret::new(*p))))
            .collect(),
    )
}

/// Collects everything the gateway reports.
#[derive(Default)]
pub struct Collect {
    pub connections: Mutex<Vec<ConnectionRecord>>,
    pub rotations: Mutex<Vec<RotationEvent>>,
    pub attempts: Mutex<Vec<(ProxyId, vip_gateway::AttemptEvent)>>,
    /// Blocked requests: host and, for plain HTTP, the URL.
    pub blocked: Mutex<Vec<(String, Option<String>)>>,
}

impl EventSink for Collect {
    fn connection(&self, r: ConnectionRecord) {
        self.connections.lock().unwrap().push(r);
    }
    fn rotation(&self, e: Vec<RotationEvent>) {
        self.rotations.lock().unwrap().extend(e);
    }
    fn attempt(&self, proxy: ProxyId, event: vip_gateway::AttemptEvent, _: vip_engine::Timestamp) {
        self.attempts.lock().unwrap().push((proxy, event));
    }
    fn blocked(&self, _: Option<vip_engine::TabId>, host: &str, url: Option<&str>) {
        let entry = (host.to_string(), url.map(str::to_string));
        self.blocked.lock().unwrap().push(entry);
    }
}

impl Collect {
    /// How many times `event` was counted for `proxy`.
    pub fn counted(&self, proxy: u64, event: vip_gateway::AttemptEvent) -> usize {
        self.attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, e)| p.0 == proxy && *e == event)
            .count()
    }

    pub fn ok_by_proxy(&self) -> HashMap<Option<ProxyId>, usize> {
        let mut m = HashMap::new();
        for r in self.connections.lock().unwrap().iter().filter(|r| r.ok) {
            *m.entry(r.proxy).or_default() += 1;
        }
        m
    }
}

/// Everything `s` sends until it closes; panics with `what` if it does not
/// close within 5 s.
pub async fn read_to_close<R: tokio::io::AsyncRead + Unpin>(s: &mut R, what: &str) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap_or_else(|_| panic!("not closed within 5 s: {what}"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    String::from_utf8_lossy(&out).into_owned()
}

async fn read_all(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn body(response: &str) -> String {
    response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// Why a request through the gateway got no origin body.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// A socket error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The gateway closed before its answer was complete (what came).
    #[error("closed: {0}")]
    Closed(String),
    /// The gateway answered CONNECT with this non-200 response.
    #[error("{0}")]
    Http(String),
    /// The gateway's SOCKS5 reply code.
    #[error("SOCKS5 reply {0}")]
    Socks(u8),
}

/// GET through the gateway's HTTP CONNECT; returns the origin's body.
pub async fn via_connect(gateway: SocketAddr, host: &str, port: u16) -> Result<String, Refused> {
    let mut s = TcpStream::connect(gateway).await?;
    s.write_all(
        format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await? == 0 {
            return Err(Refused::Closed(String::from_utf8_lossy(&head).into_owned()));
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    if !head.starts_with("HTTP/1.1 200") {
        let rest = read_all(&mut s).await;
        return Err(Refused::Http(format!("{head}{rest}")));
    }
    s.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await?;
    Ok(body(&read_all(&mut s).await))
}

/// GET in absolute form through the gateway; returns the whole response.
pub async fn via_forward(gateway: SocketAddr, host: &str, port: u16) -> String {
    let mut s = TcpStream::connect(gateway).await.unwrap();
    s.write_all(format!("GET http://{host}:{port}/x?y=1 HTTP/1.1\r\nHost: {host}:{port}\r\nProxy-Connection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    read_all(&mut s).await
}

/// GET through the gateway's SOCKS5 (host sent as a name unless an IP).
pub async fn via_socks5(gateway: SocketAddr, host: &str, port: u16) -> Result<String, Refused> {
    let mut s = TcpStream::connect(gateway).await?;
    s.write_all(&[5, 1, 0]).await?;
    let mut choice = [0u8; 2];
    s.read_exact(&mut choice).await?;
    let mut req = vec![5, 1, 0];
    match host.parse::<std::net::Ipv4Addr>() {
        Ok(ip) => {
            req.push(1);
            req.extend_from_slice(&ip.octets());
        }
        Err(_) => {
            req.push(3);
            req.push(host.len() as u8);
            req.extend_from_slice(host.as_bytes());
        }
    }
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).await?;
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).await?;
    if reply[1] != 0 {
        return Err(Refused::Socks(reply[1]));
    }
    s.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes())
        .await?;
    Ok(body(&read_all(&mut s).await))
}

/// A GeoLite2-format database (IPv4) mapping single addresses to
/// `{"country": {"iso_code": CC}}`, written with the `maxminddb-writer`
/// crate so geolocation can be tested without downloading a database.
pub fn mmdb(entries: &[(std::net::Ipv4Addr, &str)]) -> Vec<u8> {
    let entries: Vec<_> = entries.iter().map(|(ip, cc)| (*ip, *cc, None)).collect();
    write_mmdb(&entries, "GeoLite2-Country")
}

/// [`mmdb`] in the City shape: each address also has
/// `{"location": {"time_zone": TZ}}`.
pub fn mmdb_city(entries: &[(std::net::Ipv4Addr, &str, &str)]) -> Vec<u8> {
    let entries: Vec<_> = entries
        .iter()
        .map(|(ip, cc, tz)| (*ip, *cc, Some(*tz)))
        .collect();
    write_mmdb(&entries, "GeoLite2-City")
}

fn write_mmdb(entries: &[(std::net::Ipv4Addr, &str, Option<&str>)], kind: &str) -> Vec<u8> {
    use maxminddb_writer::Database;
    use maxminddb_writer::paths::IpAddrWithMask;
    #[derive(serde::Serialize)]
    struct Country<'a> {
        iso_code: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Location<'a> {
        time_zone: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Record<'a> {
        country: Country<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        location: Option<Location<'a>>,
    }
    let mut db = Database::default();
    db.metadata.database_type = kind.to_string();
    db.metadata.languages = vec!["en".to_string()];
    db.metadata.binary_format_major_version = 2;
    for (ip, cc, tz) in entries {
        let record = Record {
            country: Country { iso_code: cc },
            location: tz.map(|time_zone| Location { time_zone }),
        };
        let data = db.insert_value(record).expect("a record serializes");
        db.insert_node(IpAddrWithMask::new((*ip).into(), 32), data);
    }
    db.write_to(Vec::new()).expect("writing to memory")
}

/// `n` distinct proxies on loopback addresses (127.1.0.1 upward, ports
/// 10000 upward), one `host:port` per line: a large list that a daemon's
/// health checks may dial without leaving the machine.
pub fn loopback_list(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "127.{}.{}.{}:{}\n",
                1 + i / 65_000,
                (i / 250) % 250,
                1 + i % 250,
                10_000 + i % 50_000
            )
        })
        .collect()
}

/// A gateway over `engine` with these logins and a collecting sink.
pub fn collecting(
    engine: vip_engine::Engine,
    credentials: &[(u64, &str, &str)],
    settings: vip_gateway::GatewaySettings,
) -> (vip_gateway::Gateway, Arc<Collect>) {
    let sink = Arc::new(Collect::default());
    let gateway = vip_gateway::Gateway::new(engine, logins(credentials), sink.clone(), settings);
    (gateway, sink)
}

/// A gateway over `pool` (rotation 1 from `config`) with one listener on a
/// free loopback port and a collecting sink.
pub struct Running {
    pub gateway: vip_gateway::Gateway,
    pub sink: Arc<Collect>,
    pub addr: SocketAddr,
}

/// Starts a [`Running`] gateway whose listener uses `assignment`.
pub async fn start_gateway(
    pool: Vec<Proxy>,
    config: &str,
    credentials: &[(u64, &str, &str)],
    settings: vip_gateway::GatewaySettings,
    assignment: vip_gateway::Assignment,
) -> Running {
    let (gateway, sink) = collecting(
        engine(pool, config, HealthSettings::default()),
        credentials,
        settings,
    );
    let addr = listen(&gateway, assignment).await;
    Running {
        gateway,
        sink,
        addr,
    }
}

/// Serves `assignment` on a free loopback port of `gateway`; returns the address.
pub async fn listen(
    gateway: &vip_gateway::Gateway,
    assignment: vip_gateway::Assignment,
) -> SocketAddr {
    let spec = vip_gateway::ListenerSpec {
        assignment,
        tab: None,
        auth: None,
        budget: None,
    };
    gateway
        .listen("127.0.0.1:0".parse().unwrap(), spec)
        .await
        .unwrap()
        .addr
}

/// The rotation loaded by [`engine`].
pub const ROTATION: vip_engine::ConfigId = vip_engine::ConfigId(1);
