//! Import and export of proxy lists. `parse` detects the format (FoxyProxy
//! JSON, Clash YAML, CSV with a header, or one proxy per line in any of the
//! line formats) and turns every line or record into an entry; `apply` stores
//! them, each in its own savepoint, and gives every one a verdict
//! (imported, duplicate, invalid with its line and reason). One bad line
//! never stops the rest. Credentials go to the vault.

mod export;
mod lines;
mod structured;

use serde::Serialize;

use crate::repo::proxies::{AddOutcome, NewProxy, insert_proxy};
use crate::vault::Vault;
use crate::{Result, Store, StoreError};

pub use export::{ExportFormat, export};
pub use lines::parse_line;

/// The detected input format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// One proxy per line.
    Lines,
    /// CSV with a header row.
    Csv,
    /// FoxyProxy JSON export.
    FoxyProxy,
    /// Clash YAML.
    Clash,
}

impl Format {
    /// What a verdict's position counts: lines or records.
    pub fn unit(self) -> &'static str {
        match self {
            Format::Lines | Format::Csv => "line",
            Format::FoxyProxy | Format::Clash => "entry",
        }
    }
}

/// One parsed line or record.
#[derive(Debug)]
pub struct Entry {
    /// Line (or entry) number, from 1.
    pub at: usize,
    /// The proxy, or why it could not be read.
    pub result: Result<NewProxy, crate::InvalidValue>,
}

/// A parsed input.
#[derive(Debug)]
pub struct Parsed {
    /// The detected format.
    pub format: Format,
    /// Entries in input order.
    pub entries: Vec<Entry>,
}

impl Parsed {
    /// Whether any entry carries credentials (so the vault is needed).
    pub fn needs_vault(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.result.as_ref().is_ok_and(|p| p.username.is_some()))
    }
}

/// Detects the format and parses every entry. Never fails: unreadable
/// input becomes invalid entries.
pub fn parse(input: &[u8]) -> Parsed {
    let text = std::str::from_utf8(input).ok();
    if let Some(text) = text {
        let trimmed = text.trim_start_matches('\u{feff}').trim_start();
        if (trimmed.starts_with('{') || trimmed.starts_with('['))
            && let Ok(value) = serde_json::from_str::<serde_json::Value>(trimmed)
        {
            return Parsed {
                format: Format::FoxyProxy,
                entries: structured::foxyproxy(&value),
            };
        }
        if text.lines().any(|l| l.trim_end() == "proxies:") {
            return Parsed {
                format: Format::Clash,
                entries: structured::clash(text),
            };
        }
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'));
        if let Some(header) = first
            && header.contains(',')
            && header.split(',').any(|c| {
                matches!(
                    c.trim().to_ascii_lowercase().as_str(),
                    "host" | "hostname" | "server" | "address" | "ip"
                )
            })
        {
            return Parsed {
                format: Format::Csv,
                entries: structured::csv(text),
            };
        }
    }
    Parsed {
        format: Format::Lines,
        entries: parse_lines(input),
    }
}

fn parse_lines(input: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, raw) in input.split(|&b| b == b'\n').enumerate() {
        let at = i + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.len() > lines::MAX_LINE {
            out.push(Entry {
                at,
                result: Err(format!(
                    "line is {} bytes long; at most {} are read",
                    raw.len(),
                    lines::MAX_LINE
                )
                .into()),
            });
            continue;
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            out.push(Entry {
                at,
                result: Err("not text (invalid UTF-8)".into()),
            });
            continue;
        };
        let line = line.trim().trim_start_matches('\u{feff}');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(c) = line.chars().find(|c| c.is_control()) {
            out.push(Entry {
                at,
                result: Err(format!("contains the control character {:?}", c).into()),
            });
            continue;
        }
        out.push(Entry {
            at,
            result: parse_line(line),
        });
    }
    out
}

/// What happened to one entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Stored.
    Imported {
        /// Line or entry number.
        at: usize,
        /// New proxy id.
        id: i64,
    },
    /// Already present.
    Duplicate {
        /// Line or entry number.
        at: usize,
        /// Existing proxy id.
        id: i64,
    },
    /// Not stored.
    Invalid {
        /// Line or entry number.
        at: usize,
        /// Why, and how to fix it.
        reason: String,
    },
}

/// The outcome of an import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Detected format.
    pub format: Format,
    /// "line" or "entry".
    pub unit: &'static str,
    /// Entries stored.
    pub imported: usize,
    /// Entries already present.
    pub duplicates: usize,
    /// Entries refused.
    pub invalid: usize,
    /// Every verdict, in input order.
    pub verdicts: Vec<Verdict>,
}

/// Attributes given for every entry (`vip proxy add` and `import` flags):
/// each fills what an entry does not set itself; tags are added.
#[derive(Clone, Debug, Default)]
pub struct ImportDefaults {
    /// Rotation group.
    pub group: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Weight 0-100.
    pub weight: Option<u8>,
    /// Tags added to every entry.
    pub tags: Vec<String>,
    /// Store every entry disabled.
    pub disabled: bool,
}

impl ImportDefaults {
    /// Fills what `proxy` does not set.
    pub fn apply(&self, proxy: &mut NewProxy) {
        let fill = |field: &mut Option<String>, default: &Option<String>| {
            if field.is_none() {
                field.clone_from(default);
            }
        };
        fill(&mut proxy.group, &self.group);
        fill(&mut proxy.country, &self.country);
        fill(&mut proxy.region, &self.region);
        fill(&mut proxy.city, &self.city);
        proxy.weight = proxy.weight.or(self.weight);
        proxy.tags.extend(self.tags.iter().cloned());
        proxy.disabled |= self.disabled;
    }
}

const CHUNK: usize = 500;

/// Stores parsed entries. Each entry runs in a savepoint inside a
/// transaction per chunk, so a failure rolls back that entry alone.
/// `progress(done, total)` is called after every chunk.
pub fn apply(
    store: &Store,
    vault: Option<&Vault>,
    parsed: Parsed,
    defaults: &ImportDefaults,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ImportReport> {
    let total = parsed.entries.len();
    let mut verdicts = Vec::with_capacity(total);
    let conn = store.conn();
    for (chunk_index, chunk) in parsed.entries.chunks(CHUNK).enumerate() {
        let tx = conn.unchecked_transaction()?;
        for entry in chunk {
            let at = entry.at;
            let mut proxy = match &entry.result {
                Err(reason) => {
                    verdicts.push(Verdict::Invalid {
                        at,
                        reason: reason.to_string(),
                    });
                    continue;
                }
                Ok(p) => p.clone(),
            };
            defaults.apply(&mut proxy);
            tx.execute_batch("SAVEPOINT entry")?;
            match insert_proxy(&tx, vault, &proxy) {
                Ok(AddOutcome::Added(id)) => {
                    tx.execute_batch("RELEASE entry")?;
                    verdicts.push(Verdict::Imported { at, id });
                }
                Ok(AddOutcome::Duplicate(id)) => {
                    tx.execute_batch("RELEASE entry")?;
                    verdicts.push(Verdict::Duplicate { at, id });
                }
                Err(e @ (StoreError::Invalid { .. } | StoreError::Vault(_))) => {
                    tx.execute_batch("ROLLBACK TO entry; RELEASE entry")?;
                    verdicts.push(Verdict::Invalid {
                        at,
                        reason: e.to_string(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        tx.commit()?;
        progress(((chunk_index + 1) * CHUNK).min(total), total);
    }
    let count = |f: fn(&Verdict) -> bool| verdicts.iter().filter(|v| f(v)).count();
    let report = ImportReport {
        format: parsed.format,
        unit: parsed.format.unit(),
        imported: count(|v| matches!(v, Verdict::Imported { .. })),
        duplicates: count(|v| matches!(v, Verdict::Duplicate { .. })),
        invalid: count(|v| matches!(v, Verdict::Invalid { .. })),
        verdicts,
    };
    // The activity log is a convenience: the import itself is committed.
    let _ = store.log_activity(
        "info",
        "import",
        &format!(
            "imported {} proxies ({} duplicate, {} invalid)",
            report.imported, report.duplicates, report.invalid
        ),
        None,
    );
    Ok(report)
}

/// Every verdict on its own line, then the totals.
impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = self.unit;
        for v in &self.verdicts {
            match v {
                Verdict::Imported { at, id } => writeln!(f, "{unit} {at}: imported as proxy {id}")?,
                Verdict::Duplicate { at, id } => {
                    writeln!(f, "{unit} {at}: duplicate of proxy {id}")?
                }
                Verdict::Invalid { at, reason } => writeln!(f, "{unit} {at}: invalid: {reason}")?,
            }
        }
        write!(
            f,
            "{} format: {} imported, {} duplicate, {} invalid",
            format!("{:?}", self.format).to_lowercase(),
            self.imported,
            self.duplicates,
            self.invalid
        )
    }
}
