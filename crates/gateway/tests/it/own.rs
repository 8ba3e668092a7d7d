//! vip's own listeners are out of a tab's reach: a port marked with
//! `protect_port` (the control API's, DevTools') and every gateway listener
//! refuse tab traffic by CONNECT, SOCKS5 and plain HTTP, directly and
//! through a real upstream (microsocks, which would otherwise dial this
//! machine for the page), by address and by `localhost`. Other local ports
//! stay reachable from tabs, and a listener that serves no tab (the user's
//! own `--listen`) is not restricted.

use std::sync::Arc;

use vip_engine::{HealthSettings, ProxyId, TabId};
use vip_gateway::{Assignment, Gateway, GatewaySettings, ListenerSpec};
use vip_testkit::*;

fn spec(assignment: Assignment, tab: Option<u64>) -> ListenerSpec {
    ListenerSpec {
        assignment,
        tab: tab.map(TabId),
        auth: None,
        budget: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tabs_cannot_reach_vips_own_listeners() {
    let api = Origin::start().await;
    let other = Origin::start().await;
    let socks = microsocks("127.0.0.1", "u", "p-secret");
    let pool = vec![proxy(1, vip_engine::Protocol::Socks5, socks.addr, Some(1))];
    let engine = engine(
        pool,
        r#"{"name":"rr","strategy":"round-robin"}"#,
        HealthSettings::default(),
    );
    let gateway = Gateway::new(
        engine,
        logins(&[(1, "u", "p-secret")]),
        Arc::new(Collect::default()),
        GatewaySettings::default(),
    );
    gateway.protect_port(api.addr.port());
    let any = "127.0.0.1:0".parse().unwrap();
    let direct_tab = gateway
        .listen(any, spec(Assignment::Direct, Some(1)))
        .await
        .unwrap();
    let proxied_tab = gateway
        .listen(any, spec(Assignment::Pinned(ProxyId(1)), Some(2)))
        .await
        .unwrap();
    let main = gateway
        .listen(any, spec(Assignment::Direct, None))
        .await
        .unwrap();
    let (api_port, gateway_port) = (api.addr.port(), main.addr.port());

    for tab in [direct_tab.addr, proxied_tab.addr] {
        for (host, port) in [
            ("127.0.0.1", api_port),
            ("localhost", api_port),
            ("LOCALHOST.", api_port),
            ("127.0.0.2", api_port),
            ("0.0.0.0", api_port),
            ("[::1]", api_port),
            ("[::ffff:127.0.0.1]", api_port),
            ("127.0.0.1", gateway_port),
        ] {
            let refused = via_connect(tab, host, port).await.unwrap_err().to_string();
            assert!(
                refused.starts_with("HTTP/1.1 403") && refused.contains("vip's own listeners"),
                "CONNECT {host}:{port} from a tab: {refused}"
            );
        }
        let refused = via_socks5(tab, "127.0.0.1", api_port).await.unwrap_err();
        assert!(
            matches!(refused, Refused::Socks(2)),
            "SOCKS5 from a tab: {refused}"
        );
        let forwarded = via_forward(tab, "localhost", api_port).await;
        assert!(
            forwarded.starts_with("HTTP/1.1 403"),
            "GET from a tab: {forwarded}"
        );
        // Any other port of this machine is a page's business.
        assert_eq!(
            via_connect(tab, "127.0.0.1", other.addr.port())
                .await
                .unwrap(),
            "127.0.0.1"
        );
    }
    assert!(
        api.peers.lock().unwrap().is_empty(),
        "a tab's connection reached the protected port: {:?}",
        api.peers.lock().unwrap()
    );
    // The user's own listener is theirs to point anywhere.
    assert_eq!(
        via_connect(main.addr, "127.0.0.1", api_port).await.unwrap(),
        "127.0.0.1"
    );
    gateway.shutdown(std::time::Duration::from_secs(1)).await;
}
