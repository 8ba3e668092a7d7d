//! # vip-privacy
//!
//! The tracker blocklist: EasyList and EasyPrivacy (or any Adblock Plus
//! syntax lists) loaded into Brave's `adblock` engine, built without its
//! `single-thread` feature so one instance is shared by every task. The
//! gateway asks about hosts (CONNECT) and URLs (plain HTTP) without knowing
//! which page made the request, so it judges a request as a third-party
//! script, XHR or image: a host every such request to would be blocked is a
//! tracker or ad server. Page-aware, first-party-aware blocking of full
//! HTTPS URLs belongs to the browser. A per-domain allowlist overrides both.
//!
//! Asking the engine once per type would cost three full passes. Instead a
//! request is judged as a script first, by the whole list; only rules that
//! block images or XHR but never scripts can still block it, so the other two
//! types are asked of a second, small engine holding just those rules (with
//! every exception and `$badfilter`). When a script-blocking rule matched
//! but an exception let the script through, an XHR or image of the same URL
//! may still be blocked by that rule, so that rare case asks the whole list
//! for all three types. See [`split`] and its equivalence test.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use adblock::lists::{FilterSet, ParseOptions};
use adblock::request::{Request, RequestType};
use thiserror::Error;

mod split;

/// Where Debian's `webext-ublock-origin-chromium` puts the lists.
pub const DEBIAN_LISTS: [&str; 2] = [
    "/usr/share/chromium/extensions/ublock-origin/assets/thirdparties/easylist/easylist.txt",
    "/usr/share/chromium/extensions/ublock-origin/assets/thirdparties/easylist/easyprivacy.txt",
];

/// The page a gateway request is judged from: unknown, so a neutral origin
/// that makes every target third-party.
const NEUTRAL_HOST: &str = "vip-gateway.invalid";
/// Script first: [`Blocklist::matches`] relies on it.
const TYPES: [RequestType; 3] = [
    RequestType::Script,
    RequestType::Xmlhttprequest,
    RequestType::Image,
];

/// A filter list that could not be loaded.
#[derive(Debug, Error)]
pub enum BlocklistError {
    /// The file could not be read.
    #[error("cannot read filter list {path}: {source} ({})", read_hint(path))]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// How to fix an unreadable list: Debian's lists come from a package; any
/// other was named by the user.
fn read_hint(path: &std::path::Path) -> &'static str {
    if DEBIAN_LISTS.iter().any(|l| std::path::Path::new(l) == path) {
        "install Debian's webext-ublock-origin-chromium for EasyList and EasyPrivacy"
    } else {
        "check that the path names a readable filter list file"
    }
}

/// Why a request was blocked (or not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed.
    Allow,
    /// Matched a filter.
    Block,
    /// Would match, but the domain is allowlisted.
    Allowlisted,
}

/// Tracker blocking shared by all connections.
pub struct Blocklist {
    engine: adblock::Engine,
    /// Blocking rules that can match an XHR or image but never a script,
    /// plus every exception and `$badfilter` rule.
    not_script: adblock::Engine,
    allow: Vec<String>,
    rules: usize,
    blocked: AtomicU64,
}

impl std::fmt::Debug for Blocklist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocklist")
            .field("rules", &self.rules)
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

impl Blocklist {
    /// Builds from rule lines.
    pub fn from_rules<S: AsRef<str>>(lines: &[S]) -> Blocklist {
        let text: Vec<&str> = lines.iter().map(AsRef::as_ref).collect();
        let engine_of = |text: &[&str]| {
            let mut set = FilterSet::new(false);
            set.add_filter_list(text.join("\n"), ParseOptions::default());
            adblock::Engine::new_with_filter_set(set)
        };
        let not_script: Vec<&str> = text
            .iter()
            .copied()
            .filter(|l| split::needed_beside_scripts(l))
            .collect();
        Blocklist {
            engine: engine_of(&text),
            not_script: engine_of(&not_script),
            allow: Vec::new(),
            rules: lines.len(),
            blocked: AtomicU64::new(0),
        }
    }

    /// Loads list files; an unreadable file is an error naming it.
    pub fn from_files(paths: &[impl AsRef<Path>]) -> Result<Blocklist, BlocklistError> {
        let mut lines = Vec::new();
        for path in paths {
            let path = path.as_ref();
            let bytes = std::fs::read(path).map_err(|source| BlocklistError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            lines.extend(String::from_utf8_lossy(&bytes).lines().map(str::to_string));
        }
        Ok(Blocklist::from_rules(&lines))
    }

    /// Never blocks `domain` or its subdomains.
    pub fn allow_domain(mut self, domain: &str) -> Blocklist {
        self.allow.push(
            domain
                .trim_start_matches("*.")
                .trim_end_matches('.')
                .to_ascii_lowercase(),
        );
        self
    }

    /// Rule lines loaded.
    pub fn rules(&self) -> usize {
        self.rules
    }

    /// Requests blocked so far.
    pub fn blocked(&self) -> u64 {
        self.blocked.load(Ordering::Relaxed)
    }

    fn allowlisted(&self, host: &str) -> bool {
        self.allow.iter().any(|d| {
            host == d
                || host
                    .strip_suffix(d.as_str())
                    .is_some_and(|p| p.ends_with('.'))
        })
    }

    /// Whether some request type of `url` (on `host`, lower case) from a
    /// neutral third-party page is blocked. The host is known, so the URL
    /// is not parsed again; it is tokenised once and only the type changes.
    fn matches(&self, host: &str, url: &str) -> bool {
        let mut request = Request::preparsed(url, host, NEUTRAL_HOST, "script", true, "GET");
        let as_script = self.engine.check_network_request(&request);
        if as_script.should_block() {
            return true;
        }
        // A rule matched the script but an exception let it through: the
        // same rule may block the other types, so ask the whole list.
        let engine = if as_script.filter.is_some() {
            &self.engine
        } else {
            &self.not_script
        };
        TYPES[1..].iter().any(|t| {
            request.request_type = t.clone();
            engine.check_network_request(&request).should_block()
        })
    }

    /// The plain three-pass decision, kept to test [`Blocklist::matches`]
    /// against.
    #[cfg(test)]
    fn matches_every_type(&self, host: &str, url: &str) -> bool {
        let mut request = Request::preparsed(url, host, NEUTRAL_HOST, "script", true, "GET");
        TYPES.into_iter().any(|t| {
            request.request_type = t;
            self.engine.check_network_request(&request).should_block()
        })
    }

    fn decide(&self, host: &str, url: &str) -> Verdict {
        let verdict = self.judge(host, url);
        if verdict == Verdict::Block {
            self.blocked.fetch_add(1, Ordering::Relaxed);
        }
        verdict
    }

    fn judge(&self, host: &str, url: &str) -> Verdict {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if !self.matches(&host, url) {
            return Verdict::Allow;
        }
        if self.allowlisted(&host) {
            return Verdict::Allowlisted;
        }
        Verdict::Block
    }

    fn host_url(host: &str) -> String {
        if host.contains(':') {
            format!("https://[{host}]/")
        } else {
            format!("https://{host}/")
        }
    }

    /// Judges a whole host (a CONNECT tunnel or SOCKS connection).
    pub fn check_host(&self, host: &str) -> Verdict {
        self.decide(host, &Self::host_url(host))
    }

    /// What [`Blocklist::check_url`] (with a URL) or
    /// [`Blocklist::check_host`] would say, without counting a block (for
    /// explaining a route).
    pub fn verdict(&self, host: &str, url: Option<&str>) -> Verdict {
        match url {
            Some(u) => self.judge(host, u),
            None => self.judge(host, &Self::host_url(host)),
        }
    }

    /// Judges a request made by a page: `url` of `request_type` (adblock's
    /// names: `script`, `image`, `xmlhttprequest`, `sub_frame`, ...) from a
    /// document at `source_url`, so first- and third-party rules apply as
    /// written. Allowlisting the page's site or the request's host lets it
    /// through.
    pub fn check_request(&self, url: &str, source_url: &str, request_type: &str) -> Verdict {
        let Ok(request) = Request::new(url, source_url, request_type, "GET") else {
            return Verdict::Allow;
        };
        if !self.engine.check_network_request(&request).should_block() {
            return Verdict::Allow;
        }
        let host_of = |u: &str| {
            u.split_once("://")
                .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
                .map(|h| h.rsplit('@').next().unwrap_or(h))
                .map(|h| {
                    if h.starts_with('[') {
                        h.split(']').next().unwrap_or(h).trim_start_matches('[')
                    } else {
                        h.split(':').next().unwrap_or(h)
                    }
                })
                .unwrap_or("")
                .to_ascii_lowercase()
        };
        if self.allowlisted(&host_of(url)) || self.allowlisted(&host_of(source_url)) {
            return Verdict::Allowlisted;
        }
        self.blocked.fetch_add(1, Ordering::Relaxed);
        Verdict::Block
    }

    /// Judges a full URL (plain HTTP through the gateway).
    pub fn check_url(&self, host: &str, url: &str) -> Verdict {
        self.decide(host, url)
    }
}

#[cfg(test)]
mod tests;
