//! Real headless Chromium: a cookie, a localStorage item and an IndexedDB
//! record set in one identity are invisible in another; exported and
//! imported into a fresh context (what a named identity does across
//! restarts), all three are back, with binary and date values intact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use crate::common::*;
use serde_json::json;
use vip_browser::WebRtcPolicy;
use vip_testkit::Site;

const SET: &str = "(async () => {
    document.cookie = 'sid=abc123; max-age=3600; path=/';
    localStorage.setItem('theme', 'dark');
    const db = await new Promise((ok, fail) => {
        const r = indexedDB.open('app', 2);
        r.onupgradeneeded = () => r.result.createObjectStore('notes', {keyPath: 'id'}).createIndex('by_tag', 'tag');
        r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error);
    });
    await new Promise((ok) => {
        const tx = db.transaction('notes', 'readwrite');
        tx.objectStore('notes').put({id: 1, tag: 'x', text: 'hello', at: new Date(86400000), bytes: new Uint8Array([1, 2, 3])});
        tx.oncomplete = ok;
    });
    db.close();
    return true;
})()";

const GET: &str = "(async () => {
    const names = (await indexedDB.databases()).map(d => d.name);
    let note = null;
    if (names.includes('app')) {
        const db = await new Promise((ok) => { const r = indexedDB.open('app'); r.onsuccess = () => ok(r.result); });
        note = await new Promise((ok) => { const g = db.transaction('notes').objectStore('notes').get(1); g.onsuccess = () => ok(g.result); });
        note = note && {text: note.text, at: note.at.getTime(), bytes: [...note.bytes], tags: [...db.transaction('notes').objectStore('notes').indexNames]};
        db.close();
    }
    return {cookie: document.cookie, theme: localStorage.getItem('theme'), note};
})()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_is_isolated_and_survives_export_and_import() {
    let site = Site::start(vec![("/", "text/html", "<p>app</p>".to_string())]).await;
    let url = format!("http://127.0.0.1:{}/", site.addr.port());
    let rig = rig(WebRtcPolicy::default()).await;
    let a = rig.identity(1, 1, "US").await;
    let ta = rig.open(&a, &url).await;
    assert_eq!(rig.eval(&ta, SET).await, json!(true));
    let full = json!({"cookie": "sid=abc123", "theme": "dark",
        "note": {"text": "hello", "at": 86400000, "bytes": [1, 2, 3], "tags": ["by_tag"]}});
    assert_eq!(rig.eval(&ta, GET).await, full);

    let b = rig.identity(2, 2, "US").await;
    let tb = rig.open(&b, &url).await;
    assert_eq!(
        rig.eval(&tb, GET).await,
        json!({"cookie": "", "theme": null, "note": null})
    );

    let origins = BTreeSet::from([vip_browser::origin_of(&url).unwrap()]);
    // Every top-level origin a tab has shown is remembered, not only the last.
    let elsewhere = format!("http://localhost:{}/", site.addr.port());
    rig.browser
        .navigate(&ta, &elsewhere, std::time::Duration::from_secs(20))
        .await
        .unwrap();
    let seen = rig.browser.visited_origins(&a);
    assert!(seen.is_superset(&origins) && seen.len() == 2, "{seen:?}");
    let saved = rig
        .browser
        .export_storage(&a, &origins, None)
        .await
        .unwrap();
    assert!(saved.to_string().contains("abc123"));
    let c = rig.identity(1, 1, "US").await;
    rig.browser.import_storage(&c, &saved).await.unwrap();
    let tc = rig.open(&c, &url).await;
    assert_eq!(rig.eval(&tc, GET).await, full);
    // The helper pages are not tabs.
    assert_eq!(rig.browser.tabs().len(), 3);
    rig.stop().await;
}
