//! All regex conditions of a rotation's rules on one request field, compiled
//! into one `RegexSet` per field, so a request runs each field's patterns in
//! a single pass instead of one regex at a time. Results are memoised per
//! request; conditions fall back to their own `Regex` if a set could not be
//! built (size limits).

use std::cell::OnceCell;

use regex::{RegexSet, RegexSetBuilder, SetMatches};

/// Request fields with sets: domain, url, path.
const FIELDS: usize = 3;

/// One `RegexSet` per request field.
#[derive(Clone, Debug, Default)]
pub struct RegexSets {
    sets: [Option<RegexSet>; FIELDS],
}

/// Collects patterns while rules are linked.
#[derive(Default)]
pub(crate) struct RegexSetsBuilder {
    patterns: [Vec<String>; FIELDS],
}

impl RegexSetsBuilder {
    /// Adds a pattern for `field`, returning its index in that set.
    pub fn add(&mut self, field: usize, pattern: String) -> usize {
        self.patterns[field].push(pattern);
        self.patterns[field].len() - 1
    }

    /// Compiles the sets; `None` for a field whose set exceeds the limits,
    /// in which case `link` must not have been kept (see `link_rules`).
    pub fn build(self) -> Option<RegexSets> {
        let mut sets: [Option<RegexSet>; FIELDS] = Default::default();
        for (field, patterns) in self.patterns.into_iter().enumerate() {
            if patterns.is_empty() {
                continue;
            }
            let set = RegexSetBuilder::new(patterns)
                .size_limit(16 << 20)
                .dfa_size_limit(16 << 20)
                .build()
                .ok()?;
            sets[field] = Some(set);
        }
        Some(RegexSets { sets })
    }
}

/// Per-request memo of which patterns matched each field.
#[derive(Debug)]
pub struct RegexMemo<'a> {
    sets: &'a RegexSets,
    hits: [OnceCell<Option<SetMatches>>; FIELDS],
}

impl<'a> RegexMemo<'a> {
    /// A fresh memo for one request.
    pub fn new(sets: &'a RegexSets) -> RegexMemo<'a> {
        RegexMemo {
            sets,
            hits: Default::default(),
        }
    }

    /// Whether pattern `index` of `field` matches `text` (the same text for
    /// every call on this memo).
    pub(crate) fn is_match(&self, field: usize, index: usize, text: &str) -> bool {
        self.hits[field]
            .get_or_init(|| self.sets.sets[field].as_ref().map(|s| s.matches(text)))
            .as_ref()
            .is_some_and(|m| m.matched(index))
    }
}
