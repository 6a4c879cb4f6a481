// Shared by the Node runner (vectors.test.mjs) and the Chromium page
// (browser-vectors.html): replays every case of target/vectors-native.json
// through the wasm build and compares it with the native decision, field
// for field, and with the case's own `expect` subset.
//
// target/vectors-native.json is written by `cargo run --example
// replay_vectors` in the same run; it carries the exact vector text the
// native side read, so both sides replay identical inputs even while vector
// files are being edited.

/** Full deep equality; `null` when equal, else the first differing path. */
export function deepDiff(a, b, path = "") {
  if (Object.is(a, b)) return null;
  if (typeof a === "number" && typeof b === "number") {
    return a === b ? null : `${path || "."}: native ${a}, wasm ${b}`;
  }
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") {
    return `${path || "."}: native ${JSON.stringify(a)}, wasm ${JSON.stringify(b)}`;
  }
  if (Array.isArray(a) !== Array.isArray(b)) {
    return `${path || "."}: native ${JSON.stringify(a)}, wasm ${JSON.stringify(b)}`;
  }
  if (Array.isArray(a)) {
    if (a.length !== b.length) return `${path}: native has ${a.length} elements, wasm ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = deepDiff(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (Object.getPrototypeOf(b) !== Object.prototype) {
    return `${path || "."}: wasm returned a ${b.constructor?.name}, not a plain object`;
  }
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  for (const k of ka) if (!kb.includes(k)) return `${path ? path + "." : ""}${k}: missing in wasm`;
  for (const k of kb) if (!ka.includes(k)) return `${path ? path + "." : ""}${k}: only in wasm`;
  for (const k of ka) {
    const d = deepDiff(a[k], b[k], path ? `${path}.${k}` : k);
    if (d) return d;
  }
  return null;
}

/** The vector format's `expect` rule (src/replay.rs `subset_mismatch`). */
export function subsetMismatch(expected, actual, path = "") {
  const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (isObj(expected) && isObj(actual)) {
    for (const [k, ev] of Object.entries(expected)) {
      const p = path ? `${path}.${k}` : k;
      if (Object.prototype.hasOwnProperty.call(actual, k)) {
        const m = subsetMismatch(ev, actual[k], p);
        if (m) return m;
      } else if (ev !== null) {
        return `${p}: missing, expected ${JSON.stringify(ev)}`;
      }
    }
    return null;
  }
  if (Array.isArray(expected) && Array.isArray(actual)) {
    if (expected.length !== actual.length) {
      return `${path}: expected ${expected.length} elements, got ${actual.length}`;
    }
    for (let i = 0; i < expected.length; i++) {
      const m = subsetMismatch(expected[i], actual[i], `${path}[${i}]`);
      if (m) return m;
    }
    return null;
  }
  if (expected === actual) return null;
  return `${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

/**
 * Replays every case; returns {files, cases, failures: [string]}.
 * `replayCase(config, case)` is the package's conformance helper.
 */
export function runVectors(nativeDoc, replayCase) {
  const failures = [];
  let cases = 0;
  for (const entry of nativeDoc.files) {
    if (entry.error) {
      failures.push(`${entry.file}: ${entry.error}`);
      continue;
    }
    const vcases = entry.vector.cases || [];
    if (vcases.length !== entry.native.length) {
      failures.push(`${entry.file}: ${vcases.length} cases but ${entry.native.length} native results`);
      continue;
    }
    vcases.forEach((c, i) => {
      cases++;
      const where = `${entry.file} case ${i} (${c.name ?? "?"})`;
      const native = entry.native[i];
      let wasm;
      let wasmError = null;
      try {
        wasm = replayCase(c.config ?? entry.vector.config ?? null, c);
      } catch (e) {
        wasmError = String(e && e.message !== undefined ? e.message : e);
      }
      if (native.error !== undefined || wasmError !== null) {
        if (native.error !== wasmError) {
          failures.push(`${where}: native error ${JSON.stringify(native.error)}, wasm error ${JSON.stringify(wasmError)}`);
        }
        return;
      }
      const d = deepDiff(native.decision, wasm);
      if (d) {
        failures.push(`${where}: wasm differs from native: ${d}`);
        return;
      }
      const m = subsetMismatch(c.expect ?? null, wasm);
      if (m) failures.push(`${where}: expect: ${m}`);
    });
  }
  return { files: nativeDoc.files.length, cases, failures };
}
