//! HTTPS upstream proxies: TLS to the proxy (here a TLS front written in the
//! test, with a certificate made by rcgen, in front of a real tinyproxy),
//! verified against the configured roots; an unverifiable certificate fails
//! the attempt as the proxy's fault instead of connecting anyway.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use vip_engine::{FailureKind, HealthSettings, Protocol, ProxyId};
use vip_gateway::upstream::Tls;
use vip_gateway::{Assignment, Gateway, GatewaySettings, ListenerSpec};
use vip_testkit::*;

/// A TLS front on 127.0.0.1 forwarding to `backend`; returns its address and certificate.
async fn tls_front(backend: SocketAddr) -> (SocketAddr, CertificateDer<'static>) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut up = TcpStream::connect(backend).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (addr, cert)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_the_proxy_verified_against_the_configured_roots() {
    let origin = Origin::start().await;
    let backend = tinyproxy("127.0.0.2", "u", "p");
    let (front, cert) = tls_front(backend.addr).await;
    let pool = || vec![proxy(1, Protocol::Https, front, Some(1))];
    let spec = ListenerSpec {
        assignment: Assignment::Pinned(ProxyId(1)),
        tab: None,
        auth: None,
        budget: None,
    };
    let port = origin.addr.port();

    let trusted = GatewaySettings {
        tls: Tls::with_roots(vec![cert]),
        ..GatewaySettings::default()
    };
    let engine_ok = engine(
        pool(),
        r#"{"name":"rr","strategy":"round-robin"}"#,
        HealthSettings::default(),
    );
    let gateway = Gateway::new(
        engine_ok,
        logins(&[(1, "u", "p")]),
        Arc::new(Collect::default()),
        trusted,
    );
    let l = gateway
        .listen("127.0.0.1:0".parse().unwrap(), spec.clone())
        .await
        .unwrap();
    assert_eq!(
        via_connect(l.addr, "127.0.0.1", port).await.unwrap(),
        "127.0.0.2"
    );
    assert_eq!(
        via_socks5(l.addr, "localhost", port).await.unwrap(),
        "127.0.0.2"
    );
    let forwarded = via_forward(l.addr, "127.0.0.1", port).await;
    assert!(
        forwarded.starts_with("HTTP/1.1 200") && forwarded.ends_with("127.0.0.2"),
        "{forwarded}"
    );
    gateway.shutdown(Duration::from_secs(1)).await;

    // Mozilla's roots alone do not trust the test certificate.
    let sink = Arc::new(Collect::default());
    let engine_bad = engine(
        pool(),
        r#"{"name":"rr","strategy":"round-robin"}"#,
        HealthSettings::default(),
    );
    let gateway = Gateway::new(
        engine_bad,
        logins(&[(1, "u", "p")]),
        sink.clone(),
        GatewaySettings::default(),
    );
    let l = gateway
        .listen("127.0.0.1:0".parse().unwrap(), spec)
        .await
        .unwrap();
    let err = via_connect(l.addr, "127.0.0.1", port)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("502") && err.contains("TLS handshake failed"),
        "{err}"
    );
    let failures: Vec<_> = sink
        .connections
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.failure)
        .collect();
    assert_eq!(failures, vec![Some(FailureKind::ProxyProtocol)]);
    gateway.shutdown(Duration::from_secs(1)).await;
}
