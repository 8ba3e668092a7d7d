//! Whole-file formats: CSV with a header row, FoxyProxy JSON exports (v7
//! `proxySettings` with numeric types, v8 `data` or a bare array with string
//! types) and Clash YAML `proxies:` lists (http, https via `tls`, socks5).
//! Each record becomes one entry with its own verdict.

use serde_json::Value;
use vip_engine::Protocol;
use yaml_rust2::{Yaml, YamlLoader};

use super::Entry;
use super::lines::host_port;
use crate::repo::proxies::{NewProxy, check_host};
use crate::vault::Secret;

fn non_empty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn finish(
    mut p: NewProxy,
    host: Option<String>,
    port: Option<String>,
) -> Result<NewProxy, crate::InvalidValue> {
    let host = host.ok_or("missing host")?;
    let port = port.ok_or("missing port")?;
    (p.host, p.port) = host_port(&format!(
        "{}:{}",
        if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        },
        port
    ))?;
    check_host(&p.host)?;
    if p.username.as_ref().is_some_and(|u| u.is_empty()) {
        p.username = None;
        p.password = None;
    }
    Ok(p)
}

/// CSV with a header naming at least host and port.
pub fn csv(text: &str) -> Vec<Entry> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.to_ascii_lowercase()).collect(),
        Err(e) => {
            return vec![Entry {
                at: 1,
                result: Err(format!("unreadable CSV header: {e}").into()),
            }];
        }
    };
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let c_host = col(&["host", "hostname", "server", "address", "ip"]);
    let c_port = col(&["port"]);
    let c_proto = col(&["protocol", "type", "scheme"]);
    let c_user = col(&["username", "user", "login"]);
    let c_pass = col(&["password", "pass"]);
    let c_country = col(&["country", "cc", "country_code"]);
    let c_region = col(&["region", "state"]);
    let c_city = col(&["city"]);
    let c_group = col(&["group", "rotation_group"]);
    let c_weight = col(&["weight"]);
    let c_tags = col(&["tags", "tag"]);
    let c_enabled = col(&["enabled", "active"]);
    let mut out = Vec::new();
    for record in reader.records() {
        let (at, result) = match record {
            Err(e) => (
                e.position().map_or(0, |p| p.line() as usize),
                Err(format!("unreadable CSV record: {e}").into()),
            ),
            Ok(r) => {
                let at = r.position().map_or(0, |p| p.line() as usize);
                let get = |c: Option<usize>| non_empty(c.and_then(|i| r.get(i)));
                let parse = || -> Result<NewProxy, crate::InvalidValue> {
                    let mut p = NewProxy {
                        protocol: get(c_proto)
                            .map(|s| s.parse::<Protocol>().map_err(|e| e.to_string()))
                            .transpose()?,
                        username: get(c_user).map(Secret::new),
                        password: get(c_pass).map(Secret::new),
                        country: get(c_country),
                        region: get(c_region),
                        city: get(c_city),
                        group: get(c_group),
                        tags: get(c_tags)
                            .map(|t| {
                                t.split([';', '|'])
                                    .map(|s| s.trim().to_string())
                                    .filter(|s| !s.is_empty())
                                    .collect()
                            })
                            .unwrap_or_default(),
                        ..NewProxy::default()
                    };
                    if let Some(w) = get(c_weight) {
                        p.weight =
                            Some(w.parse().map_err(|_| {
                                format!("weight {w:?} is not a number from 0 to 100")
                            })?);
                    }
                    p.disabled = get(c_enabled).is_some_and(|e| {
                        matches!(e.to_ascii_lowercase().as_str(), "0" | "false" | "no")
                    });
                    finish(p, get(c_host), get(c_port))
                };
                (at, parse())
            }
        };
        out.push(Entry { at, result });
    }
    out
}

fn json_str(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match v.get(k)? {
        Value::String(s) => non_empty(Some(s)),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// FoxyProxy exports.
pub fn foxyproxy(value: &Value) -> Vec<Entry> {
    let list = value
        .get("proxySettings")
        .or_else(|| value.get("data"))
        .or_else(|| value.get("proxies"))
        .unwrap_or(value);
    let Some(items) = list.as_array() else {
        return vec![Entry {
            at: 1,
            result: Err(
                "JSON is not a FoxyProxy export: expected \"proxySettings\", \"data\" or a list"
                    .into(),
            ),
        }];
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let result = (|| {
                let protocol = match item.get("type") {
                    Some(Value::Number(n)) => match n.as_u64() {
                        Some(1) => Protocol::Http,
                        Some(2) => Protocol::Https,
                        Some(3) => Protocol::Socks5,
                        Some(4) => Protocol::Socks4,
                        _ => {
                            return Err(format!(
                                "FoxyProxy type {n} is not a proxy (direct, PAC or system)"
                            )
                            .into());
                        }
                    },
                    Some(Value::String(s)) => s.parse::<Protocol>().map_err(|e| e.to_string())?,
                    _ => Protocol::Http,
                };
                let p = NewProxy {
                    protocol: Some(protocol),
                    username: json_str(item, &["username"]).map(Secret::new),
                    password: json_str(item, &["password"]).map(Secret::new),
                    country: json_str(item, &["cc", "country"]),
                    city: json_str(item, &["city"]),
                    disabled: item.get("active").and_then(Value::as_bool) == Some(false),
                    ..NewProxy::default()
                };
                finish(
                    p,
                    json_str(item, &["hostname", "address", "host"]),
                    json_str(item, &["port"]),
                )
            })();
            Entry { at: i + 1, result }
        })
        .collect()
}

fn yaml_str(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => non_empty(Some(s)),
        Yaml::Integer(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A Clash `proxies:` list.
pub fn clash(text: &str) -> Vec<Entry> {
    let docs = match YamlLoader::load_from_str(text) {
        Ok(d) => d,
        Err(e) => {
            return vec![Entry {
                at: e.marker().line(),
                result: Err(format!("not valid YAML: {e}").into()),
            }];
        }
    };
    let Some(items) = docs.first().and_then(|d| d["proxies"].as_vec()) else {
        return vec![Entry {
            at: 1,
            result: Err("no `proxies:` list in the YAML".into()),
        }];
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let result = (|| {
                let kind = yaml_str(&item["type"])
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let protocol = match kind.as_str() {
                    "http" if item["tls"].as_bool() == Some(true) => Protocol::Https,
                    "http" => Protocol::Http,
                    "socks5" => Protocol::Socks5,
                    other => {
                        return Err(format!(
                            "Clash type {other:?} is not supported: only http and socks5 proxies"
                        )
                        .into());
                    }
                };
                let p = NewProxy {
                    protocol: Some(protocol),
                    username: yaml_str(&item["username"]).map(Secret::new),
                    password: yaml_str(&item["password"]).map(Secret::new),
                    ..NewProxy::default()
                };
                finish(p, yaml_str(&item["server"]), yaml_str(&item["port"]))
            })();
            Entry { at: i + 1, result }
        })
        .collect()
}
