//! Real headless Chromium against lie detectors of our own, written the way
//! fingerprinting libraries look for tampering: every patched function and
//! accessor must read as native from every realm (the page, a frame made
//! from a fragment and reached by index, a frame nested in that one), and
//! behave as native (receiver checks, constructors, own keys, error
//! stacks); frames and workers of every kind see the page's values. Each
//! check is shown to catch a deliberately naive patch (the negative
//! control), so a detector that cannot fail would be noticed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use vip_browser::WebRtcPolicy;
use vip_testkit::Site;

use crate::common::*;

/// The detector: returns `{lies: [..], values: {..}}`.
const DETECT: &str = r##"
async function vipLies() {
  const lies = [];
  const lie = (what) => lies.push(what);
  // Realms a detector makes: a frame from a fragment, reached by index,
  // and a frame made inside that one.
  const n = self.length;
  const frag = new DocumentFragment();
  const holder = document.createElement("div");
  frag.appendChild(holder);
  holder.innerHTML = "<div><iframe></iframe></div>";
  document.body.appendChild(frag);
  const w1 = self[n];
  const d2 = w1.document.createElement("div");
  d2.innerHTML = "<div><iframe></iframe></div>";
  w1.document.body.appendChild(d2);
  const w2 = d2.firstChild.firstChild.contentWindow;
  const w3 = w1[0];
  // A srcdoc frame, and a popup when the page may open one (with a user
  // gesture: the test's evaluation carries one).
  const sd = document.createElement("iframe");
  sd.srcdoc = "<p>x</p>";
  document.body.appendChild(sd);
  await new Promise((r) => { sd.onload = r; setTimeout(r, 3000); });
  const popup = window.open("about:blank", "_blank");
  const scopes = { page: self, phantom: w1, nested: w2, indexed: w3, srcdoc: sd.contentWindow };
  if (popup) scopes.popup = popup; else lie("no popup opened");
  const native = (name) => new Set([
    `function ${name}() { [native code] }`, `function get ${name}() { [native code] }`,
  ]);
  const fns = [];
  const getter = (P, name) => { const d = P && Object.getOwnPropertyDescriptor(P, name); if (d && d.get) fns.push([`${P.constructor.name}.${name}`, d.get, name, P]); };
  const method = (P, name) => { const d = P && Object.getOwnPropertyDescriptor(P, name); if (d && typeof d.value === "function") fns.push([`${P.constructor.name}.${name}`, d.value, name, null]); };
  for (const name of ["hardwareConcurrency", "deviceMemory", "language", "languages", "platform", "userAgent"]) getter(Navigator.prototype, name);
  for (const name of ["width", "height", "availWidth", "availHeight", "availLeft", "availTop", "colorDepth"]) getter(Screen.prototype, name);
  for (const name of ["getImageData", "measureText", "fillText"]) method(CanvasRenderingContext2D.prototype, name);
  for (const name of ["toDataURL", "toBlob", "getContext"]) method(HTMLCanvasElement.prototype, name);
  for (const name of ["getChannelData", "copyFromChannel"]) method(AudioBuffer.prototype, name);
  for (const name of ["getParameter", "readPixels", "getExtension", "getSupportedExtensions"]) method(WebGLRenderingContext.prototype, name);
  for (const name of ["getBoundingClientRect", "getClientRects", "appendChild", "append", "insertAdjacentHTML"]) method(Element.prototype, name);
  method(Worklet.prototype, "addModule");
  method(Node.prototype, "appendChild");
  method(Node.prototype, "insertBefore");
  getter(HTMLIFrameElement.prototype, "contentWindow");
  getter(TextMetrics.prototype, "width");
  method(Math, "max");
  method(Date.prototype, "getTimezoneOffset");
  method(window, "matchMedia");
  method(Function.prototype, "toString");
  for (const [label, fn, name, proto] of fns) {
    for (const [where, W] of Object.entries(scopes)) {
      let text, textOfToString;
      try { text = W.Function.prototype.toString.call(fn); } catch (e) { text = "threw " + e; }
      try { textOfToString = W.Function.prototype.toString.call(fn.toString); } catch (e) { textOfToString = "threw " + e; }
      if (!native(name).has(text)) lie(`${label}: toString in ${where}: ${text.slice(0, 60)}`);
      if (!native("toString").has(textOfToString)) lie(`${label}: toString of toString in ${where}: ${textOfToString.slice(0, 60)}`);
    }
    if ("prototype" in fn) lie(`${label}: has a prototype`);
    if (Reflect.ownKeys(fn).map(String).sort().join() !== "length,name") lie(`${label}: own keys ${Reflect.ownKeys(fn).map(String)}`);
    const throwsType = (f) => { try { f(); return false; } catch (e) { return e instanceof TypeError || e.constructor.name === "TypeError"; } };
    if (!throwsType(() => new fn())) lie(`${label}: constructible`);
    if (!throwsType(() => { class X extends fn {} })) lie(`${label}: extendable`);
    try { Object.create(fn).toString(); lie(`${label}: Object.create(fn).toString() did not throw`); } catch (e) {
      const line = String(e.stack).split("\n")[1] || "";
      if (!/at Function\.toString /.test(line)) lie(`${label}: Object.create stack: ${line.trim()}`);
    }
    if (proto) {
      try { proto[name]; lie(`${label}: read on the prototype did not throw`); } catch (e) {
        if (!(e instanceof TypeError) || !/Illegal invocation/.test(e.message)) lie(`${label}: read on the prototype threw ${e}`);
      }
    }
  }
  // Known answers: pixels set exactly read back exactly; a cleared canvas
  // reads as empty; the empty string's font metrics are whole pixels.
  {
    const c = document.createElement("canvas");
    c.width = 8; c.height = 8;
    const x = c.getContext("2d", { willReadFrequently: true });
    const want = [];
    for (let i = 0; i < 64; i++) {
      const rgb = [(i * 37) % 256, (i * 91 + 7) % 256, (i * 53 + 11) % 256];
      want.push(rgb.join());
      x.fillStyle = `rgb(${rgb})`;
      x.fillRect(i % 8, i >> 3, 1, 1);
    }
    let modified = 0;
    for (let i = 0; i < 64; i++) {
      const d = x.getImageData(i % 8, i >> 3, 1, 1).data;
      if ([d[0], d[1], d[2]].join() !== want[i] || d[3] !== 255) modified++;
    }
    if (modified) lie(`canvas: ${modified} of 64 exactly set pixels read back changed`);
    const g = document.createElement("canvas").getContext("webgl");
    g.clearColor(1, 0, 0, 1); g.clear(g.COLOR_BUFFER_BIT);
    const px = new Uint8Array(g.drawingBufferWidth * g.drawingBufferHeight * 4);
    g.readPixels(0, 0, g.drawingBufferWidth, g.drawingBufferHeight, g.RGBA, g.UNSIGNED_BYTE, px);
    for (let i = 0; i < px.length; i += 4) {
      if (px[i] !== 255 || px[i + 1] !== 0 || px[i + 2] !== 0 || px[i + 3] !== 255) {
        lie("webgl: a cleared buffer reads back changed");
        break;
      }
    }
    const shown = document.createElement("canvas");
    shown.width = 4; shown.height = 4;
    const sg = shown.getContext("webgl", { preserveDrawingBuffer: true });
    sg.clearColor(0, 0, 1, 1); sg.clear(sg.COLOR_BUFFER_BIT);
    const flat = document.createElement("canvas");
    flat.width = 4; flat.height = 4;
    const fx = flat.getContext("2d");
    fx.fillStyle = "#00f"; fx.fillRect(0, 0, 4, 4);
    if (shown.toDataURL() !== flat.toDataURL()) lie("webgl: a cleared canvas's data URL is not the colour's");
    x.font = "20px sans-serif";
    x.fillText("Cwm fjord", 0, 8);
    x.clearRect(0, 0, 8, 8);
    if (Math.max(...x.getImageData(0, 0, 8, 8).data)) lie("canvas: a cleared canvas is not empty");
    const m = x.measureText("");
    for (const k of ["actualBoundingBoxAscent", "actualBoundingBoxDescent", "actualBoundingBoxLeft",
      "actualBoundingBoxRight", "fontBoundingBoxAscent", "fontBoundingBoxDescent"]) {
      if (m[k] % 1 !== 0) lie(`measureText(""): ${k} is ${m[k]}`);
    }
  }
  // Known signals: a buffer the page filled reads back as written, a
  // silent render is silent, an unconnected analyser hears silence, and a
  // rendered buffer reads the same through getChannelData and copyFromChannel.
  {
    const b = new AudioBuffer({ length: 64, sampleRate: 44100 });
    const mark = new Float32Array(64).fill(0.3125);
    b.copyToChannel(mark, 0);
    if (b.getChannelData(0).some((v) => v !== 0.3125)) lie("audio: a filled buffer reads back changed");
    const silent = new OfflineAudioContext(1, 128, 44100);
    const o = silent.createOscillator();
    o.frequency.value = 0; o.connect(silent.destination); o.start(0);
    const quiet = await silent.startRendering();
    if (quiet.getChannelData(0).some((v) => v !== 0)) lie("audio: a silent render is not silent");
    const a = new OfflineAudioContext(1, 5000, 44100);
    const an = a.createAnalyser();
    const f = new Float32Array(an.frequencyBinCount);
    an.getFloatFrequencyData(f);
    if (new Set(f).size > 1) lie("audio: an unconnected analyser hears something");
    const t = new Float32Array(an.fftSize);
    an.getFloatTimeDomainData(t);
    if (t.some((v) => v !== 0)) lie("audio: an unconnected analyser's samples are not zero");
    const tri = a.createOscillator();
    tri.type = "triangle"; tri.frequency.value = 10000;
    const comp = a.createDynamicsCompressor();
    tri.connect(comp); comp.connect(a.destination); tri.start(0);
    const rendered = await a.startRendering();
    const copy = new Float32Array(5000);
    rendered.copyFromChannel(copy, 0);
    const bins = rendered.getChannelData(0);
    if (copy.some((v, i) => v !== bins[i])) lie("audio: getChannelData and copyFromChannel differ");
    // An audio worklet hears, frame by frame, what getChannelData reads,
    // and what it sees of its own scope looks native.
    const w = new OfflineAudioContext(1, 5000, 44100);
    await w.audioWorklet.addModule(URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" })));
    const rec = new AudioWorkletNode(w, "vip-rec", { numberOfOutputs: 0 });
    const heard = new Promise((r) => { rec.port.onmessage = (e) => r(e.data); setTimeout(() => r(null), 5000); });
    const wt = w.createOscillator();
    wt.type = "triangle"; wt.frequency.value = 10000;
    const wc = w.createDynamicsCompressor();
    wt.connect(wc); wc.connect(w.destination); wc.connect(rec); wt.start(0);
    const out = (await w.startRendering()).getChannelData(0);
    const got = await heard;
    if (!got) lie("audio worklet: no answer");
    else {
      if (got.samples.some((v, i) => v !== out[4480 + i])) lie("audio: a worklet hears other samples than getChannelData reads");
      for (const l of got.lies) lie(`audio worklet: ${l}`);
    }
  }
  // Every realm sees the page's values.
  const view = (W) => ({
    hw: W.navigator.hardwareConcurrency, mem: W.navigator.deviceMemory, langs: W.navigator.languages.join(),
    platform: W.navigator.platform, ua: W.navigator.userAgent, screen: `${W.screen.width}x${W.screen.height}`,
    tz: W.Intl.DateTimeFormat().resolvedOptions().timeZone,
    brands: W.navigator.userAgentData.brands.map((b) => b.brand).join(),
  });
  const values = {};
  for (const [where, W] of Object.entries(scopes)) values[where] = view(W);
  const inWorker = (make) => new Promise((resolve) => {
    const src = WORKER_VIEW;
    make(src, resolve);
    setTimeout(() => resolve("no answer"), 5000);
  });
  values.worker = await inWorker((src, done) => {
    const w = new Worker(URL.createObjectURL(new Blob([src + "postMessage(v());"], { type: "text/javascript" })));
    w.onmessage = (e) => done(e.data);
  });
  values.shared = await inWorker((src, done) => {
    const w = new SharedWorker("/shared.js");
    w.port.onmessage = (e) => done(e.data);
    w.port.start();
  });
  values.service = await inWorker(async (src, done) => {
    try {
      navigator.serviceWorker.addEventListener("message", (e) => done(e.data));
      const reg = await navigator.serviceWorker.register("/sw.js");
      const sw = reg.installing || reg.waiting || reg.active;
      const ask = () => sw.postMessage("v");
      if (sw.state === "activated") ask(); else sw.addEventListener("statechange", () => sw.state === "activated" && ask());
    } catch (e) { done("threw " + e); }
  });
  if (popup) popup.close();
  return { lies, values };
}
"##;

/// An audio worklet processor that records 128 samples from frame 4480
/// and checks the shape of what the script patches in its scope.
const WORKLET: &str = r#"
const lies = [];
const reg = registerProcessor;
if (Function.prototype.toString.call(reg) !== "function registerProcessor() { [native code] }") lies.push("registerProcessor: toString");
if (Reflect.ownKeys(reg).map(String).sort().join() !== "length,name" || reg.length !== 2) lies.push("registerProcessor: own keys or length");
try { reg.call({}, "x", class extends AudioWorkletProcessor { process() { return false; } }); lies.push("registerProcessor: wrong receiver accepted"); }
catch (e) { if (!(e instanceof TypeError) || !/Illegal invocation/.test(e.message)) lies.push(`registerProcessor: wrong receiver threw ${e}`); }
class Rec extends AudioWorkletProcessor {
  process(inputs) {
    const d = inputs[0] && inputs[0][0];
    if (d && currentFrame === 4480) {
      const text = Function.prototype.toString.call(this.process);
      if (!text.startsWith("process(inputs) {")) lies.push(`process: toString ${text.slice(0, 40)}`);
      if (this.process.name !== "process" || this.process.length !== 1) lies.push("process: name or length");
      this.port.postMessage({ samples: Array.from(d), lies });
    }
    return true;
  }
}
registerProcessor("vip-rec", Rec);
"#;

/// What a worker reports (the same keys as a window's view, less the screen).
/// It also runs the detector's shape checks on what the script patches in
/// a worker: native `toString`, receiver checks, own keys.
const WORKER_VIEW: &str = r#"const workerLies = () => {
  const out = [];
  const check = (P, name, getter) => {
    const d = P && Object.getOwnPropertyDescriptor(P, name);
    const fn = d && (getter ? d.get : d.value);
    if (!fn) return;
    const want = `function ${getter ? "get " : ""}${name}() { [native code] }`;
    if (Function.prototype.toString.call(fn) !== want) out.push(`${name}: toString`);
    if (Reflect.ownKeys(fn).map(String).sort().join() !== "length,name") out.push(`${name}: own keys`);
    if (getter) { try { P[name]; out.push(`${name}: read on the prototype did not throw`); } catch (e) { if (!(e instanceof TypeError)) out.push(`${name}: threw ${e}`); } }
  };
  check(WorkerNavigator.prototype, "deviceMemory", true);
  check(WorkerNavigator.prototype, "hardwareConcurrency", true);
  if (typeof OffscreenCanvasRenderingContext2D !== "undefined") check(OffscreenCanvasRenderingContext2D.prototype, "getImageData", false);
  return out;
};
const v = () => ({hw: navigator.hardwareConcurrency, mem: navigator.deviceMemory, langs: navigator.languages.join(), platform: navigator.platform, ua: navigator.userAgent, tz: Intl.DateTimeFormat().resolvedOptions().timeZone, brands: navigator.userAgentData.brands.map((b) => b.brand).join(), lies: workerLies()});"#;

/// A naive protection, as many browser extensions write it: plain
/// getters, a wrapped method, noise on every read pixel and a scaled text
/// metric, no effort to look native or to spare known answers.
const NAIVE: &str = r#"
Object.defineProperty(Navigator.prototype, "hardwareConcurrency", { get: () => 3, configurable: true });
Object.defineProperty(Navigator.prototype, "deviceMemory", { get() { return 2; }, configurable: true });
{ const real = CanvasRenderingContext2D.prototype.getImageData;
  CanvasRenderingContext2D.prototype.getImageData = function (...a) {
    const img = real.apply(this, a);
    for (let i = 0; i < img.data.length; i += 16) img.data[i] ^= 1;
    return img;
  }; }
{ const real = AudioBuffer.prototype.getChannelData;
  AudioBuffer.prototype.getChannelData = function (c) { const d = real.call(this, c); for (let i = 0; i < d.length; i += 7) d[i] += 1e-7; return d; }; }
{ const d = Object.getOwnPropertyDescriptor(TextMetrics.prototype, "fontBoundingBoxAscent");
  Object.defineProperty(TextMetrics.prototype, "fontBoundingBoxAscent", { ...d, get() { return d.get.call(this) * 1.0001; } }); }
"#;

fn pages(naive: bool) -> Vec<(&'static str, &'static str, String)> {
    let before = if naive { NAIVE } else { "" };
    vec![
        (
            "/",
            "text/html",
            format!(
                "<!doctype html><html><head><script>{before}\nconst WORKER_VIEW = {WORKER_VIEW:?};\nconst WORKLET = {WORKLET:?};\n{DETECT}</script></head><body></body></html>"
            ),
        ),
        (
            "/shared.js",
            "text/javascript",
            format!("{WORKER_VIEW}\nonconnect = (e) => {{ e.ports[0].postMessage(v()); }};"),
        ),
        (
            "/sw.js",
            "text/javascript",
            format!(
                "{WORKER_VIEW}\nself.addEventListener('message', (e) => e.source.postMessage(v()));"
            ),
        ),
    ]
}

async fn detect(naive: bool, protect: bool) -> Value {
    let site = Site::start(pages(naive)).await;
    let rig = rig(WebRtcPolicy::default()).await;
    // Tracker blocking on, as `vip serve` has it by default: every request
    // of every realm (a service worker's too) is intercepted.
    let lists = vip_privacy::Blocklist::from_files(&vip_privacy::DEBIAN_LISTS)
        .expect("cargo xtask test installs the lists");
    let a = rig
        .identity_with(1, 7, "DE", protect, Some(std::sync::Arc::new(lists)))
        .await;
    let tab = rig
        .open(&a, &format!("http://127.0.0.1:{}/", site.addr.port()))
        .await;
    let found = rig.eval(&tab, "vipLies()").await;
    rig.stop().await;
    found
}

/// The lies a detection found.
fn lies(found: &Value) -> Vec<&str> {
    found["lies"]
        .as_array()
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protections_read_as_native_in_every_realm() {
    let found = detect(false, true).await;
    let lies = lies(&found);
    assert!(lies.is_empty(), "{} lies: {lies:#?}", lies.len());
    let values = &found["values"];
    for worker in ["worker", "shared"] {
        assert_eq!(
            values[worker]["lies"],
            serde_json::json!([]),
            "{worker}: {values}"
        );
    }
    for realm in [
        "phantom", "nested", "indexed", "srcdoc", "popup", "worker", "shared", "service",
    ] {
        for key in ["hw", "mem", "langs", "platform", "ua", "tz", "brands"] {
            assert_eq!(
                values[realm][key], values["page"][key],
                "{realm} {key}: {values}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_detector_catches_a_naive_patch() {
    let found = detect(true, false).await;
    let lies = lies(&found);
    for wanted in [
        "Navigator.hardwareConcurrency: toString in page",
        "Navigator.hardwareConcurrency: read on the prototype did not throw",
        "Navigator.deviceMemory: toString in phantom",
        "CanvasRenderingContext2D.getImageData: has a prototype",
        "CanvasRenderingContext2D.getImageData: extendable",
        "CanvasRenderingContext2D.getImageData: own keys",
        "canvas: ",
        "measureText(\"\"): fontBoundingBoxAscent",
        "audio: a filled buffer reads back changed",
        "audio: a worklet hears other samples than getChannelData reads",
    ] {
        assert!(
            lies.iter().any(|l| l.starts_with(wanted)),
            "{wanted:?} not caught: {lies:#?}"
        );
    }
    // The naive patch does not reach the frames a detector makes.
    let values = &found["values"];
    assert_ne!(values["phantom"]["hw"], values["page"]["hw"], "{values}");
}
