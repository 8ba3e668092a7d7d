//! Shared set-up for the browser suites: a gateway with real upstream
//! peers, a refusing default proxy, and a headless Debian Chromium.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use vip_browser::{
    Browser, ContextId, IdentitySetup, LaunchOptions, Profile, TabId, WebRtcPolicy, find_chromium,
};
use vip_engine::{HealthSettings, Protocol, ProxyId};
use vip_gateway::{Assignment, Gateway, GatewaySettings};
use vip_testkit::*;

/// Values a fingerprinting script reads, as one JS function usable in a
/// page, a frame and a worker.
pub const PROBE: &str = r##"
async function vipProbe() {
  const out = {};
  // A reference taken before any WebGL context exists.
  const pristine = typeof WebGLRenderingContext !== "undefined" && WebGLRenderingContext.prototype.getParameter;
  const doc = typeof document !== "undefined";
  const canvas = doc ? document.createElement("canvas") : new OffscreenCanvas(220, 60);
  canvas.width = 220; canvas.height = 60;
  const x = canvas.getContext("2d");
  x.textBaseline = "top"; x.font = "16px sans-serif";
  x.fillStyle = "#f60"; x.fillRect(100, 1, 62, 20);
  x.fillStyle = "#069"; x.fillText("Cwm fjordbank glyphs vext quiz", 2, 15);
  x.fillStyle = "rgba(102, 204, 0, 0.7)"; x.fillText("Cwm fjordbank glyphs vext quiz", 4, 17);
  const d = x.getImageData(0, 0, 220, 60).data;
  let h = 0; for (let i = 0; i < d.length; i++) h = (Math.imul(h, 31) + d[i]) >>> 0;
  out.canvas = h;
  if (doc) out.dataUrl = canvas.toDataURL().length + ":" + canvas.toDataURL().slice(-40);
  out.text = x.measureText("Cwm fjordbank glyphs").width;
  const glc = doc ? document.createElement("canvas") : new OffscreenCanvas(1, 1);
  const gl = glc.getContext("webgl");
  const info = gl && gl.getExtension("WEBGL_debug_renderer_info");
  out.gl = info ? gl.getParameter(info.UNMASKED_VENDOR_WEBGL) + " / " + gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : null;
  out.glPristine = info && pristine ? pristine.call(gl, info.UNMASKED_RENDERER_WEBGL) : null;
  if (gl) {
    // The extension list, and getExtension agreeing with it.
    const exts = gl.getSupportedExtensions();
    out.glExt = exts.join(",");
    out.glExtAgree = ["EXT_clip_control", "EXT_depth_clamp", "EXT_texture_compression_bptc",
      "WEBGL_compressed_texture_astc", "WEBGL_multi_draw", "WEBGL_polygon_mode",
      "WEBGL_compressed_texture_etc", "OES_fbo_render_mipmap", "webgl_debug_shaders"]
      .every((n) => (gl.getExtension(n) !== null) === exts.some((e) => e.toLowerCase() === n.toLowerCase()));
    // WebGL pixels of a drawn triangle, read into both kinds of byte array.
    gl.clearColor(0.2, 0.4, 0.6, 1); gl.clear(gl.COLOR_BUFFER_BIT);
    const shader = (kind, text) => { const sh = gl.createShader(kind); gl.shaderSource(sh, text); gl.compileShader(sh); return sh; };
    const prog = gl.createProgram();
    gl.attachShader(prog, shader(gl.VERTEX_SHADER, "attribute vec2 p; varying vec2 v; void main() { v = p; gl_Position = vec4(p, 0.0, 1.0); }"));
    gl.attachShader(prog, shader(gl.FRAGMENT_SHADER, "precision mediump float; varying vec2 v; void main() { gl_FragColor = vec4(v * 0.5 + 0.5, 0.3, 1.0); }"));
    gl.linkProgram(prog); gl.useProgram(prog);
    const buf = gl.createBuffer(); gl.bindBuffer(gl.ARRAY_BUFFER, buf);
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-0.9, -0.7, 0.8, -0.9, 0.1, 0.95]), gl.STATIC_DRAW);
    const loc = gl.getAttribLocation(prog, "p"); gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, 2, gl.FLOAT, false, 0, 0);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
    const w = gl.drawingBufferWidth, hh = gl.drawingBufferHeight;
    for (const [key, A] of [["glPixels", Uint8Array], ["glPixelsClamped", Uint8ClampedArray]]) {
      const px = new A(w * hh * 4);
      gl.readPixels(0, 0, w, hh, gl.RGBA, gl.UNSIGNED_BYTE, px);
      let ph = 0; for (let i = 0; i < px.length; i++) ph = (Math.imul(ph, 31) + px[i]) >>> 0;
      out[key] = ph;
    }
  }
  if (typeof OfflineAudioContext !== "undefined") {
    const a = new OfflineAudioContext(1, 5000, 44100);
    const o = a.createOscillator(); o.type = "triangle"; o.frequency.value = 10000;
    const c = a.createDynamicsCompressor();
    o.connect(c); c.connect(a.destination); o.start(0);
    const buf = await a.startRendering();
    const s = buf.getChannelData(0); let sum = 0;
    for (let i = 4500; i < 5000; i++) sum += Math.abs(s[i]);
    out.audio = sum;
  }
  if (doc && typeof AudioWorkletNode !== "undefined") {
    // The same signal as heard by an audio worklet's processor.
    const a = new OfflineAudioContext(1, 5120, 44100);
    const src = "registerProcessor('vip-sum', class extends AudioWorkletProcessor {"
      + " constructor() { super(); this.sum = 0; }"
      + " process(inputs) { const d = inputs[0][0];"
      + " if (d) for (let i = 0; i < d.length; i++) if (currentFrame + i >= 4500) this.sum += Math.abs(d[i]);"
      + " if (currentFrame + 128 >= 5120) this.port.postMessage(this.sum); return true; } });";
    await a.audioWorklet.addModule(URL.createObjectURL(new Blob([src], { type: "text/javascript" })));
    const o = a.createOscillator(); o.type = "triangle"; o.frequency.value = 10000;
    const c = a.createDynamicsCompressor();
    const node = new AudioWorkletNode(a, "vip-sum");
    const heard = new Promise((r) => { node.port.onmessage = (e) => r(e.data); setTimeout(() => r("no answer"), 5000); });
    o.connect(c); c.connect(node); node.connect(a.destination); o.start(0);
    await a.startRendering();
    out.worklet = await heard;
  }
  if (doc) {
    out.screen = screen.width + "x" + screen.height;
    // matchMedia on the device size agrees with the screen object.
    const q = `(device-width: ${screen.width}px) and (device-height: ${screen.height}px)`;
    out.screenMq = matchMedia(q).matches && matchMedia(q).media === q
      && !matchMedia(`(max-device-width: ${screen.width - 1}px)`).matches
      && matchMedia(`not all and (min-device-height: ${screen.height + 1}px)`).matches;
  }
  const net = navigator.connection;
  out.net = net ? `${net.rtt}/${net.downlink}/${net.effectiveType}` : null;
  out.hw = navigator.hardwareConcurrency;
  out.mem = navigator.deviceMemory;
  out.ua = navigator.userAgent;
  out.platform = navigator.platform;
  out.langs = navigator.languages.join(",");
  out.tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  out.locale = Intl.DateTimeFormat().resolvedOptions().locale;
  if (doc) {
    // Layout boxes of text (what DOMRect fingerprints measure), and what
    // must hold of them: one API agrees with another, neighbours touch,
    // a box the page sized itself is exact.
    const root = document.documentElement;
    const span = document.createElement("span");
    span.style.cssText = "position:absolute;left:0;top:0;white-space:nowrap;font:16px serif";
    span.textContent = "Cwm fjordbank glyphs vext quiz";
    const [a, b] = [document.createElement("span"), document.createElement("span")];
    a.textContent = "ab"; b.textContent = "cd";
    const line = document.createElement("div");
    line.style.cssText = "position:absolute;left:0;top:40px;white-space:nowrap";
    line.append(a, b);
    const box = document.createElement("div");
    box.style.cssText = "position:absolute;left:10px;top:20px;width:100px;height:50px";
    root.append(span, line, box);
    const r = span.getBoundingClientRect();
    const rs = span.getClientRects();
    out.rect = [r.x, r.y, r.width, r.height, a.getBoundingClientRect().width].join();
    out.rectAgree = rs.length === 1 && rs[0].x === r.x && rs[0].width === r.width && r.right === r.x + r.width;
    out.rectTouch = a.getBoundingClientRect().right === b.getBoundingClientRect().left;
    const d = box.getBoundingClientRect();
    out.rectExact = d.x === 10 && d.y === 20 && d.width === 100 && d.height === 50;
    span.remove(); line.remove(); box.remove();
  }
  out.winter = new Date(Date.UTC(2026, 0, 15, 12)).getTimezoneOffset();
  out.summer = new Date(Date.UTC(2026, 6, 15, 12)).getTimezoneOffset();
  out.webdriver = navigator.webdriver;
  return out;
}
"##;

pub struct Rig {
    pub browser: Browser,
    pub gateway: Arc<Gateway>,
    pub http: Peer,
    pub socks: Peer,
    _profile: tempfile::TempDir,
}

/// A gateway over a tinyproxy (id 1, exits from 127.0.0.2) and a microsocks
/// (id 2, exits from 127.0.0.3), and a headless Chromium.
pub async fn rig(webrtc: WebRtcPolicy) -> Rig {
    rig_with_args(webrtc, Vec::new()).await
}

/// [`rig`] with more Chromium switches.
pub async fn rig_with_args(webrtc: WebRtcPolicy, extra_args: Vec<String>) -> Rig {
    let chromium = find_chromium(None).expect("cargo xtask test installs chromium");
    let http = tinyproxy("127.0.0.2", "tu", "tp");
    let socks = microsocks("127.0.0.3", "su", "sp");
    let pool = vec![
        proxy(1, Protocol::Http, http.addr, Some(1)),
        proxy(2, Protocol::Socks5, socks.addr, Some(2)),
    ];
    let engine = engine(
        pool,
        r#"{"name":"rr","strategy":"round-robin"}"#,
        HealthSettings::default(),
    );
    let gateway = Arc::new(Gateway::new(
        engine,
        logins(&[(1, "tu", "tp"), (2, "su", "sp")]),
        Arc::new(Collect::default()),
        GatewaySettings::default(),
    ));
    let refusing = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let profile = tempfile::tempdir().unwrap();
    let options = LaunchOptions {
        executable: chromium,
        headless: true,
        user_data_dir: profile.path().to_path_buf(),
        default_proxy: refusing,
        webrtc,
        devtools_port: 0,
        extra_args,
    };
    let browser = Browser::launch(&options).await.unwrap();
    Rig {
        browser,
        gateway,
        http,
        socks,
        _profile: profile,
    }
}

impl Rig {
    /// An identity through upstream `proxy` (1 or 2).
    pub async fn identity(&self, proxy: u64, seed: u8, country: &str) -> ContextId {
        self.identity_with(proxy, seed, country, true, None).await
    }

    pub async fn identity_with(
        &self,
        proxy: u64,
        seed: u8,
        country: &str,
        protect: bool,
        blocklist: Option<Arc<vip_privacy::Blocklist>>,
    ) -> ContextId {
        let addr: SocketAddr = listen(&self.gateway, Assignment::Pinned(ProxyId(proxy))).await;
        let setup = IdentitySetup {
            profile: Profile::new([seed; 32], Some(country), WebRtcPolicy::default()),
            protect,
            blocklist,
        };
        self.browser.new_context(addr, setup).await.unwrap()
    }

    pub async fn open(&self, context: &ContextId, url: &str) -> TabId {
        self.browser
            .open(context, url, Duration::from_secs(20))
            .await
            .unwrap()
    }

    /// Evaluates and waits for `expr` (a promise or value) in a tab.
    pub async fn eval(&self, tab: &TabId, expr: &str) -> Value {
        self.browser.evaluate(tab, expr).await.unwrap()
    }

    pub async fn stop(self) {
        tokio::time::timeout(Duration::from_secs(20), self.browser.close())
            .await
            .unwrap();
        self.gateway.shutdown(Duration::from_secs(1)).await;
    }
}
