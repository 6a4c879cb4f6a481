#!/usr/bin/env node
// Summarises test-output/bench.jsonl (scripts/bench.sh) as markdown: the
// median over rounds (`label#n`) of each figure, and each reserve+commit flow
// beside the bare-counter runs of the same shape.
//
//   node scripts/bench-summary.mjs test-output/bench.jsonl

import { readFileSync } from "node:fs";

const file = process.argv[2] ?? "test-output/bench.jsonl";
const rows = readFileSync(file, "utf8")
  .split("\n")
  .filter((l) => l.startsWith("{"))
  .map((l) => JSON.parse(l));

const median = (xs) => {
  const v = xs.filter((x) => typeof x === "number").sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const r1 = (x) => (x == null ? "—" : (Math.round(x * 10) / 10).toString());

const groups = new Map();
for (const r of rows) {
  if (!r.label) continue;
  // Rounds (`label#n`) group under `label#`; single runs under their label.
  const base = r.label.replace(/#\d+$/, "#");
  if (!groups.has(base)) groups.set(base, []);
  groups.get(base).push(r);
}
const med = (label, key) => median((groups.get(label) ?? []).map((r) => r[key]));

const out = [];
const pairs = [
  ["reserve-commit-1user-c16#", "bare-1obj-c16#", "1 user, 16 concurrent"],
  ["reserve-commit-100users-c16#", "bare-100obj-c16#", "100 users, 16 concurrent"],
  ["reserve-commit-1user-c1#", "bare-1obj-c1#", "1 user, one at a time"],
];
out.push("| load | reserve+commit pairs/s | requests/s | bare counter requests/s | reserve p50 / p99 ms | commit p50 / p99 ms | bare p50 / p99 ms | reserve p50 ÷ bare p50 | reserve p99 ÷ bare p99 |");
out.push("|---|---|---|---|---|---|---|---|---|");
for (const [flow, bare, what] of pairs) {
  if (!groups.has(flow) || !groups.has(bare)) continue;
  const rounds = groups.get(flow).length;
  const fp50 = med(flow, "first_p50_ms");
  const fp99 = med(flow, "first_p99_ms");
  const bp50 = med(bare, "p50_ms");
  const bp99 = med(bare, "p99_ms");
  out.push(
    `| ${what} (${rounds} rounds) | ${r1(med(flow, "rps"))} | ${r1(2 * med(flow, "rps"))} | ${r1(med(bare, "rps"))} | ` +
      `${r1(fp50)} / ${r1(fp99)} | ${r1(med(flow, "then_p50_ms"))} / ${r1(med(flow, "then_p99_ms"))} | ` +
      `${r1(bp50)} / ${r1(bp99)} | ${fp50 && bp50 ? (fp50 / bp50).toFixed(2) : "—"}× | ${fp99 && bp99 ? (fp99 / bp99).toFixed(2) : "—"}× |`,
  );
}
const wasm = rows.find((r) => r.label === "worker-wasm");
if (wasm) {
  out.push("");
  out.push(`Worker .wasm: ${(wasm.raw_bytes / 1024).toFixed(0)} KiB raw, ${(wasm.gzip_bytes / 1024).toFixed(0)} KiB gzipped (gzip -9).`);
}
const errors = rows.filter((r) => r.errors > 0 || (r.then_statuses && Object.keys(r.then_statuses).some((s) => s !== "200")));
if (errors.length) out.push(`\nRuns with errors or non-200 commits: ${errors.map((r) => r.label).join(", ")}`);
console.log(out.join("\n"));
