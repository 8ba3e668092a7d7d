//! The public suffix rules the page script needs to find a host's
//! registrable domain (its site), sent as a Bloom filter rather than as the
//! list: every document and worker of an identity carries the script, and
//! the list (about 100 KB of rules) cost more to ship and parse per realm
//! than everything else in it. The filter answers "is this a rule" with no
//! false negatives and a false-positive rate near 0.3 %; a false positive
//! only makes one host's site one label longer (finer, never shared with
//! another site), and it is the same answer in every realm.
//!
//! The script (`protect.js`, between `site:begin` and `site:end`) hashes
//! exactly as [`SuffixFilter::contains`] does; a browser test holds the two
//! to the same answers.

use std::sync::OnceLock;

use serde_json::{Value, json};

/// Where Debian keeps the public suffix list.
pub const PUBLIC_SUFFIX_LIST: &str = "/usr/share/publicsuffix/public_suffix_list.dat";

/// Common multi-label public suffixes, used when the list is not installed.
const COMMON_SUFFIXES: &str = "co.uk,org.uk,ac.uk,gov.uk,me.uk,ltd.uk,plc.uk,com.au,net.au,org.au,edu.au,gov.au,\
co.nz,org.nz,co.jp,ne.jp,or.jp,ac.jp,go.jp,co.kr,or.kr,com.br,net.br,org.br,gov.br,com.cn,net.cn,org.cn,\
gov.cn,com.hk,com.tw,com.sg,com.my,co.in,net.in,org.in,gov.in,co.za,org.za,com.mx,com.ar,com.co,com.tr,\
com.ua,co.il,co.id,or.id,com.ph,com.vn,com.pk,com.eg,com.sa,com.ng,co.ke,\
github.io,gitlab.io,herokuapp.com,blogspot.com,netlify.app,vercel.app,pages.dev,workers.dev,appspot.com,\
web.app,firebaseapp.com,azurewebsites.net,cloudfront.net,s3.amazonaws.com";

/// Filter bits per rule, and probes per lookup (about 0.3 % false positives).
const BITS_PER_RULE: usize = 12;
const PROBES: u32 = 8;
/// Bits per character of the encoded filter, and the first character.
const CHAR_BITS: usize = 6;
const CHAR_BASE: u8 = 63;

/// The rules the script needs: those with more than one label, wildcards
/// and exceptions (a single label is the default rule). From Debian's list,
/// or the built-in common ones without it.
pub fn rules() -> &'static [String] {
    static RULES: OnceLock<Vec<String>> = OnceLock::new();
    RULES.get_or_init(|| {
        let text = std::fs::read_to_string(PUBLIC_SUFFIX_LIST)
            .unwrap_or_else(|_| COMMON_SUFFIXES.replace(',', "\n"));
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//") && l.is_ascii())
            .filter(|l| l.contains('.') || l.starts_with('!'))
            .map(str::to_ascii_lowercase)
            .collect()
    })
}

/// The filter of [`rules`], built once.
pub fn filter() -> &'static SuffixFilter {
    static FILTER: OnceLock<SuffixFilter> = OnceLock::new();
    FILTER.get_or_init(|| SuffixFilter::build(rules()))
}

/// A Bloom filter over suffix rules, encoded for the page script.
#[derive(Debug, Clone)]
pub struct SuffixFilter {
    /// Six bits per character, from `CHAR_BASE`.
    bits: Vec<u8>,
    /// The number of bits.
    m: u64,
}

impl SuffixFilter {
    /// The filter holding `rules`.
    pub fn build(rules: &[String]) -> SuffixFilter {
        let m = (rules.len() * BITS_PER_RULE)
            .max(64)
            .next_multiple_of(CHAR_BITS);
        let mut bits = vec![0u8; m / CHAR_BITS];
        let m = m as u64;
        for rule in rules {
            for x in probes(rule, m) {
                bits[(x / CHAR_BITS as u64) as usize] |= 1 << (x % CHAR_BITS as u64);
            }
        }
        SuffixFilter { bits, m }
    }

    /// Whether `rule` may be one of the rules (never false for one that is).
    pub fn contains(&self, rule: &str) -> bool {
        probes(rule, self.m).all(|x| {
            self.bits[(x / CHAR_BITS as u64) as usize] & (1 << (x % CHAR_BITS as u64)) != 0
        })
    }

    /// The filter as the script reads it: `{bits, m, k}`.
    pub fn to_json(&self) -> Value {
        let bits: String = self.bits.iter().map(|b| (CHAR_BASE + b) as char).collect();
        json!({"bits": bits, "m": self.m, "k": PROBES})
    }
}

/// The filter positions of `rule`: double hashing of two FNV-1a hashes
/// (the script computes the same with `Math.imul`).
fn probes(rule: &str, m: u64) -> impl Iterator<Item = u64> {
    let (mut a, mut b) = (0x811c_9dc5_u32, 0x050c_5d1f_u32);
    for c in rule.bytes() {
        a = (a ^ u32::from(c)).wrapping_mul(0x0100_0193);
        b = (b ^ u32::from(c)).wrapping_mul(0x0100_0193);
    }
    let (a, b) = (u64::from(a), u64::from(b | 1));
    (0..u64::from(PROBES)).map(move |i| (a + i * b) % m)
}

/// The registrable domain of `host` by the rules `has` answers for (the
/// script's `siteOf`, as the reference its tests compare against).
pub fn site_of(host: &str, has: impl Fn(&str) -> bool) -> String {
    let numeric = host.bytes().all(|c| c.is_ascii_digit() || c == b'.');
    if !host.contains('.') || numeric || host.contains(':') {
        return host.to_string();
    }
    let labels: Vec<&str> = host.split('.').collect();
    let mut suffix = 1;
    for i in 0..labels.len() - 1 {
        let rest = labels[i..].join(".");
        if has(&format!("!{rest}")) {
            suffix = labels.len() - i - 1;
            break;
        }
        if has(&rest) || has(&format!("*.{}", labels[i + 1..].join("."))) {
            suffix = labels.len() - i;
            break;
        }
    }
    labels[labels.len().saturating_sub(suffix + 1)..].join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_is_found_and_few_others_are() {
        let f = filter();
        assert!(rules().len() > 60);
        assert!(rules().iter().all(|r| f.contains(r)));
        let strangers = (0..20_000)
            .filter(|i| f.contains(&format!("host{i}.example{}", i % 7)))
            .count();
        assert!(strangers < 200, "{strangers} false positives in 20,000");
    }

    #[test]
    fn the_encoded_filter_is_much_smaller_than_the_list() {
        let json = filter().to_json().to_string();
        let list: usize = rules().iter().map(|r| r.len() + 1).sum();
        assert!(json.len() * 4 < list, "{} vs {list}", json.len());
    }

    #[test]
    fn sites_follow_the_rules() {
        let exact = |r: &str| rules().iter().any(|x| x == r);
        for (host, site) in [
            ("www.bbc.co.uk", "bbc.co.uk"),
            ("example.com", "example.com"),
            ("a.b.example.com", "example.com"),
            ("user.github.io", "user.github.io"),
            ("127.0.0.1", "127.0.0.1"),
            ("localhost", "localhost"),
        ] {
            assert_eq!(site_of(host, exact), site, "{host}");
            assert_eq!(site_of(host, |r| filter().contains(r)), site, "{host}");
        }
    }
}
