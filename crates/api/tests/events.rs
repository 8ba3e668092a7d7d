//! The events WebSocket on a real listener (127.0.0.1, port 0) with a real
//! WebSocket client: hello, `since` replays, live events, snapshots, topic
//! changes on the socket, the `lagged` notice for a gap and for a client
//! that does not read (while another one keeps up), the token as a
//! subprotocol (never echoed), the Origin check, close on stop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tokio::{ConnectStream, connect_async};
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_util::StreamExt;
use serde_json::{Value, json};
use vip_api::events::{QUEUE, RING};
use vip_api::testing::Refuser;
use vip_api::{Access, Events, Topic};

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const WAIT: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<ConnectStream>;

/// A served API over a hub the test publishes into.
async fn api() -> (u16, Arc<Events>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hub = Arc::new(Events::new());
    let mut access = Access::new(TOKEN, port);
    access.events = hub.clone();
    let router = vip_api::router(Arc::new(Refuser::default()), access);
    tokio::spawn(vip_api::serve(listener, router, std::future::pending()));
    (port, hub)
}

/// Opens the socket at `query` with `headers`; the handshake's error status.
async fn open(
    port: u16,
    query: &str,
    headers: &[(&str, &str)],
) -> Result<(Socket, Option<String>), u16> {
    let url = format!("ws://127.0.0.1:{port}/api/v1/events{query}");
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        let name = async_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes());
        req.headers_mut().insert(name.unwrap(), v.parse().unwrap());
    }
    match connect_async(req).await {
        Ok((ws, response)) => {
            let chosen = response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap().to_string());
            Ok((ws, chosen))
        }
        Err(WsError::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("handshake failed: {e}"),
    }
}

async fn bearer(port: u16, query: &str) -> Socket {
    let auth = format!("Bearer {TOKEN}");
    open(port, query, &[("authorization", &auth)])
        .await
        .unwrap()
        .0
}

/// The next text message, as JSON.
async fn next(ws: &mut Socket) -> Value {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message within the wait")
            .expect("the socket is open")
            .unwrap();
        match m {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Close(f) => panic!("closed: {f:?}"),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn a_socket_gets_hello_then_what_came_after_since_then_live_events_and_snapshots() {
    let (port, hub) = api().await;
    let b = hub.base();
    for i in 1..=3 {
        hub.publish(Topic::Rotation, json!({ "i": i }));
    }
    let mut ws = bearer(port, &format!("?since={}", b + 1)).await;
    let hello = next(&mut ws).await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["data"]["first"], b + 1);
    assert_eq!(hello["data"]["last"], b + 3);
    assert_eq!(hello["data"]["topics"].as_array().unwrap().len(), 9);
    for i in 2..=3 {
        let e = next(&mut ws).await;
        assert_eq!(
            (e["seq"].as_u64(), &e["type"]),
            (Some(b + i), &json!("rotation"))
        );
        assert_eq!(e["data"]["i"], i);
    }
    hub.publish(Topic::HealthCheck, json!({ "proxy": 7, "ok": true }));
    let live = next(&mut ws).await;
    assert_eq!(live["seq"], b + 4);
    assert_eq!(live["type"], "health-check");
    assert_eq!(live["data"], json!({ "proxy": 7, "ok": true }));
    hub.snapshot(json!({ "up_bps": 10, "down_bps": 20, "active_connections": 1 }));
    let snap = next(&mut ws).await;
    assert_eq!(snap["type"], "snapshot");
    assert_eq!(
        snap["seq"],
        b + 4,
        "a snapshot carries the last event's seq"
    );
    assert_eq!(snap["data"]["down_bps"], 20);
    // A later snapshot replaces the earlier one.
    hub.snapshot(json!({ "up_bps": 1 }));
    assert_eq!(next(&mut ws).await["data"]["up_bps"], 1);
}

#[tokio::test]
async fn topics_are_chosen_in_the_query_and_changed_on_the_socket() {
    let (port, hub) = api().await;
    let mut ws = bearer(port, "?topics=log").await;
    assert_eq!(next(&mut ws).await["data"]["topics"], json!(["log"]));
    hub.publish(Topic::Rotation, json!("skipped"));
    hub.publish(Topic::Log, json!("kept"));
    assert_eq!(next(&mut ws).await["data"], "kept");
    let cmd = json!({ "op": "subscribe", "topics": ["rotation"] }).to_string();
    ws.send(Message::text(cmd)).await.unwrap();
    let ack = next(&mut ws).await;
    assert_eq!(ack["type"], "subscribed");
    assert_eq!(ack["data"]["topics"], json!(["rotation", "log"]));
    hub.publish(Topic::Rotation, json!("now kept"));
    assert_eq!(next(&mut ws).await["data"], "now kept");
    // A wrong topic is an error naming it; the socket stays open.
    let bad = json!({ "op": "subscribe", "topics": ["log", "rotations"] }).to_string();
    ws.send(Message::text(bad)).await.unwrap();
    let err = next(&mut ws).await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["data"]["pointer"], "/topics/1");
    assert!(
        err["data"]["hint"]
            .as_str()
            .unwrap()
            .contains("health-check")
    );
    let off = json!({ "op": "unsubscribe", "topics": ["log", "rotation"] }).to_string();
    ws.send(Message::text(off)).await.unwrap();
    assert_eq!(next(&mut ws).await["data"]["topics"], json!([]));
    hub.publish(Topic::Log, json!("dropped"));
    ws.send(Message::text(
        json!({"op": "subscribe", "topics": ["log"]}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next(&mut ws).await["type"], "subscribed");
    hub.publish(Topic::Log, json!("after"));
    assert_eq!(next(&mut ws).await["data"], "after");
    // A client's ping is answered.
    ws.send(Message::Ping(b"hb".to_vec().into())).await.unwrap();
    let pong = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(pong, Message::Pong(b"hb".to_vec().into()));
}

#[tokio::test]
async fn a_since_before_the_ring_gets_a_lagged_notice_and_one_past_the_last_a_422() {
    let (port, hub) = api().await;
    let b = hub.base();
    for _ in 0..RING + 3 {
        hub.publish(Topic::HealthCheck, Value::Null);
    }
    let mut ws = bearer(port, &format!("?since={}", b + 1)).await;
    assert_eq!(next(&mut ws).await["type"], "hello");
    let lagged = next(&mut ws).await;
    assert_eq!(lagged["type"], "lagged");
    assert_eq!(lagged["data"]["missed"], 2);
    assert_eq!(lagged["data"]["resume"], b + 4);
    assert_eq!(next(&mut ws).await["seq"], b + 4);
    let ahead = format!("?since={}", b + RING as u64 + 10);
    let auth = format!("Bearer {TOKEN}");
    assert_eq!(
        open(port, &ahead, &[("authorization", &auth)]).await.err(),
        Some(422)
    );
    assert_eq!(
        open(port, "?topics=nope", &[("authorization", &auth)])
            .await
            .err(),
        Some(422)
    );
    assert_eq!(
        open(port, "?sinse=1", &[("authorization", &auth)])
            .await
            .err(),
        Some(400)
    );
    let negative = open(port, "?since=-1", &[("authorization", &auth)]).await;
    assert_eq!(negative.err(), Some(422));
}

#[tokio::test]
async fn a_client_that_does_not_read_is_told_it_lagged_and_does_not_hold_up_one_that_does() {
    let (port, hub) = api().await;
    let mut slow = bearer(port, "?topics=rotation").await;
    let mut quick = bearer(port, "?topics=rotation").await;
    assert_eq!(next(&mut slow).await["type"], "hello");
    assert_eq!(next(&mut quick).await["type"], "hello");
    let payload = "x".repeat(2048);
    let (batches, per) = (20, QUEUE / 2);
    let mut expected = hub.base() + 1;
    for _ in 0..batches {
        for _ in 0..per {
            hub.publish(Topic::Rotation, json!({ "pad": payload }));
        }
        for _ in 0..per {
            let e = next(&mut quick).await;
            assert_eq!(
                e["seq"], expected,
                "the reading client gets every event in order"
            );
            expected += 1;
        }
    }
    let mut seen_lag = false;
    let mut last = 0;
    for _ in 0..batches * per {
        let e = next(&mut slow).await;
        if e["type"] == "lagged" {
            assert!(e["data"]["missed"].as_u64().unwrap() > 0);
            seen_lag = true;
            break;
        }
        last = e["seq"].as_u64().unwrap();
    }
    assert!(
        seen_lag,
        "the client that did not read was not told it lagged (last {last})"
    );
}

#[tokio::test]
async fn a_browser_authenticates_with_the_subprotocol_from_the_apis_own_origin_only() {
    let (port, hub) = api().await;
    let offer = format!("vip.v1, vip.bearer.{TOKEN}");
    let own = format!("http://127.0.0.1:{port}");
    let (mut ws, chosen) = open(
        port,
        "",
        &[("sec-websocket-protocol", &offer), ("origin", &own)],
    )
    .await
    .unwrap();
    assert_eq!(
        chosen.as_deref(),
        Some("vip.v1"),
        "the token is never echoed"
    );
    assert_eq!(next(&mut ws).await["type"], "hello");
    let wrong = "vip.v1, vip.bearer.ffff";
    assert_eq!(
        open(port, "", &[("sec-websocket-protocol", wrong)])
            .await
            .err(),
        Some(401)
    );
    assert_eq!(open(port, "", &[]).await.err(), Some(401));
    let foreign = [
        ("sec-websocket-protocol", offer.as_str()),
        ("origin", "http://evil.test"),
    ];
    assert_eq!(open(port, "", &foreign).await.err(), Some(403));
    let cross = [
        ("sec-websocket-protocol", offer.as_str()),
        ("sec-fetch-site", "cross-site"),
    ];
    assert_eq!(open(port, "", &cross).await.err(), Some(403));
    // The token in the query string is no token.
    assert_eq!(
        open(port, &format!("?token={TOKEN}"), &[]).await.err(),
        Some(401)
    );
    // Stopping closes every socket with 1001.
    hub.close();
    let bye = loop {
        match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
            Some(Ok(Message::Close(f))) => break f,
            Some(Ok(_)) => continue,
            other => panic!("no close frame: {other:?}"),
        }
    };
    assert_eq!(u16::from(bye.unwrap().code), 1001);
}
