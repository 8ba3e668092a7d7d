//! The two facts about a proxy every crate names: the protocol spoken to
//! it and the country it exits in. Parsing either is typed: a bad value is
//! an error that says what is accepted.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A protocol name that is none of ours.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown proxy protocol {0:?}: use one of http, https, socks4, socks4a, socks5")]
pub struct UnknownProtocol(pub String);

/// Text that is not a two-letter country code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a country code: use two letters (ISO 3166-1 alpha-2), e.g. \"US\" or \"DE\"")]
pub struct BadCountryCode(pub String);

/// The protocol spoken to the upstream proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP proxy (CONNECT and absolute-form requests).
    Http,
    /// HTTP proxy reached over TLS.
    Https,
    /// SOCKS4 (IPv4 addresses only; names resolved by the caller).
    Socks4,
    /// SOCKS4a (host names sent to the proxy).
    Socks4a,
    /// SOCKS5 (host names sent to the proxy, optional username/password).
    Socks5,
}

impl Protocol {
    /// Every protocol, in a stable order.
    pub const ALL: [Protocol; 5] = [
        Protocol::Http,
        Protocol::Https,
        Protocol::Socks4,
        Protocol::Socks4a,
        Protocol::Socks5,
    ];

    /// The URL scheme name.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Socks4 => "socks4",
            Protocol::Socks4a => "socks4a",
            Protocol::Socks5 => "socks5",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = UnknownProtocol;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.to_ascii_lowercase();
        Protocol::ALL
            .into_iter()
            .find(|p| p.as_str() == lower)
            .ok_or_else(|| UnknownProtocol(s.to_string()))
    }
}

/// An ISO 3166-1 alpha-2 country code, stored upper-case.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Parses two ASCII letters in any case.
    pub fn parse(s: &str) -> Result<CountryCode, BadCountryCode> {
        match s.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => Ok(CountryCode([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
            ])),
            _ => Err(BadCountryCode(s.to_string())),
        }
    }

    /// The code as a `&str`, e.g. `"DE"`.
    pub fn as_str(&self) -> &str {
        // Invariant: built only from two ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CountryCode {
    type Err = BadCountryCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CountryCode::parse(s)
    }
}

impl Serialize for CountryCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CountryCode::parse(&s).map_err(serde::de::Error::custom)
    }
}
