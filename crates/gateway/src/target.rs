//! Where a client wants to go: a host name or IP literal and a port, parsed
//! from a CONNECT authority, an absolute URL or a SOCKS request. Host names
//! stay names: the gateway never resolves a proxied target itself.

use std::fmt;
use std::net::IpAddr;

/// A connection target.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// Host name (lower-case) or IP literal (no brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Target {
    /// Parses `host:port` or `[v6]:port`; `default_port` when the port is absent.
    pub fn parse_authority(
        s: &str,
        default_port: Option<u16>,
    ) -> Result<Target, crate::InputError> {
        let bad = |why: String| crate::InputError::Target(why);
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, after) = rest
                .split_once(']')
                .ok_or_else(|| bad(format!("unclosed '[' in {s:?}")))?;
            (h, after.strip_prefix(':'))
        } else {
            match s.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p)),
                _ => (s, None),
            }
        };
        let port = match (port, default_port) {
            (Some(p), _) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad(format!("bad port {p:?}")))?,
            (None, Some(d)) => d,
            (None, None) => return Err(bad(format!("missing port in {s:?}"))),
        };
        if host.is_empty() || host.len() > 253 {
            return Err(bad(format!("bad host in {s:?}")));
        }
        if host.parse::<IpAddr>().is_err()
            && !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return Err(bad(format!("bad host {host:?}")));
        }
        Ok(Target {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// The IP address, when the host is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities() {
        assert_eq!(
            Target::parse_authority("Example.COM:443", None)
                .unwrap()
                .to_string(),
            "example.com:443"
        );
        assert_eq!(
            Target::parse_authority("[::1]:80", None).unwrap().host,
            "::1"
        );
        assert_eq!(Target::parse_authority("a.b", Some(80)).unwrap().port, 80);
        assert!(Target::parse_authority("a.b:0", None).is_err());
        assert!(Target::parse_authority("a b:1", None).is_err());
        assert!(Target::parse_authority("a.b", None).is_err());
    }
}
