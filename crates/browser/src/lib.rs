//! # vip-browser
//!
//! Chromium only renders: this crate finds it, launches it as a person's
//! browser (no automation switches, no traffic of its own), and runs each
//! identity in its own browser context whose traffic goes to a gateway
//! listener. The default context is pointed at a listener that refuses
//! everything; QUIC is off; loopback is not exempt from the proxy.
//!
//! Every target of an identity (tab, out-of-process frame, worker) is
//! attached paused and only runs once the identity's user agent, client
//! hints, languages, timezone, locale and fingerprint protection are in
//! place; page requests are judged by the tracker blocklist by full URL.
//!
//! - `cdp`: the DevTools connection (commands, events, sessions);
//! - `launch`: finding and starting Chromium, its preferences and fonts;
//! - `browser`: the running browser and its contexts; `tab`: its tabs;
//! - `director`: the event loop that prepares targets and judges requests;
//! - `profile` (+ `protect.js`): an identity's fingerprint;
//! - `geo`: a country's timezone, locale and languages;
//! - `suffixes`: the public suffix rules the script finds sites by;
//! - `storage` (+ `storage.js`): an identity's cookies and local data;
//! - `cookies`: cookie files (Netscape `cookies.txt`, JSON) in and out.

mod browser;
pub mod cdp;
pub mod cookies;
mod director;
pub mod geo;
mod launch;
mod profile;
mod storage;
pub mod suffixes;
mod tab;

pub use browser::{Browser, ContextId, IdentitySetup, TabId, TabInfo};
pub use launch::{BASE_FONTS, LaunchOptions, display_available, find_chromium, find_chromium_in};
pub use profile::{BrowserFacts, Profile, WebRtcPolicy};
pub use storage::origin_of;
pub use suffixes::PUBLIC_SUFFIX_LIST;

use thiserror::Error;

/// What can go wrong with the browser.
#[derive(Debug, Error)]
pub enum BrowserError {
    /// No Chromium was found.
    #[error(
        "no Chromium found ({tried}): install it (Debian: apt-get install chromium) or set VIP_CHROMIUM to its path"
    )]
    NotFound {
        /// Where we looked.
        tried: String,
    },
    /// Chromium could not be started or answered wrongly.
    #[error("Chromium failed: {0}")]
    Cdp(String),
    /// A command was refused.
    #[error("Chromium refused {method}: {message}")]
    Command {
        /// The CDP method.
        method: String,
        /// Chromium's message.
        message: String,
    },
    /// Chromium is gone (exited or crashed).
    #[error("Chromium is not running (it exited or crashed)")]
    Gone,
}
