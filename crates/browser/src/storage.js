// Reads or restores one origin's localStorage and IndexedDB, run in a
// hidden page of that origin. Values are structured-clone data, written as
// JSON with tags for what JSON lacks (dates, binary, maps, sets, special
// numbers, undefined). `__VIP_MODE__` is "export" or "import"; `__VIP_DATA__`
// the data to import.
(async (mode, data) => {
  const b64 = (bytes) => { let s = ""; for (const b of bytes) s += String.fromCharCode(b); return btoa(s); };
  const unb64 = (t) => Uint8Array.from(atob(t), (c) => c.charCodeAt(0));
  const enc = (v) => {
    if (v === undefined) return { $u: 1 };
    if (typeof v === "number" && !Number.isFinite(v)) return { $n: String(v) };
    if (v === null || typeof v !== "object") return v;
    if (v instanceof Date) return { $d: v.getTime() };
    if (v instanceof ArrayBuffer) return { $ab: b64(new Uint8Array(v)) };
    if (ArrayBuffer.isView(v)) return { $ta: v.constructor.name, b: b64(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) };
    if (v instanceof Map) return { $m: [...v].map(([k, x]) => [enc(k), enc(x)]) };
    if (v instanceof Set) return { $s: [...v].map(enc) };
    if (Array.isArray(v)) return v.map(enc);
    if (typeof Blob !== "undefined" && v instanceof Blob) return { $u: 1 };
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = enc(x);
    return { $o: o };
  };
  const dec = (v) => {
    if (v === null || typeof v !== "object") return v;
    if (Array.isArray(v)) return v.map(dec);
    if ("$u" in v) return undefined;
    if ("$n" in v) return Number(v.$n);
    if ("$d" in v) return new Date(v.$d);
    if ("$ab" in v) return unb64(v.$ab).buffer;
    if ("$ta" in v) { const C = globalThis[v.$ta] || Uint8Array; const bytes = unb64(v.b); return new C(bytes.buffer, 0, bytes.byteLength / (C.BYTES_PER_ELEMENT || 1)); }
    if ("$m" in v) return new Map(v.$m.map(([k, x]) => [dec(k), dec(x)]));
    if ("$s" in v) return new Set(v.$s.map(dec));
    const o = {};
    for (const [k, x] of Object.entries(v.$o || {})) o[k] = dec(x);
    return o;
  };
  const done = (r) => new Promise((ok, fail) => { r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); });
  if (mode === "export") {
    const local = {};
    for (let i = 0; i < localStorage.length; i++) { const k = localStorage.key(i); local[k] = localStorage.getItem(k); }
    const databases = [];
    for (const info of await indexedDB.databases()) {
      const db = await done(indexedDB.open(info.name));
      const stores = [];
      for (const name of db.objectStoreNames) {
        const st = db.transaction(name, "readonly").objectStore(name);
        const keys = await done(st.getAllKeys());
        const values = await done(st.getAll());
        stores.push({
          name, keyPath: st.keyPath, autoIncrement: st.autoIncrement,
          indexes: [...st.indexNames].map((n) => { const ix = st.index(n); return { name: n, keyPath: ix.keyPath, unique: ix.unique, multiEntry: ix.multiEntry }; }),
          records: keys.map((k, i) => [enc(k), enc(values[i])]),
        });
      }
      databases.push({ name: info.name, version: db.version, stores });
      db.close();
    }
    return { localStorage: local, indexedDB: databases };
  }
  for (const [k, v] of Object.entries(data.localStorage || {})) localStorage.setItem(k, v);
  for (const d of data.indexedDB || []) {
    const open = indexedDB.open(d.name, d.version);
    open.onupgradeneeded = () => {
      const db = open.result;
      for (const s of d.stores) {
        if (db.objectStoreNames.contains(s.name)) continue;
        const st = db.createObjectStore(s.name, { keyPath: s.keyPath === null ? undefined : s.keyPath, autoIncrement: s.autoIncrement });
        for (const ix of s.indexes) st.createIndex(ix.name, ix.keyPath, { unique: ix.unique, multiEntry: ix.multiEntry });
      }
    };
    const db = await done(open);
    const names = d.stores.map((s) => s.name).filter((n) => db.objectStoreNames.contains(n));
    if (names.length) {
      const tx = db.transaction(names, "readwrite");
      for (const s of d.stores) {
        if (!names.includes(s.name)) continue;
        const st = tx.objectStore(s.name);
        for (const [k, v] of s.records) {
          if (s.keyPath === null) st.put(dec(v), dec(k)); else st.put(dec(v));
        }
      }
      await new Promise((ok, fail) => { tx.oncomplete = ok; tx.onerror = () => fail(tx.error); });
    }
    db.close();
  }
  return true;
})(__VIP_MODE__, __VIP_DATA__)
