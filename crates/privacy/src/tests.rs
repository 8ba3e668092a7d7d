//! The split decision ([`Blocklist::matches`]) against the plain one that
//! asks the whole list for every type, over URLs built from Debian's
//! EasyList and EasyPrivacy themselves: each rule's host or path, and random
//! mixes of hosts, paths and queries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{Blocklist, DEBIAN_LISTS};

/// A host and a path that a rule line is about, where it names them.
fn parts_of(line: &str) -> (Option<String>, Option<String>) {
    let pattern = line.split('$').next().unwrap_or("");
    let clean = |s: &str| s.replace(['*', '|'], "").replace('^', "/");
    if let Some(rest) = pattern.strip_prefix("||") {
        let end = rest.find(['^', '/', '*', ':']).unwrap_or(rest.len());
        let host = &rest[..end];
        let path = clean(&rest[end..]);
        let ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        (
            ok.then(|| host.to_string()),
            path.starts_with('/').then_some(path),
        )
    } else if pattern.starts_with('/') && pattern.len() > 1 {
        (None, Some(clean(pattern)))
    } else {
        (None, None)
    }
}

#[test]
fn split_decision_equals_asking_every_type() {
    let texts: Vec<String> = DEBIAN_LISTS
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .expect("cargo xtask test installs webext-ublock-origin-chromium")
        })
        .collect();
    let lines: Vec<&str> = texts.iter().flat_map(|t| t.lines()).collect();
    let list = Blocklist::from_rules(&lines);
    let mut hosts = vec![
        "example.com".to_string(),
        "cdn.example.net".to_string(),
        "www.news.example".to_string(),
    ];
    let mut paths = vec![
        "/".to_string(),
        "/index.html".to_string(),
        "/static/app.js".to_string(),
    ];
    let mut typed = Vec::new();
    for line in &lines {
        if line.starts_with('!') || line.contains('#') {
            continue;
        }
        let (host, path) = parts_of(line);
        let not_script = line.contains("$")
            && !line.contains("script")
            && (line.contains("image") || line.contains("xmlhttprequest"));
        if not_script {
            typed.push((host.clone(), path.clone()));
        }
        hosts.extend(host);
        paths.extend(path);
    }
    let mut urls = Vec::new();
    // Every rule that blocks images or XHR but not scripts, on its own host
    // or an ordinary one.
    for (i, (host, path)) in typed.iter().enumerate() {
        let host = host.clone().unwrap_or_else(|| hosts[i % 3].clone());
        let path = path.clone().unwrap_or_else(|| "/p.gif".to_string());
        urls.push((host.clone(), format!("http://{host}{path}")));
        urls.push((host.clone(), format!("http://{host}{path}?id=1&ref=x")));
    }
    // Random mixes, from a fixed seed.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for _ in 0..20_000 {
        let host = hosts[next(hosts.len())].clone();
        let path = &paths[next(paths.len())];
        let query = ["", "?a=1", "?utm_source=x&id=2", "?callback=cb"][next(4)];
        urls.push((host.clone(), format!("http://{host}{path}{query}")));
    }
    let (mut blocked, mut beside_scripts) = (0, 0);
    for (host, url) in &urls {
        let slow = list.matches_every_type(host, url);
        assert_eq!(list.matches(host, url), slow, "{url}");
        if slow {
            blocked += 1;
            let request = adblock::request::Request::preparsed(
                url,
                host,
                super::NEUTRAL_HOST,
                "script",
                true,
                "GET",
            );
            if !list.engine.check_network_request(&request).should_block() {
                beside_scripts += 1;
            }
        }
    }
    // The corpus reaches both engines, so the comparison means something.
    assert!(
        blocked > 1_000,
        "only {blocked} of {} URLs blocked",
        urls.len()
    );
    assert!(
        beside_scripts > 50,
        "only {beside_scripts} URLs blocked as XHR or image alone"
    );
}
