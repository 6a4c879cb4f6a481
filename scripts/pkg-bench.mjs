// `make bench-pkg`: the npm package against native Rust, in one run, for the
// current build ("after") and, when PKG_BENCH_BEFORE names one, a baseline
// build ("before"), each beside its own native baseline from the same run
// (BENCHMARKS.md, "Browser package"). Prints a Markdown table; writes
// target/bench-pkg.json.
//
// Per build:
//   - sizes: the package's .wasm and the Worker's, raw and gzip -9;
//   - one browser-style decision (a `message` against a GET /v1/usage
//     snapshot of the demo config's premium plan): native (the build's own
//     examples/bench_check, which also writes the inputs and its decision,
//     which the wasm decision must equal) and wasm under Node, back to back,
//     alternating REPEAT times, best median kept:
//       re-check = same snapshot and subscription, a new action object —
//         through `prepare()` where the build has it — ÷ native reading only
//         the action;
//       full = snapshot, subscription and action as JS objects, the snapshot
//         different every call ÷ native from JSON text;
//   - headless Chromium (/usr/bin/chromium): `await init()` (fetch, streaming
//     compile, instantiate from 127.0.0.1) + the first `new Tollgate(config)`,
//     a fresh browser context each time, median of CHROMIUM_RUNS.
//
// PKG_BENCH_BEFORE=<dir> holds the baseline: <dir>/pkg (its package),
// <dir>/worker/index_bg.wasm, <dir>/bench_check (its native binary, built
// from its source tree <dir>/src, where it reads www/config.json).
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { createServer } from "node:http";
import { isDeepStrictEqual } from "node:util";
import { join, extname } from "node:path";

const require = createRequire(import.meta.url);
const rootPath = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const REPEAT = Number(process.env.BENCH_REPEAT || 3);
const ITERS = Number(process.env.BENCH_ITERS || 20000);
const CHROMIUM_RUNS = Number(process.env.CHROMIUM_RUNS || 9);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// `gzip -9`, the tool the budget names (node's zlib differs by a few hundred bytes).
const size = (file) => {
  if (!existsSync(file)) return null;
  return { raw: readFileSync(file).length, gzip: execFileSync("gzip", ["-9c", file], { maxBuffer: 1 << 26 }).length };
};

const builds = [];
const before = process.env.PKG_BENCH_BEFORE;
if (before) {
  builds.push({ name: "before", pkg: `${before}/pkg`, worker: `${before}/worker/index_bg.wasm`,
    native: `${before}/bench_check`, src: `${before}/src` });
}
builds.push({ name: "after", pkg: `${rootPath}/pkg`, worker: `${rootPath}/worker/build/index_bg.wasm`,
  native: `${rootPath}/target/release/examples/bench_check`, src: rootPath });

/** Median of `rounds` rounds of `iters` calls, in ns per call. */
function time(iters, rounds, f) {
  for (let i = 0; i < iters / 10 + 1; i++) f();
  const rs = [];
  for (let r = 0; r < rounds; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) f();
    rs.push(Number(process.hrtime.bigint() - t) / iters);
  }
  return median(rs);
}

function runNative(b) {
  execFileSync(b.native, [String(ITERS)], { stdio: ["ignore", "ignore", "ignore"], env: { ...process.env, TOLLGATE_ROOT: b.src } });
  return JSON.parse(readFileSync(`${b.src}/target/bench-pkg-input.json`, "utf8"));
}

for (const b of builds) {
  b.best = {};
  b.sizes = { pkg: size(`${b.pkg}/tollgate_bg.wasm`), worker: size(b.worker) };
  b.mod = require(`${b.pkg}/node/tollgate.js`);
}
const keep = (b, k, v) => (b.best[k] = Math.min(b.best[k] ?? Infinity, v));

for (let r = 0; r < REPEAT; r++) {
  for (const b of builds) {
    const input = runNative(b);
    b.input = input;
    keep(b, "native_text_ns", input.native.text_ns);
    keep(b, "native_action_only_ns", input.native.action_only_ns);
    const { Tollgate } = b.mod;
    const tg = new Tollgate(input.config);
    const { snapshot, subscription, action, now_ms } = input;
    const decision = tg.check(snapshot, subscription, action, now_ms);
    if (!isDeepStrictEqual(decision, input.decision)) {
      console.error(`${b.name}: wasm decision differs from native:`, decision, input.decision);
      process.exit(1);
    }
    const rounds = input.native.rounds;
    // A page re-checking as the user types.
    keep(b, "wasm_recheck_plain_ns", time(ITERS, rounds, () => tg.check(snapshot, subscription, { ...action }, now_ms)));
    if (typeof tg.prepare === "function") {
      const prepared = tg.prepare(snapshot, subscription);
      if (!isDeepStrictEqual(prepared.check(action, now_ms), input.decision)) {
        console.error(`${b.name}: prepare().check differs from native`);
        process.exit(1);
      }
      keep(b, "wasm_recheck_ns", time(ITERS, rounds, () => prepared.check({ ...action }, now_ms)));
    } else {
      b.best.wasm_recheck_ns = b.best.wasm_recheck_plain_ns;
    }
    // A different snapshot every call: everything read again.
    const other = { ...snapshot, as_of: "2026-11-23T18:39:59Z" };
    let flip = false;
    keep(b, "wasm_full_ns", time(ITERS, rounds, () => tg.check((flip = !flip) ? snapshot : other, subscription, action, now_ms)));
  }
}

// --- headless Chromium: await init() + first new Tollgate(config) ------------
async function chromiumInit(b) {
  let chromium;
  try {
    ({ chromium } = await import("playwright-core"));
  } catch {
    return null;
  }
  if (!existsSync("/usr/bin/chromium")) return null;
  const config = readFileSync(`${b.src}/www/config.json`);
  const page = `<!doctype html><meta charset="utf-8"><script type="module">
    const m = await import("/pkg/web/tollgate.js");
    const config = await (await fetch("/config.json")).json();
    const t0 = performance.now();
    await m.default();
    new m.Tollgate(config);
    window.__ms = performance.now() - t0;
  </script>`;
  const types = { ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".html": "text/html" };
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const headers = (t) => ({ "content-type": t, "cache-control": "no-store" });
    if (path === "/") { res.writeHead(200, headers(types[".html"])); return res.end(page); }
    if (path === "/config.json") { res.writeHead(200, headers(types[".json"])); return res.end(config); }
    if (path.startsWith("/pkg/web/") && !path.includes("..")) {
      const file = join(b.pkg, path.slice("/pkg/".length));
      if (existsSync(file)) { res.writeHead(200, headers(types[extname(file)] || "application/octet-stream")); return res.end(readFileSync(file)); }
    }
    res.writeHead(404); res.end();
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const url = `http://127.0.0.1:${server.address().port}/`;
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"] });
  const ms = [];
  try {
    for (let i = 0; i < CHROMIUM_RUNS; i++) {
      const ctx = await browser.newContext();
      const p = await ctx.newPage();
      await p.goto(url);
      await p.waitForFunction(() => window.__ms !== undefined, null, { timeout: 30_000 });
      ms.push(await p.evaluate(() => window.__ms));
      await ctx.close();
    }
    b.userAgent = await (await browser.newPage()).evaluate(() => navigator.userAgent);
  } finally {
    await browser.close();
    server.close();
  }
  return { median: median(ms), min: Math.min(...ms), max: Math.max(...ms) };
}
for (const b of builds) b.chromium = await chromiumInit(b);

// --- report --------------------------------------------------------------------
const result = { node: process.version, iterations: ITERS, repeat: REPEAT, chromium_runs: CHROMIUM_RUNS, builds: {} };
for (const b of builds) {
  result.builds[b.name] = {
    sizes: b.sizes, ...b.best, chromium_init_ms: b.chromium,
    ratio_recheck: b.best.wasm_recheck_ns / b.best.native_action_only_ns,
    ratio_recheck_plain: b.best.wasm_recheck_plain_ns / b.best.native_action_only_ns,
    ratio_full: b.best.wasm_full_ns / b.best.native_text_ns,
  };
}
writeFileSync(`${rootPath}/target/bench-pkg.json`, JSON.stringify(result, null, 2) + "\n");

const us = (ns) => `${(ns / 1000).toFixed(2)} µs`;
const B = (n) => (n == null ? "—" : `${n.toLocaleString("en-US")} B`);
const x = (r) => `${r.toFixed(2)}×`;
const rows = [
  ["`pkg` wasm, gzip -9", (b) => B(b.sizes.pkg?.gzip), (b) => `raw ${B(b.sizes.pkg?.raw)}`],
  ["Worker wasm, gzip -9", (b) => B(b.sizes.worker?.gzip), (b) => `raw ${B(b.sizes.worker?.raw)}`],
  ["re-check, unchanged snapshot ÷ native (action read, decision written)", (b) => `**${x(result.builds[b.name].ratio_recheck)}**`,
    (b) => `${us(b.best.wasm_recheck_ns)} vs ${us(b.best.native_action_only_ns)}${typeof b.mod.Tollgate.prototype.prepare === "function" ? " (`prepare()`); plain `check()` " + us(b.best.wasm_recheck_plain_ns) : ""}`],
  ["full `check()` from JS objects ÷ native from JSON text", (b) => `**${x(result.builds[b.name].ratio_full)}**`,
    (b) => `${us(b.best.wasm_full_ns)} vs ${us(b.best.native_text_ns)}`],
  ["`await init()` + first `new Tollgate(config)`, headless Chromium", (b) => (b.chromium ? `**${b.chromium.median.toFixed(1)} ms**` : "—"),
    (b) => (b.chromium ? `median of ${CHROMIUM_RUNS}, ${b.chromium.min.toFixed(1)}–${b.chromium.max.toFixed(1)} ms` : "no Chromium")],
];
console.log(`\nNode ${process.version}; ${ITERS} calls × ${builds[0].input.native.rounds} rounds, median round, best of ${REPEAT} alternating native/wasm runs per build; ${builds.at(-1).userAgent ?? ""}\n`);
console.log(`| figure | ${builds.map((b) => `${b.name} | ${b.name}: detail`).join(" | ")} |`);
console.log(`|---|${builds.map(() => "---|---").join("|")}|`);
for (const [label, main, detail] of rows) console.log(`| ${label} | ${builds.map((b) => `${main(b)} | ${detail(b)}`).join(" | ")} |`);
