//! Paging through the proxy list: for every order and direction, pages of
//! 7 taken one after another list exactly the filtered proxies in order,
//! none twice, also when rows are added between pages; every filter
//! narrows to what it names.

use vip_engine::ProxyId;
use vip_store::Store;
use vip_store::repo::proxies::{NewProxy, ProxyRecord};
use vip_store::repo::proxy_page::{PageRequest, ProxyFilter, ProxySort};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("vip.db")).unwrap();
    for i in 0..40u16 {
        let id = match store
            .add_proxy(
                None,
                &NewProxy {
                    host: format!("{}.proxy.test", ["b", "A", "c"][usize::from(i % 3)]),
                    port: 1000 + (i * 7) % 40,
                    group: Some(if i % 2 == 0 { "even" } else { "odd" }.into()),
                    country: Some(if i % 4 == 0 { "DE" } else { "JP" }.into()),
                    tags: if i % 5 == 0 {
                        vec!["fast".into()]
                    } else {
                        vec![]
                    },
                    disabled: i % 10 == 9,
                    ..NewProxy::default()
                },
            )
            .unwrap()
        {
            vip_store::repo::proxies::AddOutcome::Added(id) => id,
            other => panic!("{other:?}"),
        };
        // Latency: every third unmeasured, ties among the rest.
        let latency = (i % 3 != 0).then(|| f64::from(i % 4) * 10.0);
        let status = if i % 6 == 1 { "down" } else { "up" };
        store
            .record_check(ProxyId(id as u64), Some(status), latency, (None, None), 1)
            .unwrap();
    }
    (dir, store)
}

fn all_pages(store: &Store, mut req: PageRequest) -> Vec<ProxyRecord> {
    let mut out = Vec::new();
    for _ in 0..100 {
        let page = store.page_proxies(&req).unwrap();
        assert!(page.items.len() <= req.limit);
        out.extend(page.items);
        match page.next {
            Some(next) => req.after = Some(next),
            None => return out,
        }
    }
    panic!("paging did not end");
}

fn key(p: &ProxyRecord, sort: ProxySort) -> (f64, String) {
    match sort {
        ProxySort::Id => (p.id as f64, String::new()),
        ProxySort::Host => (0.0, format!("{}:{:05}", p.host.to_lowercase(), p.port)),
        ProxySort::Latency => (p.latency_ms.unwrap_or(1e300), String::new()),
    }
}

/// Which proxies a filter should keep.
type Keep = Box<dyn Fn(&ProxyRecord) -> bool>;

#[test]
fn pages_list_every_match_once_in_order() {
    let (_dir, store) = store();
    let everything = store.list_proxies(None).unwrap();
    let filters: Vec<(ProxyFilter, Keep)> = vec![
        (ProxyFilter::default(), Box::new(|_| true)),
        (
            ProxyFilter {
                group: Some("odd".into()),
                ..Default::default()
            },
            Box::new(|p| p.group.as_deref() == Some("odd")),
        ),
        (
            ProxyFilter {
                country: Some("de".into()),
                status: Some("up".into()),
                ..Default::default()
            },
            Box::new(|p| p.country.as_deref() == Some("DE") && p.status == "up"),
        ),
        (
            ProxyFilter {
                tag: Some("fast".into()),
                ..Default::default()
            },
            Box::new(|p| p.tags.contains(&"fast".to_string())),
        ),
        (
            ProxyFilter {
                text: Some("a.PROXY".into()),
                enabled: Some(true),
                ..Default::default()
            },
            Box::new(|p| p.host.to_lowercase().contains("a.proxy") && p.enabled),
        ),
        (
            ProxyFilter {
                text: Some("%".into()),
                ..Default::default()
            },
            Box::new(|_| false),
        ),
    ];
    for (filter, keep) in &filters {
        let mut wanted: Vec<&ProxyRecord> = everything.iter().filter(|p| keep(p)).collect();
        for sort in [ProxySort::Id, ProxySort::Host, ProxySort::Latency] {
            for descending in [false, true] {
                wanted.sort_by(|a, b| {
                    let o = key(a, sort)
                        .partial_cmp(&key(b, sort))
                        .unwrap()
                        .then(a.id.cmp(&b.id));
                    if descending { o.reverse() } else { o }
                });
                let req = PageRequest {
                    filter: filter.clone(),
                    sort,
                    descending,
                    after: None,
                    limit: 7,
                };
                let got: Vec<i64> = all_pages(&store, req).iter().map(|p| p.id).collect();
                let want: Vec<i64> = wanted.iter().map(|p| p.id).collect();
                assert_eq!(got, want, "{filter:?} {sort:?} descending={descending}");
            }
        }
    }
}

#[test]
fn a_row_added_between_pages_neither_repeats_nor_skips_others() {
    let (_dir, store) = store();
    let first = store
        .page_proxies(&PageRequest {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    store
        .add_proxy(
            None,
            &NewProxy {
                host: "new.proxy.test".into(),
                port: 9,
                ..NewProxy::default()
            },
        )
        .unwrap();
    let rest = all_pages(
        &store,
        PageRequest {
            limit: 10,
            after: first.next,
            ..Default::default()
        },
    );
    let ids: Vec<i64> = first.items.iter().chain(&rest).map(|p| p.id).collect();
    assert_eq!(ids, (1..=41).collect::<Vec<i64>>());
}
