//! Real headless Chromium: WebRTC gathers no interface address and sends
//! nothing to a STUN server under the default policy (while Chromium's own
//! default does contact it, so the check can fail), `disable` removes the
//! API, and an EasyPrivacy URL requested by a page is refused before any
//! connection while a first-party resource loads; the tab counts it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use vip_browser::WebRtcPolicy;
use vip_privacy::{Blocklist, DEBIAN_LISTS};
use vip_testkit::Site;

/// A UDP "STUN server" that records every datagram's sender.
async fn stun() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((_, from)) = socket.recv_from(&mut buf).await {
            log.lock().unwrap().push(from.to_string());
        }
    });
    (addr, seen)
}

fn gather(stun: std::net::SocketAddr) -> String {
    gather_from(&format!("stun:{stun}"))
}

fn gather_from(stun: &str) -> String {
    format!(
        "(async () => {{
            if (typeof RTCPeerConnection === 'undefined') return ['no-api'];
            const pc = new RTCPeerConnection({{iceServers: [{{urls: '{stun}'}}]}});
            const found = [];
            pc.onicecandidate = e => {{ if (e.candidate && e.candidate.candidate) found.push(e.candidate.candidate); }};
            pc.createDataChannel('probe');
            await pc.setLocalDescription(await pc.createOffer());
            await new Promise(r => {{
                const t = setTimeout(r, 3000);
                pc.onicegatheringstatechange = () => {{ if (pc.iceGatheringState === 'complete') {{ clearTimeout(t); r(); }} }};
            }});
            const sdp = pc.localDescription.sdp;
            pc.close();
            return found.concat(sdp.split('\\r\\n').filter(l => l.startsWith('a=candidate') || l.startsWith('c=')));
        }})()"
    )
}

fn has_address(lines: &[String]) -> Option<String> {
    lines
        .iter()
        .find(|l| {
            l.split_whitespace().any(|w| {
                w.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| !ip.is_unspecified())
            })
        })
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_reveals_no_address_and_contacts_no_stun_server() {
    let site = Site::start(vec![("/", "text/html", "<p>rtc</p>".to_string())]).await;
    let url = format!("http://127.0.0.1:{}/", site.addr.port());
    let (server, received) = stun().await;

    let strict = rig(WebRtcPolicy::DisableNonProxiedUdp).await;
    let id = strict.identity(1, 1, "US").await;
    let tab = strict.open(&id, &url).await;
    let lines: Vec<String> =
        serde_json::from_value(strict.eval(&tab, &gather(server)).await).unwrap();
    assert_eq!(has_address(&lines), None, "{lines:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        received.lock().unwrap().is_empty(),
        "STUN server was contacted"
    );
    strict.stop().await;

    // `disable` removes the API from the identity's pages.
    let (off, id) = rig_with_policy(WebRtcPolicy::Disable).await;
    let tab = off.open(&id, &url).await;
    let lines: Vec<String> = serde_json::from_value(off.eval(&tab, &gather(server)).await).unwrap();
    assert_eq!(lines, vec!["no-api".to_string()]);
    off.stop().await;

    // Chromium's own default does contact the STUN server: the check above can fail.
    let lax = rig(WebRtcPolicy::Default).await;
    let id = lax.identity(1, 1, "US").await;
    let tab = lax.open(&id, &url).await;
    let _ = lax.eval(&tab, &gather(server)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !received.lock().unwrap().is_empty(),
        "default policy should reach the STUN server"
    );
    lax.stop().await;
}

/// Which host names Chromium resolved, from its NetLog.
fn resolved_in(netlog: &std::path::Path, needle: &str) -> bool {
    std::fs::read_to_string(netlog)
        .unwrap_or_default()
        .contains(needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stun_host_names_are_not_resolved_locally() {
    let site = Site::start(vec![("/", "text/html", "<p>rtc</p>".to_string())]).await;
    let url = format!("http://127.0.0.1:{}/", site.addr.port());
    let logs = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for (policy, name) in [
        (WebRtcPolicy::DisableNonProxiedUdp, "strict"),
        (WebRtcPolicy::Default, "lax"),
    ] {
        let netlog = logs.path().join(format!("{name}.json"));
        let rig = rig_with_args(policy, vec![format!("--log-net-log={}", netlog.display())]).await;
        let id = rig.identity(1, 1, "US").await;
        let tab = rig.open(&id, &url).await;
        let host = format!("stun-{name}.vip-probe.test");
        let probe = gather_from(&format!("stun:{host}:3478"));
        let _ = rig.eval(&tab, &probe).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        rig.stop().await;
        seen.push(resolved_in(&netlog, &host));
    }
    // The default policy never looks the name up; Chromium's own does, so
    // the check can fail.
    assert_eq!(seen, vec![false, true]);
}

async fn rig_with_policy(policy: WebRtcPolicy) -> (Rig, vip_browser::ContextId) {
    let rig = rig(policy).await;
    let addr = vip_testkit::listen(
        &rig.gateway,
        vip_gateway::Assignment::Pinned(vip_engine::ProxyId(1)),
    )
    .await;
    let setup = vip_browser::IdentitySetup {
        profile: vip_browser::Profile::new([9; 32], Some("US"), policy),
        protect: true,
        blocklist: None,
    };
    let id = rig.browser.new_context(addr, setup).await.unwrap();
    (rig, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trackers_are_refused_inside_the_page_and_counted() {
    let page = "<!doctype html><script src=\"/app.js\"></script>\
                <script src=\"/matomo.js\"></script><img src=\"/pixel.gif?u=1\">";
    let site = Site::start(vec![
        ("/", "text/html", page.to_string()),
        ("/app.js", "text/javascript", "window.app = 1;".to_string()),
        (
            "/matomo.js",
            "text/javascript",
            "window.tracked = 1;".to_string(),
        ),
    ])
    .await;
    let url = format!("http://127.0.0.1:{}/", site.addr.port());
    let list = Arc::new(
        Blocklist::from_files(&DEBIAN_LISTS).expect("cargo xtask test installs the lists"),
    );
    let rig = rig(WebRtcPolicy::default()).await;
    let id = rig
        .identity_with(1, 1, "US", true, Some(list.clone()))
        .await;
    let tab = rig.open(&id, &url).await;
    assert_eq!(
        rig.eval(&tab, "[window.app, window.tracked]").await,
        serde_json::json!([1, null])
    );
    let paths: Vec<String> = site.requests().into_iter().map(|s| s.path).collect();
    assert!(paths.contains(&"/app.js".to_string()), "{paths:?}");
    assert!(
        !paths
            .iter()
            .any(|p| p.starts_with("/matomo.js") || p.starts_with("/pixel.gif")),
        "a tracker reached the network: {paths:?}"
    );
    assert_eq!(rig.browser.tab(&tab).unwrap().blocked, 2);
    rig.stop().await;
}
