//! Export: a URL list (credentials only when asked), CSV, or a PAC file that
//! sends a browser through the enabled proxies in weight order. PAC cannot
//! carry credentials.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use vip_engine::Protocol;

use crate::vault::Vault;
use crate::{Result, Store, StoreError};

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// `scheme://[user:pass@]host:port` per line.
    Urls,
    /// CSV with a header.
    Csv,
    /// A proxy auto-config script.
    Pac,
}

/// What must be escaped in a URL's userinfo: everything but unreserved
/// characters and sub-delimiters (RFC 3986).
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Renders the pool (or one group). With `with_credentials`, the vault must
/// be given and URL/CSV output includes usernames and passwords.
pub fn export(
    store: &Store,
    vault: Option<&Vault>,
    format: ExportFormat,
    with_credentials: bool,
    group: Option<&str>,
) -> Result<String> {
    let proxies = store.list_proxies(group)?;
    let creds = |p: &crate::repo::proxies::ProxyRecord| -> Result<Option<(String, String)>> {
        match (with_credentials, p.credential_id) {
            (true, Some(id)) => {
                let vault = vault.ok_or(crate::vault::VaultError::NotInitialized)?;
                let c = store.get_credential(vault, vip_engine::CredentialRef(id as u64))?;
                Ok(Some((
                    c.username.expose().to_string(),
                    c.password.expose().to_string(),
                )))
            }
            _ => Ok(None),
        }
    };
    let mut out = String::new();
    match format {
        ExportFormat::Urls => {
            for p in &proxies {
                let auth = creds(p)?.map_or(String::new(), |(u, pw)| {
                    format!(
                        "{}:{}@",
                        utf8_percent_encode(&u, USERINFO),
                        utf8_percent_encode(&pw, USERINFO)
                    )
                });
                out.push_str(&format!(
                    "{}://{auth}{}:{}\n",
                    p.protocol,
                    bracket(&p.host),
                    p.port
                ));
            }
        }
        ExportFormat::Csv => {
            out.push_str(if with_credentials {
                "host,port,protocol,username,password,country,region,city,group,weight,tags,enabled\n"
            } else {
                "host,port,protocol,country,region,city,group,weight,tags,enabled\n"
            });
            for p in &proxies {
                let mut cells = vec![
                    csv_cell(&p.host),
                    p.port.to_string(),
                    p.protocol.to_string(),
                ];
                if with_credentials {
                    let (u, pw) = creds(p)?.unwrap_or_default();
                    cells.push(csv_cell(&u));
                    cells.push(csv_cell(&pw));
                }
                for v in [&p.country, &p.region, &p.city, &p.group] {
                    cells.push(csv_cell(v.as_deref().unwrap_or("")));
                }
                cells.push(p.weight.to_string());
                cells.push(csv_cell(&p.tags.join(";")));
                cells.push(p.enabled.to_string());
                out.push_str(&cells.join(","));
                out.push('\n');
            }
        }
        ExportFormat::Pac => {
            if with_credentials {
                return Err(StoreError::invalid(
                    "--with-credentials",
                    "a PAC file cannot carry credentials",
                ));
            }
            let mut enabled: Vec<_> = proxies.iter().filter(|p| p.enabled).collect();
            enabled.sort_by(|a, b| b.weight.cmp(&a.weight).then(a.id.cmp(&b.id)));
            let targets: Vec<String> = enabled
                .iter()
                .map(|p| {
                    let kind = match p.protocol {
                        Protocol::Http => "PROXY",
                        Protocol::Https => "HTTPS",
                        Protocol::Socks4 | Protocol::Socks4a => "SOCKS",
                        Protocol::Socks5 => "SOCKS5",
                    };
                    format!("{kind} {}:{}", bracket(&p.host), p.port)
                })
                .collect();
            let route = if targets.is_empty() {
                "DIRECT".to_string()
            } else {
                targets.join("; ")
            };
            out.push_str("// Generated by vip. Proxies in weight order; no credentials.\n");
            out.push_str("function FindProxyForURL(url, host) {\n");
            out.push_str(&format!("  return {};\n", serde_json::Value::String(route)));
            out.push_str("}\n");
        }
    }
    Ok(out)
}
