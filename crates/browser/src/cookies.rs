//! Cookie files people carry between browsers: Netscape `cookies.txt`
//! (curl, wget, yt-dlp, browser extensions) and JSON (the shape cookie
//! extensions export: `domain`, `name`, `value`, `path`, `expirationDate`,
//! `httpOnly`, `secure`, `sameSite`, `hostOnly`; DevTools' own shape with
//! `expires` is read too). Cookies are held in the DevTools shape
//! (`Storage.getCookies` / `setCookies`). Parsing gives every line or
//! entry a verdict; a bad one never stops the rest.

use serde::Serialize;
use serde_json::{Map, Value, json};

/// A cookie file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CookieFormat {
    /// Netscape `cookies.txt`.
    Netscape,
    /// A JSON array of cookie objects.
    Json,
}

impl CookieFormat {
    /// Parses `netscape` or `json`.
    pub fn parse(text: &str) -> Option<CookieFormat> {
        match text {
            "netscape" | "txt" => Some(CookieFormat::Netscape),
            "json" => Some(CookieFormat::Json),
            _ => None,
        }
    }
}

/// What happened to one line or entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum CookieVerdict {
    /// Taken.
    Imported {
        /// Line (Netscape) or entry (JSON) number, from 1.
        at: usize,
        /// The cookie's domain.
        domain: String,
        /// The cookie's name.
        name: String,
    },
    /// Past its expiry: not taken.
    Expired {
        /// Line or entry number.
        at: usize,
        /// The cookie's name.
        name: String,
    },
    /// Not a cookie.
    Invalid {
        /// Line or entry number.
        at: usize,
        /// Why, and how to fix it.
        reason: String,
    },
}

/// A parsed cookie file.
#[derive(Clone, Debug, Serialize)]
pub struct ParsedCookies {
    /// The detected format.
    pub format: CookieFormat,
    /// The cookies to set, in the DevTools shape.
    #[serde(skip)]
    pub cookies: Vec<Value>,
    /// One verdict per line or entry.
    pub verdicts: Vec<CookieVerdict>,
}

/// The file could be read in neither format.
#[derive(Debug, thiserror::Error)]
#[error(
    "not a cookie file: use Netscape cookies.txt (seven tab-separated fields per line) or a JSON array of cookies"
)]
pub struct NotCookies;

/// Detects the format and parses every line or entry; `now` is the time in
/// seconds since 1970 (expired cookies are reported, not taken).
pub fn parse(text: &str, now: f64) -> Result<ParsedCookies, NotCookies> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        let value: Value = serde_json::from_str(trimmed).map_err(|_| NotCookies)?;
        let list = match value {
            Value::Array(list) => list,
            Value::Object(mut o) => match o.remove("cookies") {
                Some(Value::Array(list)) => list,
                _ => return Err(NotCookies),
            },
            _ => return Err(NotCookies),
        };
        let mut parsed = ParsedCookies {
            format: CookieFormat::Json,
            cookies: Vec::new(),
            verdicts: Vec::new(),
        };
        for (i, entry) in list.iter().enumerate() {
            parsed.take(i + 1, from_json(entry), now);
        }
        return Ok(parsed);
    }
    let mut parsed = ParsedCookies {
        format: CookieFormat::Netscape,
        cookies: Vec::new(),
        verdicts: Vec::new(),
    };
    // A file with a header or a tab-separated line is cookies.txt (its bad
    // lines get verdicts); anything else is not a cookie file at all.
    let netscape = text.contains("# Netscape HTTP Cookie File")
        || text.contains("# HTTP Cookie File")
        || text.lines().any(|l| l.contains('\t'));
    if !netscape && !text.trim().is_empty() {
        return Err(NotCookies);
    }
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        let (http_only, line) = match line.strip_prefix("#HttpOnly_") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        if line.trim().is_empty() || (!http_only && line.starts_with('#')) {
            continue;
        }
        parsed.take(i + 1, from_netscape(line, http_only), now);
    }
    Ok(parsed)
}

impl ParsedCookies {
    fn take(&mut self, at: usize, cookie: Result<Value, String>, now: f64) {
        match cookie {
            Err(reason) => self.verdicts.push(CookieVerdict::Invalid { at, reason }),
            Ok(c) => {
                let name = c["name"].as_str().unwrap_or_default().to_string();
                let expires = c["expires"].as_f64().unwrap_or(-1.0);
                if expires > 0.0 && expires <= now {
                    self.verdicts.push(CookieVerdict::Expired { at, name });
                } else {
                    let domain = c["domain"].as_str().unwrap_or_default().to_string();
                    self.verdicts
                        .push(CookieVerdict::Imported { at, domain, name });
                    self.cookies.push(c);
                }
            }
        }
    }
}

fn flag(text: &str, field: &str) -> Result<bool, String> {
    match text {
        "TRUE" | "true" => Ok(true),
        "FALSE" | "false" => Ok(false),
        other => Err(format!("{field} is {other:?}: use TRUE or FALSE")),
    }
}

fn check_domain(domain: &str) -> Result<(), String> {
    let bare = domain.trim_start_matches('.');
    if bare.is_empty()
        || bare
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
    {
        return Err(format!("domain {domain:?} is not a host name"));
    }
    Ok(())
}

/// One `cookies.txt` line: domain, include-subdomains, path, secure,
/// expiry (seconds; 0 for a session cookie), name, value.
fn from_netscape(line: &str, http_only: bool) -> Result<Value, String> {
    let fields: Vec<&str> = line.split('\t').collect();
    if fields.len() != 7 {
        return Err(format!(
            "{} tab-separated fields: a cookies.txt line has 7 (domain, subdomains, path, secure, expiry, name, value)",
            fields.len()
        ));
    }
    let (domain, subdomains, path, secure, expiry, name, value) = (
        fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6],
    );
    check_domain(domain)?;
    let subdomains = flag(subdomains, "include-subdomains")?;
    let secure = flag(secure, "secure")?;
    let expiry: f64 = expiry
        .parse()
        .map_err(|_| format!("expiry {expiry:?} is not a number of seconds"))?;
    if name.is_empty() {
        return Err("the cookie has no name".into());
    }
    let bare = domain.trim_start_matches('.');
    let domain = if subdomains {
        format!(".{bare}")
    } else {
        bare.to_string()
    };
    let mut c = json!({
        "name": name, "value": value, "domain": domain, "path": if path.is_empty() { "/" } else { path },
        "secure": secure, "httpOnly": http_only,
    });
    if expiry > 0.0 {
        c["expires"] = json!(expiry);
    }
    Ok(c)
}

/// One JSON entry, in the extensions' shape or DevTools' own.
fn from_json(entry: &Value) -> Result<Value, String> {
    let o = entry
        .as_object()
        .ok_or_else(|| "not an object with name, value and domain".to_string())?;
    let text = |k: &str| o.get(k).and_then(Value::as_str);
    let name = text("name")
        .filter(|n| !n.is_empty())
        .ok_or("the cookie has no name")?;
    let value = text("value").ok_or_else(|| format!("cookie {name:?} has no value"))?;
    let domain = text("domain").ok_or_else(|| format!("cookie {name:?} has no domain"))?;
    check_domain(domain)?;
    let host_only = o.get("hostOnly").and_then(Value::as_bool).unwrap_or(false);
    let bare = domain.trim_start_matches('.');
    let domain = if host_only || !domain.starts_with('.') {
        bare.to_string()
    } else {
        format!(".{bare}")
    };
    let mut c = Map::new();
    c.insert("name".into(), json!(name));
    c.insert("value".into(), json!(value));
    c.insert("domain".into(), json!(domain));
    c.insert("path".into(), json!(text("path").unwrap_or("/")));
    for k in ["secure", "httpOnly"] {
        c.insert(
            k.into(),
            json!(o.get(k).and_then(Value::as_bool).unwrap_or(false)),
        );
    }
    let session = o.get("session").and_then(Value::as_bool).unwrap_or(false);
    let expires = o
        .get("expirationDate")
        .or_else(|| o.get("expires"))
        .and_then(Value::as_f64)
        .filter(|e| *e > 0.0 && !session);
    if let Some(e) = expires {
        c.insert("expires".into(), json!(e));
    }
    let same_site = match text("sameSite").map(str::to_ascii_lowercase).as_deref() {
        Some("strict") => Some("Strict"),
        Some("lax") => Some("Lax"),
        Some("none" | "no_restriction") => Some("None"),
        _ => None,
    };
    if let Some(s) = same_site {
        c.insert("sameSite".into(), json!(s));
    }
    Ok(Value::Object(c))
}

/// `cookies` (DevTools' shape) as a cookie file.
pub fn render(cookies: &[Value], format: CookieFormat) -> String {
    match format {
        CookieFormat::Netscape => {
            let mut out = String::from("# Netscape HTTP Cookie File\n");
            for c in cookies {
                let domain = c["domain"].as_str().unwrap_or_default();
                let prefix = if c["httpOnly"].as_bool().unwrap_or(false) {
                    "#HttpOnly_"
                } else {
                    ""
                };
                let upper = |b: bool| if b { "TRUE" } else { "FALSE" };
                let expires = c["expires"].as_f64().filter(|e| *e > 0.0).unwrap_or(0.0);
                out.push_str(&format!(
                    "{prefix}{domain}\t{}\t{}\t{}\t{}\t{}\t{}\n",
                    upper(domain.starts_with('.')),
                    c["path"].as_str().unwrap_or("/"),
                    upper(c["secure"].as_bool().unwrap_or(false)),
                    expires as i64,
                    c["name"].as_str().unwrap_or_default(),
                    c["value"].as_str().unwrap_or_default(),
                ));
            }
            out
        }
        CookieFormat::Json => {
            let list: Vec<Value> = cookies
                .iter()
                .map(|c| {
                    let domain = c["domain"].as_str().unwrap_or_default();
                    let expires = c["expires"].as_f64().filter(|e| *e > 0.0);
                    let mut o = json!({
                        "domain": domain,
                        "hostOnly": !domain.starts_with('.'),
                        "name": c["name"], "value": c["value"],
                        "path": c["path"].as_str().unwrap_or("/"),
                        "secure": c["secure"].as_bool().unwrap_or(false),
                        "httpOnly": c["httpOnly"].as_bool().unwrap_or(false),
                        "session": expires.is_none(),
                        "sameSite": match c["sameSite"].as_str() {
                            Some("Strict") => "strict",
                            Some("Lax") => "lax",
                            Some("None") => "no_restriction",
                            _ => "unspecified",
                        },
                    });
                    if let Some(e) = expires {
                        o["expirationDate"] = json!(e);
                    }
                    o
                })
                .collect();
            serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into()) + "\n"
        }
    }
}

#[cfg(test)]
mod tests;
