// Fingerprint protection, installed before any page script in every
// document and worker of an identity. Its argument (at the very end) is
// replaced by the identity's values (JSON); nothing here reads a clock or
// Math.random, so
// every read is a pure function of (identity, site, input): repeated reads
// agree, two sites differ, two identities differ.
(function protect(C) {
  const G = globalThis;
  const originals = new WeakMap();
  const fnToString = Function.prototype.toString;
  const define = Object.defineProperty;
  const describe = Object.getOwnPropertyDescriptor;

  const hostOf = () => {
    try {
      const o = G.origin && G.origin !== "null" ? G.origin : G.location.href;
      return new URL(o).hostname.toLowerCase().replace(/\.$/, "");
    } catch (_) {
      return "";
    }
  };

  // site:begin
  // Whether r is a public-suffix rule: C.suffixes is a Bloom filter
  // {bits, m, k} (six bits per character from "?"), probed by double
  // hashing of two FNV-1a hashes; vip's `suffixes` builds it alike.
  const has = (r) => {
    const S = C.suffixes;
    let a = 0x811c9dc5, b = 0x050c5d1f;
    for (let i = 0; i < r.length; i++) {
      const c = r.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193) >>> 0;
      b = Math.imul(b ^ c, 0x01000193) >>> 0;
    }
    b = (b | 1) >>> 0;
    for (let i = 0; i < S.k; i++) {
      const x = (a + i * b) % S.m;
      if (!(((S.bits.charCodeAt((x / 6) | 0) - 63) >> (x % 6)) & 1)) return false;
    }
    return true;
  };

  // The site (registrable domain) of the host by the public suffix rules
  // ("*." wildcards and "!" exceptions); a single label is the default rule.
  const siteOf = (h) => {
    if (!h.includes(".") || /^[0-9.]+$/.test(h) || h.includes(":")) return h;
    const labels = h.split(".");
    let suffix = 1;
    for (let i = 0; i < labels.length - 1; i++) {
      const rest = labels.slice(i).join(".");
      if (has("!" + rest)) { suffix = labels.length - i - 1; break; }
      if (has(rest) || has("*." + labels.slice(i + 1).join("."))) { suffix = labels.length - i; break; }
    }
    return labels.slice(Math.max(0, labels.length - suffix - 1)).join(".");
  };
  // site:end

  // SHA-256 (constants from the primes, as the standard defines them).
  const sha256 = (text) => {
    const primes = [];
    for (let n = 2; primes.length < 64; n++) {
      if (primes.every((p) => n % p)) primes.push(n);
    }
    const frac = (x) => ((x - Math.floor(x)) * 4294967296) >>> 0;
    const K = primes.map((p) => frac(Math.cbrt(p)));
    const H = primes.slice(0, 8).map((p) => frac(Math.sqrt(p)));
    const bytes = [...new TextEncoder().encode(text)];
    const bits = bytes.length * 8;
    bytes.push(0x80);
    while (bytes.length % 64 !== 56) bytes.push(0);
    for (let i = 7; i >= 0; i--) bytes.push(i > 3 ? 0 : (bits >>> (i * 8)) & 255);
    const rot = (x, n) => (x >>> n) | (x << (32 - n));
    for (let off = 0; off < bytes.length; off += 64) {
      const w = [];
      for (let i = 0; i < 64; i++) {
        if (i < 16) {
          const j = off + i * 4;
          w[i] = ((bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3]) >>> 0;
        } else {
          const s0 = rot(w[i - 15], 7) ^ rot(w[i - 15], 18) ^ (w[i - 15] >>> 3);
          const s1 = rot(w[i - 2], 17) ^ rot(w[i - 2], 19) ^ (w[i - 2] >>> 10);
          w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
        }
      }
      let [a, b, c, d, e, f, g, h] = H;
      for (let i = 0; i < 64; i++) {
        const t1 = (h + (rot(e, 6) ^ rot(e, 11) ^ rot(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
        const t2 = ((rot(a, 2) ^ rot(a, 13) ^ rot(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        [h, g, f, e, d, c, b, a] = [g, f, e, (d + t1) >>> 0, c, b, a, (t1 + t2) >>> 0];
      }
      [a, b, c, d, e, f, g, h].forEach((v, i) => { H[i] = (H[i] + v) >>> 0; });
    }
    return H;
  };

  // One seed per (identity, site): the identity's page secret never leaves
  // this closure, and a site's seed says nothing about another's.
  // Derived on first use: most pages never read a fingerprintable value.
  // An audio worklet has no location: its page hands it the site's seed.
  let seedCache = C.seed;
  const siteSeed = () => (seedCache ??= sha256(C.secret + "|" + siteOf(hostOf()))[0]);

  // A 32-bit mix (splitmix-style) of the site seed and an index.
  const mix = (i) => {
    let h = (siteSeed() ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    return (h ^ (h >>> 16)) >>> 0;
  };

  // Patched functions print as the natives they replace, from every realm:
  // each realm of an identity runs this script with its own closure, so a
  // realm's toString also knows the fakes other realms made by their
  // source text (the same few texts everywhere, see `fakeTexts`) and
  // prints them as natives of their name.
  const hideAs = (fake, real) => {
    originals.set(fake, real);
    return fake;
  };
  const fakeTexts = new Set();
  const toStringFake = {
    toString() {
      const real = originals.get(this);
      if (typeof real === "string") return real;
      const text = fnToString.call(real === undefined ? this : real);
      if (real === undefined && fakeTexts.has(text)) return `function ${this.name}() { [native code] }`;
      return text;
    },
  }.toString;
  hideAs(toStringFake, fnToString);
  fakeTexts.add(fnToString.call(toStringFake));
  define(Function.prototype, "toString", { ...describe(Function.prototype, "toString"), value: toStringFake });

  const method = (proto, name, make) => {
    const d = proto && describe(proto, name);
    if (!d || typeof d.value !== "function") return;
    const real = d.value;
    const wrapped = make(real);
    const fake = { [name](...args) { return wrapped.call(this, ...args); } }[name];
    define(fake, "length", { value: real.length });
    fakeTexts.add(fnToString.call(fake));
    define(proto, name, { ...d, value: hideAs(fake, real) });
  };
  const getter = (proto, name, make) => {
    const d = proto && describe(proto, name);
    if (!d || typeof d.get !== "function") return;
    const real = d.get;
    const wrapped = make(real);
    const fake = describe({ get [name]() { return wrapped.call(this); } }, name).get;
    fakeTexts.add(fnToString.call(fake));
    define(proto, name, { ...d, get: hideAs(fake, real) });
  };
  // Getters of `proto` that answer fixed values: { name: value, ... }. The
  // real getter still judges the receiver, so a read on the prototype
  // itself throws "Illegal invocation" as the native one does.
  const constants = (proto, values) => {
    for (const [name, value] of Object.entries(values)) {
      getter(proto, name, (real) => function () { real.call(this); return value; });
    }
  };

  // Canvas: one low bit of about one pixel in 32 per row, at positions
  // drawn from (site seed, row), so a pixel's noise depends only on where
  // it is: reads of part of a canvas agree with reads of all of it.
  // Transparent pixels are left alone.
  const noisePixels = (data, x0, y0, w, fullWidth) => {
    const rows = ((data.length >>> 2) / w) | 0;
    const perRow = Math.max(1, Math.ceil(fullWidth / 32));
    for (let r = 0; r < rows; r++) {
      const y = y0 + r;
      for (let j = 0; j < perRow; j++) {
        const h = mix(y * 4099 + j * 131071);
        const x = h % fullWidth;
        if (x < x0 || x >= x0 + w) continue;
        const i = r * w + (x - x0);
        if (data[i * 4 + 3] === 0) continue;
        const c = i * 4 + ((h >>> 24) % 3);
        const v = data[c] + ((h & 0x800000) ? 1 : -1);
        data[c] = v < 0 ? 1 : v > 255 ? 254 : v;
      }
    }
  };

  // Canvas and WebGL: read-outs get the site's noise; WebGL names the
  // identity's GPU.
  const canvasProtect = (W, eagerGl) => {
    const Canvas = W.HTMLCanvasElement;
    const Offscreen = W.OffscreenCanvas;
    const createElement = W.Document && W.Document.prototype.createElement;
    const htmlScratch = () => createElement.call(W.document, "canvas");
    const offscreenScratch = () => new Offscreen(1, 1);
    // getContext("2d") on a canvas that has a WebGL context gives null.
    const realGetContext = function (kind) {
      const P = Object.getPrototypeOf(this);
      return (originals.get(P.getContext) || P.getContext).call(this, kind);
    };
    // A noised copy of `source` on a scratch canvas, or null if unreadable.
    // A 2D source is read once (its protected getImageData); others (WebGL)
    // are drawn onto the scratch canvas and read from there.
    const noisedCopy = (source, make) => {
      const w = source.width, h = source.height;
      if (!w || !h) return null;
      try {
        const own = realGetContext.call(source, "2d");
        if (!own) {
          // A WebGL canvas carries noise only once something was drawn.
          const gl = realGetContext.call(source, "webgl") || realGetContext.call(source, "webgl2");
          if (!gl || !drawn.has(gl)) return null;
        }
        const scratch = make();
        scratch.width = w;
        scratch.height = h;
        const ctx = scratch.getContext("2d", { willReadFrequently: true });
        if (own) {
          ctx.putImageData(own.getImageData(0, 0, w, h), 0, 0);
        } else {
          ctx.drawImage(source, 0, 0);
          ctx.putImageData(ctx.getImageData(0, 0, w, h), 0, 0);
        }
        return scratch;
      } catch (_) {
        return null;
      }
    };
    const viaScratch = (real, make, convert) => function (...args) {
      const copy = noisedCopy(this, make);
      return copy ? convert(copy, args) : real.apply(this, args);
    };
    const patched = new WeakSet();
    // Canvases (HTML and offscreen) with rasterised content.
    const drawn = new WeakSet();
    const once = (P) => !P || patched.has(P) ? false : (patched.add(P), true);
    // Only rasterised content carries noise: text, curves, gradients,
    // patterns, shadows and drawn images, whose pixels depend on the
    // machine. Pixels a page set exactly (rectangles of plain colours,
    // putImageData) read back exactly, so a known-answer check finds
    // nothing, and the noise still covers every fingerprinting drawing.
    const patch2d = (P) => {
      if (!once(P)) return;
      const marking = (real) => function (...args) {
        const c = this.canvas;
        if (c) drawn.add(c);
        return real.apply(this, args);
      };
      for (const name of ["fillText", "strokeText", "arc", "arcTo", "ellipse", "bezierCurveTo",
        "quadraticCurveTo", "roundRect", "drawImage", "createLinearGradient",
        "createRadialGradient", "createConicGradient", "createPattern"]) {
        method(P, name, marking);
      }
      method(P, "getImageData", (real) => function (sx, sy, sw, sh, ...rest) {
        const img = real.call(this, sx, sy, sw, sh, ...rest);
        if (drawn.has(this.canvas)) {
          noisePixels(img.data, sx | 0, sy | 0, img.width, this.canvas.width);
        }
        return img;
      });
    };
    // Extension names match without regard to case, as in WebGL.
    const hiddenGl = new Set((C.glHidden || []).map((n) => n.toLowerCase()));
    const patchGl = (P) => {
      if (!once(P) || typeof P.getParameter !== "function") return;
      // The identity's hidden extensions are neither listed nor enabled.
      method(P, "getSupportedExtensions", (real) => function () {
        const r = real.call(this);
        return r && r.filter((n) => !hiddenGl.has(n.toLowerCase()));
      });
      method(P, "getExtension", (real) => function (name, ...rest) {
        return hiddenGl.has(String(name).toLowerCase()) ? null : real.call(this, name, ...rest);
      });
      // Only where the real call answers (the debug-renderer extension is
      // enabled), as a real browser would.
      method(P, "getParameter", (real) => function (p) {
        const r = real.call(this, p);
        if (r === null || r === undefined) return r;
        if (p === 0x9245) return C.glVendor;
        if (p === 0x9246) return C.glRenderer;
        return r;
      });
      // RGBA bytes read into any byte array (Uint8Array or, as some
      // fingerprinting libraries use, Uint8ClampedArray; from any realm),
      // at WebGL 2's element offset when one is given.
      // Only what was drawn (rasterised by this GPU) carries noise: a
      // cleared buffer reads back as the colour it was cleared to.
      for (const name of ["drawArrays", "drawElements", "drawArraysInstanced",
        "drawElementsInstanced", "drawRangeElements", "drawBuffers"]) {
        method(P, name, (real) => function (...args) {
          drawn.add(this);
          return real.apply(this, args);
        });
      }
      method(P, "readPixels", (real) => function (x, y, w, h, format, type, pixels, ...rest) {
        const r = real.call(this, x, y, w, h, format, type, pixels, ...rest);
        if (drawn.has(this) && format === 0x1908 && type === 0x1401 && W.ArrayBuffer.isView(pixels)
          && pixels.BYTES_PER_ELEMENT === 1 && w > 0 && h > 0) {
          const from = rest.length ? Math.max(0, Number(rest[0]) | 0) : 0;
          const area = pixels.subarray(from, from + w * h * 4);
          noisePixels(area, x | 0, y | 0, w, this.drawingBufferWidth || w);
        }
        return r;
      });
    };
    // 2D contexts and text metrics are cheap to patch now.
    for (const K of [W.CanvasRenderingContext2D, W.OffscreenCanvasRenderingContext2D]) {
      if (K) patch2d(K.prototype);
    }
    const TM = W.TextMetrics;
    if (TM) {
      // The advance and the horizontal ink extent, which depend on the
      // text; the font's vertical metrics (whole pixels for the empty
      // string, which detectors check) stay as they are.
      for (const name of ["width", "actualBoundingBoxLeft", "actualBoundingBoxRight"]) {
        getter(TM.prototype, name, (real) => function () {
          // One tiny scale per site.
          return real.call(this) * (1 + (((mix(0x7e47) & 0xffff) / 0xffff) - 0.5) * 4e-4);
        });
      }
    }
    // WebGL 1 (what fingerprinting reads the renderer through) is patched up
    // front where asked; WebGL 2's interface costs ~1 ms to build, so it is
    // patched on first use.
    if (eagerGl && W.WebGLRenderingContext) patchGl(W.WebGLRenderingContext.prototype);
    for (const K of [Canvas, Offscreen]) {
      if (!K) continue;
      method(K.prototype, "getContext", (real) => function (...args) {
        const ctx = real.apply(this, args);
        if (ctx && /webgl/i.test(String(args[0]))) patchGl(Object.getPrototypeOf(ctx));
        return ctx;
      });
    }
    if (Canvas) {
      const realToDataURL = Canvas.prototype.toDataURL;
      const realToBlob = Canvas.prototype.toBlob;
      method(Canvas.prototype, "toDataURL", (real) =>
        viaScratch(real, htmlScratch, (copy, args) => realToDataURL.apply(copy, args)));
      method(Canvas.prototype, "toBlob", (real) =>
        viaScratch(real, htmlScratch, (copy, args) => realToBlob.apply(copy, args)));
    }
    if (Offscreen) {
      const realConvert = Offscreen.prototype.convertToBlob;
      method(Offscreen.prototype, "convertToBlob", (real) =>
        viaScratch(real, offscreenScratch, (copy, args) => realConvert.apply(copy, args)));
    }
  };

  const audioProtect = (W) => {
    const done = new WeakSet();
    // Buffers a page filled itself (copyToChannel) hold what it wrote:
    // only rendered sound, which depends on the machine, is noised, and
    // multiplicatively, so silence stays silence.
    const written = new WeakSet();
    const Buffer = W.AudioBuffer;
    if (Buffer) {
      const realGet = Buffer.prototype.getChannelData;
      const noised = (buffer, ch) => {
        const data = realGet.call(buffer, ch);
        if (!done.has(data) && !written.has(buffer)) {
          done.add(data);
          for (let i = 0; i < data.length; i++) {
            data[i] *= 1 + ((mix(i + ch * 0x10000) & 0xffff) / 0xffff - 0.5) * 2e-6;
          }
        }
        return data;
      };
      method(Buffer.prototype, "getChannelData", () => function (ch) {
        return noised(this, ch);
      });
      method(Buffer.prototype, "copyFromChannel", (real) => function (dest, ch, ...rest) {
        try { noised(this, ch); } catch (_) { /* the real call reports it */ }
        return real.call(this, dest, ch, ...rest);
      });
      method(Buffer.prototype, "copyToChannel", (real) => function (...args) {
        const r = real.apply(this, args);
        written.add(this);
        return r;
      });
    }
    const Analyser = W.AnalyserNode;
    if (Analyser) {
      // Decibels shift a little (silence, -Infinity, stays); samples scale
      // a little (silence, 0, stays).
      method(Analyser.prototype, "getFloatFrequencyData", (real) => function (array) {
        const r = real.call(this, array);
        for (let i = 0; i < array.length; i++) {
          array[i] += ((mix(i + 0x20000) & 0xffff) / 0xffff - 0.5) * 2e-4;
        }
        return r;
      });
      method(Analyser.prototype, "getFloatTimeDomainData", (real) => function (array) {
        const r = real.call(this, array);
        for (let i = 0; i < array.length; i++) {
          array[i] *= 1 + ((mix(i + 0x30000) & 0xffff) / 0xffff - 0.5) * 2e-6;
        }
        return r;
      });
    }
  };

  // Audio worklets are no DevTools targets: the first module a page adds
  // to a worklet is preceded by this script (seeded with the page's site
  // seed, from a blob URL), which noises what processors hear exactly as
  // getChannelData noises a rendered buffer, frame by frame. A page whose
  // policy refuses blob scripts gets its module unprotected.
  const workletProtect = (W) => {
    const AW = W.AudioWorklet;
    if (!AW || !W.Worklet || !W.Blob || !W.URL) return;
    const Blob = W.Blob, createURL = W.URL.createObjectURL, revokeURL = W.URL.revokeObjectURL;
    const isAudio = (x) => Object.prototype.isPrototypeOf.call(AW.prototype, x);
    const ready = new WeakMap();
    // addModule is the Worklet interface's (paint worklets share it).
    method(W.Worklet.prototype, "addModule", (real) => function (...args) {
      if (!isAudio(this)) return real.apply(this, args);
      let first = ready.get(this);
      if (!first) {
        const config = JSON.stringify({ worklet: true, seed: siteSeed() });
        const text = `(${fnToString.call(protect)})(${config});`;
        const url = createURL(new Blob([text], { type: "text/javascript" }));
        first = real.call(this, url).then(() => revokeURL(url), () => revokeURL(url));
        ready.set(this, first);
      }
      return first.then(() => real.apply(this, args));
    });
  };
  // Inside the worklet: a processor's `process` hears each input sample
  // scaled as getChannelData scales the same frame (silence stays silent).
  const processorProtect = (W) => {
    const frameGetter = describe(W, "currentFrame") && describe(W, "currentFrame").get;
    const frameNow = () => (frameGetter ? Number(frameGetter.call(W)) : 0);
    const seen = new WeakSet();
    const noiseInputs = (inputs) => {
      if (!Array.isArray(inputs)) return;
      const f0 = frameNow();
      for (const input of inputs) {
        if (!Array.isArray(input)) continue;
        for (let ch = 0; ch < input.length; ch++) {
          const data = input[ch];
          if (!(data instanceof W.Float32Array)) continue;
          for (let i = 0; i < data.length; i++) {
            data[i] *= 1 + ((mix(f0 + i + ch * 0x10000) & 0xffff) / 0xffff - 0.5) * 2e-6;
          }
        }
      }
    };
    method(W, "registerProcessor", (real) => function (name, ctor, ...rest) {
      let owner = ctor && (typeof ctor === "function") ? ctor.prototype : null;
      let d;
      try {
        while (owner && !(d = describe(owner, "process"))) owner = Object.getPrototypeOf(owner);
      } catch (_) { d = undefined; }
      if (d && typeof d.value === "function" && d.writable && !seen.has(d.value)) {
        const heard = d.value;
        const fake = { [heard.name](...args) { noiseInputs(args[0]); return heard.apply(this, args); } }[heard.name];
        define(fake, "length", { value: heard.length });
        seen.add(fake);
        define(owner, "process", { ...d, value: hideAs(fake, heard) });
      }
      return real.call(this, name, ctor, ...rest);
    });
  };

  // Cores, languages, platform and the agent are set natively (DevTools
  // overrides reach every realm and worker); only the memory class has
  // no override.
  const navigatorProtect = (W) => {
    for (const P of [W.Navigator, W.WorkerNavigator]) {
      if (P) constants(P.prototype, { deviceMemory: C.deviceMemory });
    }
  };

  // The identity's screen, in every document (cross-site frames included),
  // and in `matchMedia` queries on the device size. Chromium's own screen
  // emulation costs ~5 ms per page load and does not reach cross-site
  // frames, so stylesheets' @media rules still see the real screen
  // (ARCHITECTURE.md).
  const screenProtect = (W) => {
    const S = W.Screen;
    if (!S || !C.screen) return;
    const [width, height] = C.screen;
    constants(S.prototype,
      { width, height, availWidth: width, availHeight: height, availLeft: 0, availTop: 0 });
    // Each device-size feature becomes one that is always true or always
    // false for this viewport, decided against the identity's screen.
    const TRUE = "(min-width: 0px)", FALSE = "(min-width: 100000000px)";
    const size = /\(\s*(min-|max-)?device-(width|height)\s*:\s*([0-9.]+)px\s*\)/gi;
    const aspect = /\(\s*(min-|max-)?device-aspect-ratio\s*:\s*([0-9.]+)\s*\/\s*([0-9.]+)\s*\)/gi;
    const holds = (prefix, have, want) => {
      const p = (prefix || "").toLowerCase();
      return p === "min-" ? have >= want : p === "max-" ? have <= want : have === want;
    };
    const rewrite = (query) => query
      .replace(size, (_, prefix, axis, n) =>
        holds(prefix, axis.toLowerCase() === "width" ? width : height, Number(n)) ? TRUE : FALSE)
      .replace(aspect, (_, prefix, a, b) =>
        holds(prefix, width * Number(b), height * Number(a)) ? TRUE : FALSE);
    const asked = new WeakMap();
    method(W, "matchMedia", (real) => function (query, ...rest) {
      const text = String(query);
      const changed = rewrite(text);
      if (changed === text) return real.call(this, query, ...rest);
      const list = real.call(this, changed, ...rest);
      asked.set(list, text);
      return list;
    });
    const MQL = W.MediaQueryList;
    if (MQL) {
      getter(MQL.prototype, "media", (real) => function () {
        return asked.has(this) ? asked.get(this) : real.call(this);
      });
    }
  };

  // Layout boxes (DOMRect): each fractional coordinate moves up by 1/64 px
  // (one layout unit) or stays, by the site's seed and the coordinate
  // itself. Edges are moved, not sizes, so boxes that touch still touch;
  // whole-pixel coordinates (boxes a page sized itself) stay exact; the
  // same box reads the same through every API and realm.
  const rectProtect = (W) => {
    const R = W.DOMRect && W.DOMRect.prototype;
    if (!R) return;
    const set = (name) => describe(R, name).set;
    const [setX, setY, setW, setH] = ["x", "y", "width", "height"].map(set);
    const read = (name) => describe(W.DOMRectReadOnly.prototype, name).get;
    const [left, top, right, bottom] = ["left", "top", "right", "bottom"].map(read);
    const shift = (v) => (Number.isFinite(v) && v % 1 !== 0
      ? v + (mix(Math.round(v * 64) + 0xd0e) & 1) / 64 : v);
    const move = (r) => {
      if (!(r instanceof W.DOMRect)) return r;
      const l = shift(left.call(r)), t = shift(top.call(r));
      const rr = shift(right.call(r)), b = shift(bottom.call(r));
      setX.call(r, l); setY.call(r, t); setW.call(r, rr - l); setH.call(r, b - t);
      return r;
    };
    const moveAll = (list) => {
      for (let i = 0; i < list.length; i++) move(list[i]);
      return list;
    };
    for (const P of [W.Element && W.Element.prototype, W.Range && W.Range.prototype]) {
      method(P, "getBoundingClientRect", (real) => function () { return move(real.call(this)); });
      method(P, "getClientRects", (real) => function () { return moveAll(real.call(this)); });
    }
    if (W.SVGGraphicsElement) {
      method(W.SVGGraphicsElement.prototype, "getBBox", (real) => function (...args) {
        return move(real.apply(this, args));
      });
    }
    if (W.SVGTextContentElement) {
      method(W.SVGTextContentElement.prototype, "getComputedTextLength", (real) => function () {
        return shift(real.call(this));
      });
    }
  };

  // Network quality: Chromium keeps one estimate for the whole browser.
  const networkProtect = (W) => {
    const N = W.NetworkInformation;
    if (!N || !C.network) return;
    const [rtt, downlink] = C.network;
    constants(N.prototype, { rtt, downlink, effectiveType: "4g" });
  };

  const webrtcProtect = (W) => {
    if (C.webrtc !== "disable") return;
    for (const name of ["RTCPeerConnection", "webkitRTCPeerConnection", "RTCDataChannel",
      "RTCIceCandidate", "RTCSessionDescription"]) {
      try { delete W[name]; } catch (_) { /* not configurable */ }
    }
  };

  const install = (W, eagerGl) => {
    canvasProtect(W, eagerGl);
    audioProtect(W);
    navigatorProtect(W);
    screenProtect(W);
    rectProtect(W);
    networkProtect(W);
    webrtcProtect(W);
    workletProtect(W);
  };
  // The top-level document also patches WebGL 1 up front, so a reference
  // taken before any context is protected too; frames and workers (most of
  // a page's documents) patch it on first use, which is much cheaper.
  let top = false;
  try { top = G.top === G; } catch (_) { /* cross-origin: a frame */ }
  if (C.worklet) processorProtect(G); else install(G, top);

  // Child frames need nothing from here: Chromium runs this script in
  // every new document, the initial about:blank of a frame made by script
  // included, before the parent can reach it (by contentWindow, by index
  // or through frames). Installing from the parent too would patch twice.
})(__VIP_CONFIG__);
