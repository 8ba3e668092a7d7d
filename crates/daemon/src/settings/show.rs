//! The effective settings as `vip config show` prints them: each key with
//! its value (secrets as `***`), where the value came from, and the
//! environment variable and flag that set it.

use serde::Serialize;

use super::{Settings, Source, env_name};

/// One setting, shown.
#[derive(Debug, Serialize)]
pub struct Shown {
    /// `section.name`.
    pub key: &'static str,
    /// The value as the file would write it (`None`: unset).
    pub value: Option<String>,
    /// Where the value came from.
    pub source: String,
    /// The environment variable that sets it.
    pub env: String,
    /// The `vip serve` flag that sets it.
    pub flag: &'static str,
    /// What it does.
    pub about: &'static str,
}

impl Settings {
    /// Every setting in the table's order.
    pub fn shown(&self) -> Vec<Shown> {
        self.rows()
            .into_iter()
            .map(|(k, v, source)| Shown {
                key: k.name,
                value: v.map(|v| v.shown()),
                source: match (v, &source) {
                    (None, Source::Default) => "unset".into(),
                    _ => source.to_string(),
                },
                env: env_name(k.name),
                flag: k.flag,
                about: k.help,
            })
            .collect()
    }
}
