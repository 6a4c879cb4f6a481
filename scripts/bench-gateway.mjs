#!/usr/bin/env node
// Gateway benchmark (issue #5): the latency the gateway adds to the first
// byte, and its throughput, against a direct call to the same fake upstream
// in the same run. Everything runs on 127.0.0.1 with bounded counts:
//
//   fake upstream  tests/gateway/fake-upstream.mjs (Node http, no delay)
//   gateway        the built Worker (worker/build) in workerd via miniflare@4
//                  (tests/worker/harness.mjs), UPSTREAM_URL = the fake
//   client         Node fetch (undici), one process
//
//   node scripts/bench-gateway.mjs [--seq 300] [--n 1500] [--c 16] [--write]
//
// --write replaces the "## Gateway" section of BENCHMARKS.md (or appends it).
// Build the Worker first (make worker); `make bench-gateway` does both.

import { readFileSync, writeFileSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { auth, ROOT, signJwt, start, stop } from "../tests/worker/harness.mjs";
import { startFakeUpstream } from "../tests/gateway/fake-upstream.mjs";

const { values: a } = parseArgs({
  options: {
    seq: { type: "string", default: "300" },
    n: { type: "string", default: "1500" },
    c: { type: "string", default: "16" },
    warmup: { type: "string", default: "40" },
    write: { type: "boolean", default: false },
  },
});
const SEQ = Math.min(Number(a.seq), 5000);
const N = Math.min(Number(a.n), 20000);
const C = Math.min(Number(a.c), 64);
const WARMUP = Math.min(Number(a.warmup), 1000);
const USERS = C;
const DEADLINE = Date.now() + 240_000; // never run longer than 4 minutes

const CONFIG = {
  version: 1,
  models: [{ id: "openai/gpt-4o-mini", free: false, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.6 }],
  plans: [
    {
      id: "bench",
      active: true,
      tier: 1,
      models: ["*"],
      limits: [
        { metric: "tokens", window: "1h", max: 1e12 },
        { metric: "tokens", window: "day", max: 1e12 },
        { metric: "messages", window: "day", max: 1e9 },
        { metric: "cost_usd", window: "subscription", max: 1e6 },
      ],
    },
  ],
};

const pct = (xs, p) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const f1 = (x) => x.toFixed(1);
const f2 = (x) => x.toFixed(2);

/** One request: ms to the first body byte and to the end. */
async function timed(url, init) {
  const t0 = performance.now();
  const res = await fetch(url, init);
  const reader = res.body.getReader();
  let first = null;
  for (;;) {
    const { done, value } = await reader.read();
    if (first === null) first = performance.now() - t0;
    if (done) break;
    if (value?.length === 0) continue;
  }
  const total = performance.now() - t0;
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
  return { first, total };
}

function body(stream) {
  return JSON.stringify({
    model: "openai/gpt-4o-mini",
    messages: [{ role: "user", content: "Say hello in five tokens." }],
    max_tokens: 16,
    stream,
  });
}

async function main() {
  const up = await startFakeUpstream({ record: false });
  // Production settings where the test harness differs: the objects cache the
  // config for 2 s (the tests re-read it on every call) and no dev clock.
  const w = await start({
    vars: { UPSTREAM_URL: up.url, TOLLGATE_CONFIG_TTL_MS: "2000", TOLLGATE_DEV_CLOCK: "0" },
  });
  try {
    const put = await w.json("/v1/admin/config", { method: "PUT", headers: auth.admin(), body: CONFIG });
    if (put.status !== 200) throw new Error(`config: ${put.status} ${put.text}`);
    const now = Math.floor(Date.now() / 1000);
    const jwts = Array.from({ length: USERS }, (_, i) =>
      signJwt({
        sub: `bench-${i}`,
        exp: now + 3600,
        // One token for both: the gateway's routes and the API's reserve + commit pair.
        scope: "gateway reserve settle",
        subscription: { id: `s-${i}`, plan: "bench", active: true, starts_at: now - 60, ends_at: null },
      }),
    );
    const targets = {
      direct: (stream) => [
        `${up.url}/chat/completions`,
        { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer k" }, body: body(stream) },
      ],
      gateway: (stream, u = 0) => [
        `${w.url}/v1/chat/completions`,
        { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${jwts[u]}` }, body: body(stream) },
      ],
      bare: () => [`${w.url}/bench/counter?user=bench-bare`, { method: "POST" }],
      healthz: () => [`${w.url}/healthz`, { method: "GET" }],
    };

    // Warm-up: JIT, connection pools, the Durable Objects.
    for (let i = 0; i < WARMUP; i++) {
      for (const stream of [false, true]) {
        await timed(...targets.direct(stream));
        await timed(...targets.gateway(stream, i % USERS));
      }
      await timed(...targets.bare());
      await timed(...targets.healthz());
    }

    // 1. One request at a time, interleaved, so drift hits every variant alike.
    const seq = {};
    const keys = ["direct json", "gateway json", "direct stream", "gateway stream", "worker healthz", "bare DO counter"];
    for (const k of keys) seq[k] = { first: [], total: [] };
    for (let i = 0; i < SEQ && Date.now() < DEADLINE; i++) {
      for (const k of keys) {
        const [who, kind] = k.split(" ");
        const args =
          who === "bare" ? targets.bare() : who === "worker" ? targets.healthz() : targets[who](kind === "stream", i % USERS);
        const r = await timed(...args);
        seq[k].first.push(r.first);
        seq[k].total.push(r.total);
      }
    }

    // The API's own reserve + commit pair (what the gateway does around the
    // upstream call), for the throughput table.
    let idem = 0;
    const action = JSON.stringify({ type: "message", model: "openai/gpt-4o-mini", input_tokens: 20, max_output_tokens: 16 });
    async function reserveCommit(u) {
      const t0 = performance.now();
      const h = { authorization: `Bearer ${jwts[u]}`, "content-type": "application/json" };
      const r = await fetch(`${w.url}/v1/reserve?explain=1`, {
        method: "POST",
        headers: { ...h, "idempotency-key": `bench-${process.pid}-${idem++}` },
        body: action,
      });
      const d = await r.json();
      if (!d.hold) throw new Error(`reserve: ${JSON.stringify(d)}`);
      const c = await fetch(`${w.url}/v1/holds/${d.hold.id}/commit`, {
        method: "POST",
        headers: h,
        body: JSON.stringify({ input_tokens: 10, output_tokens: 5 }),
      });
      await c.text();
      return { first: 0, total: performance.now() - t0 };
    }
    for (let i = 0; i < WARMUP; i++) await reserveCommit(i % USERS);

    // 2. Throughput: N requests at concurrency C (gateway: C users).
    async function load(who, stream) {
      const lat = [];
      let next = 0;
      const t0 = performance.now();
      const worker = async () => {
        for (;;) {
          const i = next++;
          if (i >= N || Date.now() > DEADLINE) return;
          const r =
            who === "api"
              ? await reserveCommit(i % USERS)
              : await timed(...(who === "bare" ? targets.bare() : targets[who](stream, i % USERS)));
          lat.push(r.total);
        }
      };
      await Promise.all(Array.from({ length: C }, worker));
      const s = (performance.now() - t0) / 1000;
      return { done: lat.length, rps: lat.length / s, p50: pct(lat, 50), p99: pct(lat, 99) };
    }
    const thr = {};
    for (const stream of [false, true]) {
      const kind = stream ? "stream" : "json";
      thr[`direct ${kind}`] = await load("direct", stream);
      thr[`gateway ${kind}`] = await load("gateway", stream);
    }
    thr["API reserve + commit, no upstream (2 requests)"] = await load("api", false);
    thr["bare DO counter (one object)"] = await load("bare", false);

    // Report.
    const rows = keys.map((k) => ({
      k,
      p50f: pct(seq[k].first, 50),
      p90f: pct(seq[k].first, 90),
      p99f: pct(seq[k].first, 99),
      p50t: pct(seq[k].total, 50),
      n: seq[k].first.length,
    }));
    const byKey = Object.fromEntries(rows.map((r) => [r.k, r]));
    const added = (kind, p) => byKey[`gateway ${kind}`][p] - byKey[`direct ${kind}`][p];
    const cpu = os.cpus()[0]?.model ?? "?";
    const lines = [];
    lines.push("## Gateway");
    lines.push("");
    lines.push(
      `\`make bench-gateway\` (scripts/bench-gateway.mjs), ${new Date().toISOString().slice(0, 10)}: the built Worker ` +
        `(release wasm) in **workerd via miniflare 4** (the harness of the tests, not \`wrangler dev\`), the fake ` +
        `upstream (tests/gateway/fake-upstream.mjs, Node http, no delay, 5 content chunks) and the client (Node ` +
        `${process.version} fetch) all on 127.0.0.1, sharing ${os.cpus().length} cores (${cpu}) with other work. ` +
        `"direct" calls the fake upstream itself; "gateway" is the same call through ` +
        "`POST /v1/chat/completions` with a user JWT: auth, input estimate, reserve in the user's Durable Object, " +
        "forward with the server key, pass the answer through, commit after the response (not timed). " +
        `"worker healthz" is \`GET /healthz\` (the floor of any Worker answer through miniflare); "bare DO counter" is ` +
        `\`POST /bench/counter\` (one SQLite Durable Object increment, no Tollgate logic): the floor of one Durable Object round trip. ` +
        "Config cache as in production (`TOLLGATE_CONFIG_TTL_MS=2000`).",
    );
    lines.push("");
    lines.push(`One request at a time, ${SEQ} of each, interleaved, after ${WARMUP} warm-up rounds (ms):`);
    lines.push("");
    lines.push("| call | first byte p50 | p90 | p99 | whole answer p50 |");
    lines.push("|---|---:|---:|---:|---:|");
    for (const r of rows) lines.push(`| ${r.k} | ${f2(r.p50f)} | ${f2(r.p90f)} | ${f2(r.p99f)} | ${f2(r.p50t)} |`);
    lines.push("");
    lines.push(
      `**Added to the first byte at p50: ${f2(added("json", "p50f"))} ms (JSON), ${f2(added("stream", "p50f"))} ms (SSE)** ` +
        `(goal ≤ 10 ms); at p90 ${f2(added("json", "p90f"))} / ${f2(added("stream", "p90f"))} ms. Of that, ` +
        `${f2(byKey["worker healthz"].p50f)} ms at p50 is the floor of any answer from the Worker under miniflare ` +
        `(healthz); the gateway's own share (reserve in the Durable Object, the forwarding, the pipe) is ` +
        `${f2(added("json", "p50f") - byKey["worker healthz"].p50f)} / ${f2(added("stream", "p50f") - byKey["worker healthz"].p50f)} ms.`,
    );
    lines.push("");
    lines.push(
      `Throughput, ${N} calls at concurrency ${C} (gateway and API: ${USERS} users, one Durable Object each). ` +
        "The gateway's row is bounded by the ledger's own reserve + commit (the API row: the same two Durable " +
        "Object operations, no upstream), not by the proxying:",
    );
    lines.push("");
    lines.push("| call | req/s | p50 ms | p99 ms |");
    lines.push("|---|---:|---:|---:|");
    for (const [k, t] of Object.entries(thr)) lines.push(`| ${k} | ${f1(t.rps)} | ${f2(t.p50)} | ${f2(t.p99)} |`);
    lines.push("");
    const section = lines.join("\n");
    console.log(section);

    if (a.write) {
      const file = path.join(ROOT, "BENCHMARKS.md");
      let text = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n";
      const re = /^## Gateway\n[\s\S]*?(?=^## |(?![\s\S]))/m;
      if (re.test(text)) text = text.replace(re, section + "\n");
      else text = text.replace(/\n*$/, "\n\n") + section;
      writeFileSync(file, text.replace(/\n*$/, "\n"));
      console.error(`wrote the "## Gateway" section of ${file}`);
    }
  } finally {
    await stop();
    await up.close();
  }
}

await main();
