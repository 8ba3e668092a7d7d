//! Tracker blocking in the gateway with Debian's EasyList and EasyPrivacy: a
//! tracker host is refused with a clear response and never dialled (not even
//! the upstream proxy hears of it); an allowlisted one passes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vip_engine::{HealthSettings, Protocol};
use vip_gateway::{Assignment, Gateway, GatewaySettings};
use vip_privacy::{Blocklist, DEBIAN_LISTS};
use vip_testkit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trackers_are_refused_before_any_dial() {
    let dials = Arc::new(Mutex::new(0usize));
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    let counter = dials.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = upstream.accept().await {
            *counter.lock().unwrap() += 1;
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        }
    });
    let list = Blocklist::from_files(&DEBIAN_LISTS)
        .expect("cargo xtask test installs the lists")
        .allow_domain("scorecardresearch.com");
    let list = Arc::new(list);
    let engine = engine(
        vec![proxy(1, Protocol::Http, upstream_addr, None)],
        r#"{"name":"rr","strategy":"round-robin"}"#,
        HealthSettings::default(),
    );
    let settings = GatewaySettings {
        blocklist: Some(list.clone()),
        ..GatewaySettings::default()
    };
    let sink = Arc::new(Collect::default());
    let gateway = Gateway::new(engine, logins(&[]), sink.clone(), settings);
    let l = listen(&gateway, Assignment::Rotation(vip_engine::ConfigId(1))).await;
    let refused = via_connect(l, "www.google-analytics.com", 443)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.starts_with("HTTP/1.1 403 Forbidden"), "{refused}");
    assert!(
        refused.contains("blocked as a tracker by the filter lists"),
        "{refused}"
    );
    let mut s = TcpStream::connect(l).await.unwrap();
    s.write_all(b"GET http://www.google-analytics.com/analytics.js HTTP/1.1\r\nHost: www.google-analytics.com\r\n\r\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
    let socks = via_socks5(l, "pixel.quantserve.com", 443).await;
    assert!(matches!(socks, Err(Refused::Socks(2))), "{socks:?}");
    assert_eq!(
        *dials.lock().unwrap(),
        0,
        "no blocked host reached the upstream"
    );
    assert_eq!(list.blocked(), 3);
    // Each is reported to the sink: the host, and the URL where it is seen.
    let url = "http://www.google-analytics.com/analytics.js".to_string();
    assert_eq!(
        *sink.blocked.lock().unwrap(),
        [
            ("www.google-analytics.com".to_string(), None),
            ("www.google-analytics.com".to_string(), Some(url)),
            ("pixel.quantserve.com".to_string(), None),
        ]
    );
    // Allowlisted: dialled (the fake upstream then refuses, which is fine).
    let passed = via_connect(l, "b.scorecardresearch.com", 443)
        .await
        .unwrap_err()
        .to_string();
    assert!(passed.starts_with("HTTP/1.1 502"), "{passed}");
    assert_eq!(*dials.lock().unwrap(), 1);
    gateway.shutdown(Duration::from_secs(1)).await;
}
