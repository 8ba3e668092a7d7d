//! `cargo xtask bench api`: what the checks in front of every route cost.
//! The same `GET /api/v1/status` through the full router (Host, token,
//! cross-site checks, rate limit, security headers) and through a bare
//! axum router with an equivalent handler, in process (`oneshot`), rounds
//! alternating so drift falls on both; prints p50 and p99 in µs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;
use vip_api::*;

const ROUNDS: usize = 20;
const PER_ROUND: usize = 1_000;
const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn status() -> Status {
    Status {
        browser: "off".into(),
        tabs: 0,
        devtools: None,
    }
}

fn request() -> Request<Body> {
    Request::builder()
        .uri("/api/v1/status")
        .header("host", "127.0.0.1:8898")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap()
}

async fn time(app: &axum::Router, out: &mut Vec<Duration>) {
    for _ in 0..PER_ROUND {
        let started = Instant::now();
        let response = app.clone().oneshot(request()).await.unwrap();
        let _ = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        out.push(started.elapsed());
    }
}

fn pct(v: &mut [Duration], p: usize) -> f64 {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)].as_secs_f64() * 1e6
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut access = Access::new(TOKEN, 8898);
        // High enough that the bench measures the check, not 429s.
        access.limits = HashMap::from([("other".to_string(), 1_000_000_000)]);
        let full = router(Arc::new(vip_api::testing::Refuser::default()), access);
        let bare = axum::Router::new().route(
            "/api/v1/status",
            axum::routing::get(|| async { axum::Json(status()) }),
        );
        let (mut with, mut without) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            time(&full, &mut with).await;
            time(&bare, &mut without).await;
        }
        let (w50, w99) = (pct(&mut with, 50), pct(&mut with, 99));
        let (b50, b99) = (pct(&mut without, 50), pct(&mut without, 99));
        println!(
            "| GET /api/v1/status, µs ({} requests each) | p50 | p99 |",
            ROUNDS * PER_ROUND
        );
        println!("|---|---:|---:|");
        println!(
            "| full router (Host, token, cross-site, rate limit, headers) | {w50:.1} | {w99:.1} |"
        );
        println!("| bare axum router, same answer | {b50:.1} | {b99:.1} |");
        println!(
            "| cost of the checks (target p50 ≤ 20) | {:.1} | {:.1} |",
            w50 - b50,
            w99 - b99
        );
    });
}
