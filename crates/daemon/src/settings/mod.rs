//! `vip serve`'s settings from their three sources, validated once:
//! defaults, then the configuration file (TOML, `--config FILE`, else
//! `$XDG_CONFIG_HOME/vip/config.toml` when it exists), then the
//! environment (`VIP_SECTION_NAME`), then flags; the later wins. Every
//! value keeps where it came from, for `vip config show`. An unknown key or
//! a bad value is refused naming the file, variable or flag, the key and
//! what is accepted; nothing starts.
//!
//! [`Settings::daemon_config`] turns them into a [`crate::DaemonConfig`]
//! (loading the files they name); [`Settings::shown`] is `vip config show`.

mod assemble;
mod keys;
mod show;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use assemble::Served;
pub use keys::{KEYS, Key, Kind, Value, env_name};
pub use show::Shown;

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Built in.
    Default,
    /// The configuration file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "file {}", p.display()),
            Source::Env(v) => write!(f, "env {v}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read or is not TOML.
    #[error("{path}: {why}", path = .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A key no setting has.
    #[error("{source_name}: unknown setting {key:?}: known ones are {known}")]
    Unknown {
        /// The file, variable or flag.
        source_name: String,
        /// The key as written.
        key: String,
        /// The keys of its section (or all sections).
        known: String,
    },
    /// A value a setting does not accept.
    #[error("{source_name}: {key} = {value:?}: use {accepted}")]
    Invalid {
        /// The file, variable or flag.
        source_name: String,
        /// The setting.
        key: &'static str,
        /// The value as given (never a secret's).
        value: String,
        /// What is accepted.
        accepted: String,
    },
}

/// The effective settings.
#[derive(Debug)]
pub struct Settings {
    values: BTreeMap<&'static str, (Value, Source)>,
}

/// The file `vip serve` reads when no `--config` is given.
pub fn default_file() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("vip").join("config.toml"))
}

impl Settings {
    /// Reads defaults, the file (`file`, else the default file when it
    /// exists), the environment `env` (name, value pairs) and `flags`
    /// (key, value as text, for flags given on the command line).
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &[(&'static str, String)],
    ) -> Result<Settings, SettingsError> {
        let mut settings = Settings {
            values: BTreeMap::new(),
        };
        for key in KEYS {
            if let Some(default) = key.default {
                let value =
                    keys::parse(key.kind, default).map_err(|rejected| SettingsError::Invalid {
                        source_name: "built-in default".into(),
                        key: key.name,
                        value: default.into(),
                        accepted: rejected.0,
                    })?;
                settings.values.insert(key.name, (value, Source::Default));
            }
        }
        let file = match file {
            Some(f) => Some(f.to_path_buf()),
            None => default_file().filter(|f| f.exists()),
        };
        if let Some(path) = file {
            settings.read_file(&path)?;
        }
        settings.read_env(env)?;
        for (name, text) in flags {
            let key = keys::key(name).ok_or_else(|| SettingsError::Unknown {
                source_name: "flags".into(),
                key: name.to_string(),
                known: known(None),
            })?;
            settings.set(key, text, Source::Flag(key.flag))?;
        }
        Ok(settings)
    }

    fn set(&mut self, key: &'static Key, text: &str, source: Source) -> Result<(), SettingsError> {
        let value = keys::parse(key.kind, text).map_err(|rejected| SettingsError::Invalid {
            source_name: source.to_string(),
            key: key.name,
            value: if key.kind == Kind::Secret {
                "***".into()
            } else {
                text.into()
            },
            accepted: rejected.0,
        })?;
        self.values.insert(key.name, (value, source));
        Ok(())
    }

    fn read_file(&mut self, path: &Path) -> Result<(), SettingsError> {
        let file_error = |why: String| SettingsError::File {
            path: path.to_path_buf(),
            why,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| file_error(format!("not valid TOML: {}", e.message())))?;
        let source_name = path.display().to_string();
        for (section, entries) in &table {
            let Some(entries) = entries.as_table() else {
                return Err(SettingsError::Unknown {
                    source_name,
                    key: section.clone(),
                    known: format!(
                        "the sections {}",
                        keys::sections().collect::<Vec<_>>().join(", ")
                    ),
                });
            };
            for (name, value) in entries {
                let full = format!("{section}.{name}");
                let key = keys::key(&full).ok_or_else(|| SettingsError::Unknown {
                    source_name: source_name.clone(),
                    key: full.clone(),
                    known: known(Some(section)),
                })?;
                let text = toml_text(key, value).ok_or_else(|| SettingsError::Invalid {
                    source_name: source_name.clone(),
                    key: key.name,
                    value: if key.kind == Kind::Secret {
                        "***".into()
                    } else {
                        toml_shown(value)
                    },
                    accepted: keys::accepted(key.kind),
                })?;
                self.set(key, &text, Source::File(path.to_path_buf()))?;
            }
        }
        Ok(())
    }

    fn read_env(
        &mut self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), SettingsError> {
        let prefixes: Vec<String> = keys::sections()
            .map(|s| format!("VIP_{}_", s.to_ascii_uppercase()))
            .collect();
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(name, _)| prefixes.iter().any(|p| name.starts_with(p.as_str())))
            .collect();
        vars.sort();
        for (var, text) in vars {
            let key = KEYS
                .iter()
                .find(|k| env_name(k.name) == var)
                .ok_or_else(|| {
                    let section = prefixes
                        .iter()
                        .position(|p| var.starts_with(p.as_str()))
                        .and_then(|i| keys::sections().nth(i));
                    SettingsError::Unknown {
                        source_name: format!("env {var}"),
                        key: var.clone(),
                        known: KEYS
                            .iter()
                            .filter(|k| {
                                section.is_none_or(|s| k.name.starts_with(&format!("{s}.")))
                            })
                            .map(|k| env_name(k.name))
                            .collect::<Vec<_>>()
                            .join(", "),
                    }
                })?;
            self.set(key, &text, Source::Env(var.clone()))?;
        }
        Ok(())
    }

    /// Every setting with its value and source (unset ones as `None`), in
    /// the table's order.
    pub fn rows(&self) -> Vec<(&'static Key, Option<&Value>, Source)> {
        KEYS.iter()
            .map(|k| match self.values.get(k.name) {
                Some((v, s)) => (k, Some(v), s.clone()),
                None => (k, None, Source::Default),
            })
            .collect()
    }

    /// A setting's value, when set.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name).map(|(v, _)| v)
    }

    /// Where a setting's value came from.
    pub fn source(&self, name: &str) -> Source {
        self.values
            .get(name)
            .map_or(Source::Default, |(_, s)| s.clone())
    }

    /// A number setting (0 when unset).
    pub fn number(&self, name: &str) -> Option<u64> {
        match self.get(name) {
            Some(Value::Number(n)) => Some(*n),
            _ => None,
        }
    }

    /// A flag setting.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some(Value::Bool(true)))
    }

    /// An address setting.
    pub fn addr(&self, name: &str) -> Option<std::net::SocketAddr> {
        match self.get(name) {
            Some(Value::Addr(a)) => Some(*a),
            _ => None,
        }
    }

    /// A path setting.
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        match self.get(name) {
            Some(Value::Path(p)) => Some(p.clone()),
            _ => None,
        }
    }

    /// A text or secret setting, as text.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(Value::Text(t)) => Some(t.clone()),
            Some(Value::Secret(s)) => Some(s.expose().to_string()),
            _ => None,
        }
    }

    /// A list setting (empty when unset).
    pub fn list(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(Value::List(l)) => l.clone(),
            _ => Vec::new(),
        }
    }
}

/// The keys of `section` (or every key), for an unknown-key message.
fn known(section: Option<&str>) -> String {
    KEYS.iter()
        .filter(|k| section.is_none_or(|s| k.name.starts_with(&format!("{s}."))))
        .map(|k| k.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A TOML value as a message shows it.
fn toml_shown(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(_) => "a date".into(),
        toml::Value::Array(_) => "a list".into(),
        toml::Value::Table(_) => "a table".into(),
    }
}

/// A TOML value as the text the parser takes, when its type fits.
fn toml_text(key: &Key, value: &toml::Value) -> Option<String> {
    match (key.kind, value) {
        (Kind::Bool, toml::Value::Boolean(b)) => Some(b.to_string()),
        (Kind::Number { .. }, toml::Value::Integer(n)) if *n >= 0 => Some(n.to_string()),
        (Kind::List, toml::Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.join(",")),
        (Kind::Addr | Kind::Text | Kind::Secret | Kind::Path, toml::Value::String(s)) => {
            Some(s.clone())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
