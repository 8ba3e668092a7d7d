#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::common::*;
use vip_browser::{BrowserFacts, Profile, WebRtcPolicy};
use vip_testkit::Site;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn experiment_script_cost() {
    let site = Site::start(vec![("/", "text/html", "<body></body>".to_string())]).await;
    let rig = rig(WebRtcPolicy::default()).await;
    let a = rig.identity_with(1, 7, "DE", false, None).await;
    let tab = rig.open(&a, &format!("http://127.0.0.1:{}/", site.addr.port())).await;
    let script = Profile::new([1; 32], Some("DE"), WebRtcPolicy::default()).script(&BrowserFacts::default());
    let expr = format!("(() => {{ const src = {}; const parts = {{}}; const out = []; for (let i = 0; i < 40; i++) {{ const f = document.createElement('iframe'); document.body.appendChild(f); const w = f.contentWindow; const t = performance.now(); w.eval(src); out.push(performance.now() - t); f.remove(); }} out.sort((a,b)=>a-b); return out[20]; }})()", serde_json::to_string(&script).unwrap());
    let v = rig.eval(&tab, &expr).await;
    eprintln!("EXPERIMENT median script ms: {v}");
    rig.stop().await;
}
