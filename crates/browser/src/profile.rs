//! An identity's fingerprint: values derived from its secret seed (stable
//! for the identity, unrelated between identities) plus the proxy country's
//! locale, turned into the protection script and the CDP overrides.
//! Per-site values (canvas, audio, text-metric noise) use a seed the script
//! derives in the page as SHA-256(page secret | registrable domain), so one
//! site cannot compute another site's values; the page secret is itself a
//! hash of the identity seed, kept inside the script's closure. The
//! registrable domain comes from the public suffix list (`suffixes`: the
//! rules travel as a small Bloom filter).
//! Doing this in the page, not in vip, matters: a cross-site navigation
//! cannot wait for a new script to be registered (Chromium holds the tab's
//! commands until the navigation commits), so the script must already know
//! every site.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::geo::{self, Locale};

/// The protection script, with `__VIP_CONFIG__` to fill in.
const SCRIPT: &str = include_str!("protect.js");

/// Realistic WebGL vendor/renderer pairs for Linux (ANGLE over OpenGL).
const GPUS: &[(&str, &str)] = &[
    (
        "Google Inc. (Intel)",
        "ANGLE (Intel, Mesa Intel(R) UHD Graphics 620 (KBL GT2), OpenGL 4.6)",
    ),
    (
        "Google Inc. (Intel)",
        "ANGLE (Intel, Mesa Intel(R) Xe Graphics (TGL GT2), OpenGL 4.6)",
    ),
    (
        "Google Inc. (Intel)",
        "ANGLE (Intel, Mesa Intel(R) HD Graphics 530 (SKL GT2), OpenGL 4.6)",
    ),
    (
        "Google Inc. (Intel)",
        "ANGLE (Intel, Mesa Intel(R) Graphics (ADL GT2), OpenGL 4.6)",
    ),
    (
        "Google Inc. (AMD)",
        "ANGLE (AMD, AMD Radeon Graphics (radeonsi, renoir, LLVM 15.0.6, DRM 3.49, 6.1.0-18-amd64), OpenGL 4.6)",
    ),
    (
        "Google Inc. (AMD)",
        "ANGLE (AMD, AMD Radeon RX 580 Series (radeonsi, polaris10, LLVM 15.0.6, DRM 3.49, 6.1.0-18-amd64), OpenGL 4.6)",
    ),
    (
        "Google Inc. (NVIDIA Corporation)",
        "ANGLE (NVIDIA Corporation, NVIDIA GeForce GTX 1660/PCIe/SSE2, OpenGL 4.5.0)",
    ),
    (
        "Google Inc. (NVIDIA Corporation)",
        "ANGLE (NVIDIA Corporation, NVIDIA GeForce RTX 3060/PCIe/SSE2, OpenGL 4.5.0)",
    ),
];
/// Network quality as `navigator.connection` reports it (round-trip ms,
/// downlink Mbit/s), in the steps Chromium rounds to. Chromium's estimate
/// is one per browser, so every identity would otherwise report the same.
const NETWORKS: &[(u32, f64)] = &[
    (50, 10.0),
    (50, 7.75),
    (75, 5.4),
    (75, 10.0),
    (125, 3.6),
    (150, 5.4),
    (175, 2.15),
    (200, 7.75),
];
const CORES: &[u32] = &[2, 4, 6, 8, 12, 16];
const MEMORY: &[u32] = &[2, 4, 8];
/// WebGL extensions a page can do without (compressed texture formats,
/// clip and depth controls, exotic shader features): each identity hides
/// about a third of them, so the extension list (which fingerprinting
/// libraries hash, and which is otherwise the real GPU's for every
/// identity) differs between identities. Extensions pages rely on
/// (instancing, float textures, draw buffers, anisotropic filtering, ...)
/// are never hidden.
const OPTIONAL_GL_EXTENSIONS: &[&str] = &[
    "EXT_clip_control",
    "EXT_conservative_depth",
    "EXT_depth_clamp",
    "EXT_float_blend",
    "EXT_polygon_offset_clamp",
    "EXT_texture_compression_bptc",
    "EXT_texture_compression_rgtc",
    "EXT_texture_mirror_clamp_to_edge",
    "NV_shader_noperspective_interpolation",
    "OES_draw_buffers_indexed",
    "OES_fbo_render_mipmap",
    "OES_sample_variables",
    "OES_shader_multisample_interpolation",
    "OVR_multiview2",
    "WEBGL_clip_cull_distance",
    "WEBGL_compressed_texture_astc",
    "WEBGL_compressed_texture_etc",
    "WEBGL_compressed_texture_etc1",
    "WEBGL_compressed_texture_s3tc_srgb",
    "WEBGL_debug_shaders",
    "WEBGL_multi_draw",
    "WEBGL_polygon_mode",
    "WEBGL_stencil_texturing",
];

/// Common desktop screen sizes. An identity shows one of those at least as
/// large as the real screen, so a window never outgrows its screen.
const SCREENS: &[(u32, u32)] = &[
    (1920, 1080),
    (1366, 768),
    (1536, 864),
    (1440, 900),
    (1600, 900),
    (1680, 1050),
    (1280, 1024),
    (1920, 1200),
    (2560, 1440),
    (1280, 800),
];

/// A WebRTC policy name that is none of the four.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown WebRTC policy {0:?}: use one of disable, disable_non_proxied_udp, default_public_interface_only, default"
)]
pub struct UnknownWebRtcPolicy(pub String);

/// WebRTC IP handling for an identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum WebRtcPolicy {
    /// No WebRTC at all (the constructors are removed).
    Disable,
    /// Only through the proxy; no UDP that bypasses it (the default).
    #[default]
    DisableNonProxiedUdp,
    /// The default route's public address only.
    DefaultPublicInterfaceOnly,
    /// Chromium's default (leaks local addresses).
    Default,
}

impl WebRtcPolicy {
    /// Every policy, for help texts.
    pub const ALL: [WebRtcPolicy; 4] = [
        WebRtcPolicy::Disable,
        WebRtcPolicy::DisableNonProxiedUdp,
        WebRtcPolicy::DefaultPublicInterfaceOnly,
        WebRtcPolicy::Default,
    ];

    /// The name used in the CLI, the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            WebRtcPolicy::Disable => "disable",
            WebRtcPolicy::DisableNonProxiedUdp => "disable_non_proxied_udp",
            WebRtcPolicy::DefaultPublicInterfaceOnly => "default_public_interface_only",
            WebRtcPolicy::Default => "default",
        }
    }

    /// Parses a policy name.
    pub fn parse(s: &str) -> Result<WebRtcPolicy, UnknownWebRtcPolicy> {
        WebRtcPolicy::ALL
            .into_iter()
            .find(|p| p.as_str() == s.trim())
            .ok_or_else(|| UnknownWebRtcPolicy(s.to_string()))
    }

    /// The `webrtc.ip_handling_policy` preference Chromium needs (the
    /// command-line switch is not honoured by every version; the
    /// preference is). `disable` keeps the strictest preference and also
    /// removes the API from pages.
    pub fn preference(self) -> &'static str {
        match self {
            WebRtcPolicy::Disable | WebRtcPolicy::DisableNonProxiedUdp => "disable_non_proxied_udp",
            WebRtcPolicy::DefaultPublicInterfaceOnly => "default_public_interface_only",
            WebRtcPolicy::Default => "default",
        }
    }
}

/// What the running Chromium really is (read once at launch), so the
/// override only changes what must change.
#[derive(Clone, Debug, Default)]
pub struct BrowserFacts {
    /// `navigator.userAgent` with any `HeadlessChrome` made `Chrome`.
    pub user_agent: String,
    /// `navigator.userAgentData` high-entropy values (brands, fullVersionList, ...).
    pub ua_data: Value,
    /// The real screen's width and height in CSS pixels.
    pub screen: (u32, u32),
}

/// An identity's fingerprint.
#[derive(Clone, Debug)]
pub struct Profile {
    seed: [u8; 32],
    /// WebGL unmasked vendor.
    pub gl_vendor: &'static str,
    /// WebGL unmasked renderer.
    pub gl_renderer: &'static str,
    /// `navigator.hardwareConcurrency`.
    pub hardware_concurrency: u32,
    /// `navigator.deviceMemory`.
    pub device_memory: u32,
    /// `navigator.connection` round trip (ms) and downlink (Mbit/s).
    pub network: (u32, f64),
    /// The WebGL extensions it hides (about a third of
    /// [`OPTIONAL_GL_EXTENSIONS`]).
    pub hidden_gl_extensions: Vec<&'static str>,
    /// Timezone, locale and languages of the proxy's country.
    pub locale: Locale,
    /// WebRTC policy.
    pub webrtc: WebRtcPolicy,
}

fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

fn pick<T: Copy>(seed: &[u8; 32], label: &str, from: &[T]) -> T {
    let h = hash(&[seed, label.as_bytes()]);
    let n = u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
    from[(n % from.len() as u64) as usize]
}

impl Profile {
    /// The fingerprint of the identity with `seed`, browsing from `country`.
    pub fn new(seed: [u8; 32], country: Option<&str>, webrtc: WebRtcPolicy) -> Profile {
        let (gl_vendor, gl_renderer) = pick(&seed, "gpu", GPUS);
        Profile {
            seed,
            gl_vendor,
            gl_renderer,
            hardware_concurrency: pick(&seed, "cores", CORES),
            device_memory: pick(&seed, "memory", MEMORY),
            network: pick(&seed, "network", NETWORKS),
            hidden_gl_extensions: OPTIONAL_GL_EXTENSIONS
                .iter()
                .copied()
                .filter(|name| {
                    hash(&[&seed, b"gl-extension", name.as_bytes()])[0].is_multiple_of(3)
                })
                .collect(),
            locale: geo::for_country(country),
            webrtc,
        }
    }

    /// The screen this identity shows, given the real one: a common size
    /// no smaller than the real screen (the real one when none is).
    pub fn screen(&self, real: (u32, u32)) -> (u32, u32) {
        let fits: Vec<(u32, u32)> = SCREENS
            .iter()
            .copied()
            .filter(|&(w, h)| w >= real.0 && h >= real.1)
            .collect();
        if fits.is_empty() {
            real
        } else {
            pick(&self.seed, "screen", &fits)
        }
    }

    /// The secret the page script derives per-site seeds from.
    fn page_secret(&self) -> String {
        hash(&[&self.seed, b"page-secret"])[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The protection script for this identity's documents and workers
    /// (`facts` for the real screen the identity's screen must cover).
    pub fn script(&self, facts: &BrowserFacts) -> String {
        let (screen_width, screen_height) = self.screen(facts.screen);
        let config = json!({
            "screen": [screen_width, screen_height],
            "secret": self.page_secret(),
            "suffixes": crate::suffixes::filter().to_json(),
            "glVendor": self.gl_vendor,
            "glRenderer": self.gl_renderer,
            "glHidden": self.hidden_gl_extensions,
            "deviceMemory": self.device_memory,
            "network": [self.network.0, self.network.1],
            "webrtc": self.webrtc.as_str(),
        });
        SCRIPT.replace("__VIP_CONFIG__", &config.to_string())
    }

    /// `Emulation.setUserAgentOverride` parameters: the real Chromium's
    /// agent (never `HeadlessChrome`), this identity's languages, and
    /// matching client hints.
    pub fn user_agent_override(&self, facts: &BrowserFacts) -> Value {
        let d = &facts.ua_data;
        let brands = |key: &str| -> Value {
            let list = d
                .get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            Value::Array(
                list.into_iter()
                    .map(|mut b| {
                        if b["brand"].as_str().is_some_and(|s| s.contains("Headless")) {
                            b["brand"] = json!("Chromium");
                        }
                        b
                    })
                    .collect(),
            )
        };
        let text = |key: &str, default: &str| -> Value {
            json!(d.get(key).and_then(Value::as_str).unwrap_or(default))
        };
        json!({
            "userAgent": facts.user_agent,
            // Without q-values: Chromium adds them to the header itself, and
            // navigator.languages would otherwise carry them.
            "acceptLanguage": self.locale.languages.join(","),
            "platform": "Linux x86_64",
            "userAgentMetadata": {
                "brands": brands("brands"),
                "fullVersionList": brands("fullVersionList"),
                "platform": "Linux",
                "platformVersion": text("platformVersion", ""),
                "architecture": text("architecture", "x86"),
                "model": "",
                "mobile": false,
                "bitness": text("bitness", "64"),
                "wow64": false,
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn scripts_differ_per_identity_and_never_carry_the_seed() {
        let a = Profile::new([1; 32], Some("DE"), WebRtcPolicy::default());
        let b = Profile::new([2; 32], Some("DE"), WebRtcPolicy::default());
        let facts = BrowserFacts::default();
        let (sa, sb) = (a.script(&facts), b.script(&facts));
        assert!(!sa.contains("__VIP_CONFIG__"));
        assert_ne!(sa, sb);
        assert_eq!(sa, a.script(&facts));
        assert!(!sa.contains(&"01".repeat(32)));
        // Languages are set natively, not by the script.
        assert!(!sa.contains("de-DE"));
        assert_eq!(
            a.user_agent_override(&facts)["acceptLanguage"],
            "de-DE,de,en"
        );
    }

    #[test]
    fn screens_vary_by_identity_and_never_shrink_below_the_real_one() {
        let profile = |i: u8| Profile::new([i; 32], None, WebRtcPolicy::default());
        let headless: std::collections::HashSet<_> =
            (0..64).map(|i| profile(i).screen((800, 600))).collect();
        assert!(headless.len() >= 6, "{headless:?}");
        assert_eq!(profile(7).screen((800, 600)), profile(7).screen((800, 600)));
        for i in 0..64 {
            let (w, h) = profile(i).screen((1920, 1080));
            assert!(w >= 1920 && h >= 1080, "{w}x{h}");
        }
        assert_eq!(profile(1).screen((5120, 2880)), (5120, 2880));
        let facts = BrowserFacts {
            screen: (800, 600),
            ..BrowserFacts::default()
        };
        let (w, h) = profile(3).screen((800, 600));
        assert!(
            profile(3)
                .script(&facts)
                .contains(&format!("\"screen\":[{w},{h}]"))
        );
    }

    #[test]
    fn each_identity_hides_its_own_optional_gl_extensions() {
        let hidden =
            |i: u8| Profile::new([i; 32], None, WebRtcPolicy::default()).hidden_gl_extensions;
        let sets: std::collections::HashSet<_> = (0..32).map(hidden).collect();
        assert!(
            sets.len() >= 30,
            "identities share hidden sets: {}",
            sets.len()
        );
        assert_eq!(hidden(5), hidden(5));
        let total: usize = (0..32).map(|i| hidden(i).len()).sum();
        let mean = total as f64 / 32.0;
        let third = OPTIONAL_GL_EXTENSIONS.len() as f64 / 3.0;
        assert!((mean - third).abs() < 3.0, "about a third hidden: {mean}");
    }

    #[test]
    fn network_quality_varies_by_identity() {
        let nets: std::collections::HashSet<String> = (0..32)
            .map(|i| {
                let (rtt, down) = Profile::new([i; 32], None, WebRtcPolicy::default()).network;
                format!("{rtt}/{down}")
            })
            .collect();
        assert!(nets.len() >= 6, "{nets:?}");
    }

    #[test]
    fn policies_round_trip() {
        for p in WebRtcPolicy::ALL {
            assert_eq!(WebRtcPolicy::parse(p.as_str()), Ok(p));
        }
        assert!(
            WebRtcPolicy::parse("nope")
                .unwrap_err()
                .to_string()
                .contains("disable_non_proxied_udp")
        );
    }
}
