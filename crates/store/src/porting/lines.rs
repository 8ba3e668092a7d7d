//! One-proxy-per-line formats, detected per line: `host:port`,
//! `host:port:user:pass`, `user:pass@host:port` and
//! `scheme://user:pass@host:port` (IPv6 hosts in brackets; user and password
//! percent-decoded).

use percent_encoding::percent_decode_str;
use vip_engine::Protocol;

use crate::repo::proxies::{NewProxy, check_host};
use crate::vault::Secret;

/// Longest line accepted.
pub const MAX_LINE: usize = 4096;

fn scheme(s: &str) -> Result<Protocol, crate::InvalidValue> {
    match s.to_ascii_lowercase().as_str() {
        "socks5h" | "socks" => Ok(Protocol::Socks5),
        other => other.parse().map_err(|_| {
            format!("unknown scheme {s:?}: use http, https, socks4, socks4a or socks5").into()
        }),
    }
}

fn decode(s: &str) -> Secret {
    Secret::new(percent_decode_str(s).decode_utf8_lossy().into_owned())
}

/// Splits `host:port` or `[v6]:port`.
pub fn host_port(s: &str) -> Result<(String, u16), crate::InvalidValue> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("unclosed '[' in IPv6 host")?;
        (
            h,
            after
                .strip_prefix(':')
                .ok_or("missing port after IPv6 host")?,
        )
    } else {
        s.rsplit_once(':')
            .ok_or_else(|| format!("missing port in {s:?}: write host:port"))?
    };
    check_host(host)?;
    let port: u16 = match port.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => p as u16,
        _ => return Err(format!("bad port {port:?}: use 1 to 65535").into()),
    };
    Ok((host.to_string(), port))
}

/// Parses one line.
pub fn parse_line(line: &str) -> Result<NewProxy, crate::InvalidValue> {
    let line = line.trim();
    let (protocol, rest) = match line.split_once("://") {
        Some((s, rest)) => (Some(scheme(s)?), rest.trim_end_matches('/')),
        None => (None, line),
    };
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let mut proxy = NewProxy {
        protocol,
        ..NewProxy::default()
    };
    if let Some(u) = userinfo {
        let (user, pass) = u.split_once(':').unwrap_or((u, ""));
        if user.is_empty() {
            return Err("empty username before '@'".into());
        }
        proxy.username = Some(decode(user));
        proxy.password = Some(decode(pass));
        (proxy.host, proxy.port) = host_port(hostport)?;
        return Ok(proxy);
    }
    let parts: Vec<&str> = hostport.split(':').collect();
    if protocol.is_none() && parts.len() >= 4 && !hostport.starts_with('[') {
        // Provider lists write raw passwords here (which may hold ':').
        (proxy.host, proxy.port) = host_port(&format!("{}:{}", parts[0], parts[1]))?;
        if parts[2].is_empty() {
            return Err("empty username in host:port:user:pass".into());
        }
        proxy.username = Some(Secret::new(parts[2]));
        proxy.password = Some(Secret::new(parts[3..].join(":")));
        return Ok(proxy);
    }
    if parts.len() > 2 && !hostport.starts_with('[') {
        return Err(format!(
            "cannot read {} fields separated by ':'; use host:port or host:port:user:pass",
            parts.len()
        )
        .into());
    }
    (proxy.host, proxy.port) = host_port(hostport)?;
    Ok(proxy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_format() {
        let p = parse_line("1.2.3.4:8080").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.protocol, p.username.is_none()),
            ("1.2.3.4", 8080, None, true)
        );
        let p = parse_line("gw.example:7777:user-1:p%40ss").unwrap();
        assert_eq!(
            (p.username.unwrap().expose(), p.password.unwrap().expose()),
            ("user-1", "p%40ss")
        );
        let p = parse_line("u:p%40ss@gw.example:1").unwrap();
        assert_eq!(p.password.unwrap().expose(), "p@ss");
        let p = parse_line("socks5://u:p@[::1]:1080/").unwrap();
        assert_eq!(
            (p.protocol, p.host.as_str(), p.port),
            (Some(Protocol::Socks5), "::1", 1080)
        );
        assert!(
            parse_line("ftp://x:1")
                .unwrap_err()
                .0
                .contains("unknown scheme \"ftp\"")
        );
        assert!(
            parse_line("x:99999")
                .unwrap_err()
                .0
                .contains("bad port \"99999\"")
        );
        assert!(parse_line(":80").unwrap_err().0.contains("missing host"));
        assert!(
            parse_line("hostonly")
                .unwrap_err()
                .0
                .contains("missing port")
        );
        assert!(parse_line("a:1:2").unwrap_err().0.contains("3 fields"));
    }
}
