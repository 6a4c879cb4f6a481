// `make bench-pkg`: one browser-style decision (Tollgate.check on a
// GET /v1/usage snapshot) timed in wasm under Node and natively, back to
// back on the same machine in the same run, plus the module's instantiation
// time and the .wasm size. Prints a Markdown table; writes target/bench-pkg.json.
//
// The native side is examples/bench_check.rs (built by make bench-pkg); it
// also writes the inputs (target/bench-pkg-input.json) and its decision,
// which the wasm decision must equal. Native and wasm runs alternate
// (REPEAT times) and the best median of each is kept, so a burst of load from
// other processes on this shared machine does not land on one side only.
import { readFileSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { isDeepStrictEqual } from "node:util";

const require = createRequire(import.meta.url);
const root = new URL("..", import.meta.url);
const rootPath = root.pathname.replace(/\/$/, "");
const nativeBin = `${rootPath}/target/release/examples/bench_check`;
const REPEAT = Number(process.env.BENCH_REPEAT || 3);
const ITERS = Number(process.env.BENCH_ITERS || 20000);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const wasiBin = `${rootPath}/target/wasi-bench/wasm32-wasip1/release/bench_check.wasm`;

function runNative() {
  execFileSync(nativeBin, [String(ITERS)], { stdio: ["ignore", "ignore", "ignore"] });
  return JSON.parse(readFileSync(`${rootPath}/target/bench-pkg-input.json`, "utf8"));
}

/** The same Rust file as the native run, compiled to wasm32-wasip1, in Node's WASI. */
function runWasi() {
  const out = execFileSync(process.execPath, ["--no-warnings", `${rootPath}/scripts/pkg-wasi-run.mjs`, wasiBin, rootPath, String(ITERS), "-"],
    { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  return JSON.parse(out.trim().split("\n").pop());
}

/** Median of `rounds` rounds of `iters` calls, in ns per call (as the native side). */
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

const { Tollgate } = require("../pkg/node/tollgate.js");
let input;
const best = {};
const keep = (k, v) => (best[k] = Math.min(best[k] ?? Infinity, v));
for (let r = 0; r < REPEAT; r++) {
  input = runNative();
  const n = input.native;
  keep("native_core_ns", n.core_ns);
  keep("native_text_ns", n.text_ns);
  keep("native_action_only_ns", n.action_only_ns);
  const w = runWasi();
  keep("wasi_core_ns", w.core_ns);
  keep("wasi_text_ns", w.text_ns);

  const tg = new Tollgate(input.config);
  const { snapshot, subscription, action, now_ms } = input;
  const decision = tg.check(snapshot, subscription, action, now_ms);
  if (!isDeepStrictEqual(decision, input.decision)) {
    console.error("wasm decision differs from native:", decision, input.decision);
    process.exit(1);
  }
  // A page re-checking as the user types: same snapshot and subscription,
  // a new action object each time.
  keep("wasm_warm_ns", time(ITERS, n.rounds, () => tg.check(snapshot, subscription, { ...action }, now_ms)));
  // A different snapshot every call: everything read again.
  const other = { ...snapshot, as_of: "2026-11-23T18:39:59Z" };
  let flip = false;
  keep("wasm_cold_ns", time(ITERS, n.rounds, () => tg.check((flip = !flip) ? snapshot : other, subscription, action, now_ms)));
}

// --- instantiation: a fresh Node process each time ---------------------------
const probe = `
const fs = require("fs");
const dir = process.argv[1];
const bytes = fs.readFileSync(dir + "/pkg/node/tollgate_bg.wasm");
let t = performance.now();
new WebAssembly.Module(bytes);
const compile = performance.now() - t;
t = performance.now();
const pkg = require(dir + "/pkg/node/tollgate.js");
const load = performance.now() - t;
const config = JSON.parse(fs.readFileSync(dir + "/www/config.json", "utf8"));
t = performance.now();
new pkg.Tollgate(config);
const construct = performance.now() - t;
console.log(JSON.stringify({ compile, load, construct }));
`;
const probes = [];
for (let i = 0; i < 9; i++) probes.push(JSON.parse(execFileSync(process.execPath, ["-e", probe, rootPath], { encoding: "utf8" })));
const inst = {
  compile_ms: median(probes.map((p) => p.compile)),
  load_ms: median(probes.map((p) => p.load)),
  construct_ms: median(probes.map((p) => p.construct)),
};

const wasm = readFileSync(new URL("pkg/tollgate_bg.wasm", root));
const size = { raw: wasm.length, gzip: Number(execFileSync("sh", ["-c", "gzip -9c pkg/tollgate_bg.wasm | wc -c"], { cwd: rootPath, encoding: "utf8" }).trim()) };

const result = {
  node: process.version,
  iterations: ITERS,
  repeat: REPEAT,
  limits_in_snapshot: input.snapshot.limits.length,
  ...best,
  ratio_core_wasm_vs_native: best.wasi_core_ns / best.native_core_ns,
  ratio_warm_vs_native_action_only: best.wasm_warm_ns / best.native_action_only_ns,
  ratio_cold_vs_native_text: best.wasm_cold_ns / best.native_text_ns,
  ratio_warm_vs_native_core: best.wasm_warm_ns / best.native_core_ns,
  instantiation: inst,
  wasm_size: size,
};
writeFileSync(new URL("target/bench-pkg.json", root), JSON.stringify(result, null, 2) + "\n");

const us = (ns) => (ns / 1000).toFixed(2);
const kb = (b) => (b / 1024).toFixed(1);
const x = (r) => r.toFixed(2) + "×";
console.log(`
Node ${process.version}; ${ITERS} calls × ${input.native.rounds} rounds, median round, best of ${REPEAT} alternating native/wasm runs; snapshot with ${result.limits_in_snapshot} limits.

| measure | native | wasm (Node) | ratio |
|---|---|---|---|
| decision alone (\`check_snapshot\`, inputs parsed; the same Rust code, wasm via node:wasi) | ${us(best.native_core_ns)} µs | ${us(best.wasi_core_ns)} µs | **${x(result.ratio_core_wasm_vs_native)}** |
| JSON text in, decision, JSON text out (same code, wasm via node:wasi) | ${us(best.native_text_ns)} µs | ${us(best.wasi_text_ns)} µs | ${x(best.wasi_text_ns / best.native_text_ns)} |
| \`Tollgate.check()\` re-check: action in, decision out (snapshot, subscription unchanged) | ${us(best.native_action_only_ns)} µs | ${us(best.wasm_warm_ns)} µs | **${x(result.ratio_warm_vs_native_action_only)}** |
| \`Tollgate.check()\` full: snapshot, subscription, action in, decision out | ${us(best.native_text_ns)} µs (JSON text) | ${us(best.wasm_cold_ns)} µs (JS objects) | **${x(result.ratio_cold_vs_native_text)}** |

| module | figure |
|---|---|
| \`tollgate_bg.wasm\` | ${kb(size.raw)} KiB raw, **${kb(size.gzip)} KiB gzipped** (gzip -9) |
| compile (\`new WebAssembly.Module\`, fresh process, median of 9) | ${inst.compile_ms.toFixed(1)} ms |
| \`require\` of the nodejs build (read + compile + instantiate) | ${inst.load_ms.toFixed(1)} ms |
| first \`new Tollgate(config)\` (demo config) | ${inst.construct_ms.toFixed(2)} ms |
`);
