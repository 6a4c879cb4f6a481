#!/usr/bin/env node
// Bounded HTTP load generator for local benchmarks (127.0.0.1 only).
//
//   node scripts/load.mjs --url http://127.0.0.1:8787/bench/counter?user=u{u} \
//        --method POST -n 2000 -c 16 --users 1 --max-seconds 30 [--body '{"a":1}'] \
//        [--header 'authorization: Bearer x'] [--warmup 50] [--label bare]
//
// `{u}` in the URL or body is replaced by a user index in [0, users);
// `{i}` by the request index (also in --header values).
//
// Two-step flows (Tollgate's reserve + commit): --then-url / --then-method /
// --then-body make a second request after each first one that answered a
// `hold` (`{hold}` is its id); one sample is the whole pair, and each step's
// p50/p99 is reported too. --jwt-secret S [--jwt-sub 'bench{u}'] [--jwt-plan P]
// signs an HS256 user token per user index (Authorization: Bearer …).
//
// Prints one JSON object on stdout:
//   {label, url, method, concurrency, requests, completed, errors, statuses,
//    elapsed_s, rps, p50_ms, p90_ms, p99_ms, max_ms, mean_ms}
// Exits non-zero when any request failed (network error or status >= 500)
// unless --allow-errors is given.

import { createHmac } from "node:crypto";
import { parseArgs } from "node:util";

const { values: a } = parseArgs({
  options: {
    url: { type: "string" },
    method: { type: "string", default: "GET" },
    n: { type: "string", short: "n", default: "1000" },
    c: { type: "string", short: "c", default: "8" },
    users: { type: "string", default: "1" },
    "max-seconds": { type: "string", default: "60" },
    warmup: { type: "string", default: "0" },
    body: { type: "string" },
    header: { type: "string", multiple: true, default: [] },
    label: { type: "string" },
    "allow-errors": { type: "boolean", default: false },
    "then-url": { type: "string" },
    "then-method": { type: "string", default: "POST" },
    "then-body": { type: "string" },
    "jwt-secret": { type: "string" },
    "jwt-sub": { type: "string", default: "bench{u}" },
    "jwt-plan": { type: "string", default: "premium" },
  },
});

function die(msg) {
  console.error(`load.mjs: ${msg}`);
  process.exit(2);
}

if (!a.url) die("--url is required");
const int = (name, lo, hi) => {
  const v = Number(a[name]);
  if (!Number.isInteger(v) || v < lo || v > hi) die(`--${name} must be an integer in [${lo}, ${hi}]`);
  return v;
};
const N = int("n", 1, 1_000_000);
const C = int("c", 1, 256);
const USERS = int("users", 1, 1_000_000);
const WARMUP = int("warmup", 0, 100_000);
const MAX_S = Number(a["max-seconds"]);
if (!(MAX_S > 0 && MAX_S <= 600)) die("--max-seconds must be in (0, 600]");

const probe = new URL(a.url.replaceAll("{u}", "0").replaceAll("{i}", "0"));
if (!["127.0.0.1", "localhost", "[::1]"].includes(probe.hostname)) {
  die(`refusing to load ${probe.hostname}: only 127.0.0.1 / localhost`);
}

const headers = {};
for (const h of a.header) {
  const k = h.indexOf(":");
  if (k < 1) die(`bad --header ${h}`);
  headers[h.slice(0, k).trim().toLowerCase()] = h.slice(k + 1).trim();
}
if (a.body !== undefined && !headers["content-type"]) headers["content-type"] = "application/json";

const fill = (s, i) => s.replaceAll("{i}", String(i)).replaceAll("{u}", String(i % USERS));

// One HS256 token per user index (Tollgate's user JWT).
const tokens = [];
if (a["jwt-secret"]) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  for (let u = 0; u < Math.min(USERS, 100_000); u++) {
    const claims = {
      sub: a["jwt-sub"].replaceAll("{u}", String(u)),
      exp: now + 86400,
      subscription: { id: `bench-${u}`, plan: a["jwt-plan"], active: true, starts_at: now - 60, ends_at: now + 30 * 86400 },
    };
    const hp = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(claims)}`;
    tokens.push(`${hp}.${createHmac("sha256", a["jwt-secret"]).update(hp).digest("base64url")}`);
  }
}
const templated = Object.values(headers).some((v) => v.includes("{i}") || v.includes("{u}"));
const headersFor = (i) => {
  const h = templated ? Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, fill(v, i)])) : headers;
  return tokens.length ? { ...h, authorization: `Bearer ${tokens[(i % USERS) % tokens.length]}` } : h;
};

async function one(i) {
  const t0 = performance.now();
  try {
    const h = headersFor(i);
    const res = await fetch(fill(a.url, i), {
      method: a.method,
      headers: h,
      body: a.body === undefined ? undefined : fill(a.body, i),
    });
    if (!a["then-url"]) {
      await res.arrayBuffer();
      return { ms: performance.now() - t0, status: res.status };
    }
    const text = await res.text();
    const t1 = performance.now();
    let hold;
    try {
      hold = JSON.parse(text)?.hold?.id;
    } catch {}
    if (!hold) return { ms: t1 - t0, status: res.status, first: t1 - t0, thenStatus: "no_hold" };
    const res2 = await fetch(fill(a["then-url"], i).replaceAll("{hold}", encodeURIComponent(hold)), {
      method: a["then-method"],
      headers: h,
      body: a["then-body"] === undefined ? undefined : fill(a["then-body"], i),
    });
    await res2.arrayBuffer();
    const t2 = performance.now();
    const status = res2.status >= 500 ? res2.status : res.status;
    return { ms: t2 - t0, status, first: t1 - t0, then: t2 - t1, thenStatus: res2.status };
  } catch (err) {
    return { ms: performance.now() - t0, status: 0, err: String(err?.cause?.code ?? err) };
  }
}

// `offset`: the main run's indices follow the warmup's, so `{i}` (e.g. an
// Idempotency-Key) never repeats within one invocation.
async function run(total, record, offset = 0) {
  let next = 0;
  const deadline = performance.now() + MAX_S * 1000;
  async function lane() {
    while (next < total && performance.now() < deadline) {
      const i = offset + next++;
      record(await one(i));
    }
  }
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(C, total) }, lane));
  return (performance.now() - t0) / 1000;
}

if (WARMUP > 0) await run(WARMUP, () => {});

const lat = [];
const firstLat = [];
const thenLat = [];
const thenStatuses = {};
const statuses = {};
const errorSamples = new Set();
let errors = 0;
const elapsed = await run(N, (r) => {
  lat.push(r.ms);
  if (r.first !== undefined) firstLat.push(r.first);
  if (r.then !== undefined) thenLat.push(r.then);
  if (r.thenStatus !== undefined) thenStatuses[r.thenStatus] = (thenStatuses[r.thenStatus] ?? 0) + 1;
  statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  if (r.status === 0 || r.status >= 500) {
    errors++;
    if (r.err && errorSamples.size < 5) errorSamples.add(r.err);
  }
}, WARMUP);

lat.sort((x, y) => x - y);
firstLat.sort((x, y) => x - y);
thenLat.sort((x, y) => x - y);
const pctOf = (xs, p) => (xs.length ? xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)] : null);
const pct = (p) => pctOf(lat, p);
const r2 = (x) => (x == null ? null : Math.round(x * 100) / 100);
const out = {
  label: a.label ?? null,
  url: a.url,
  method: a.method,
  concurrency: C,
  users: USERS,
  requests: N,
  completed: lat.length,
  capped: lat.length < N,
  errors,
  error_samples: [...errorSamples],
  statuses,
  elapsed_s: r2(elapsed),
  rps: r2(lat.length / elapsed),
  p50_ms: r2(pct(50)),
  p90_ms: r2(pct(90)),
  p99_ms: r2(pct(99)),
  max_ms: r2(lat.at(-1)),
  mean_ms: r2(lat.reduce((s, x) => s + x, 0) / (lat.length || 1)),
  ...(a["then-url"]
    ? {
        then_statuses: thenStatuses,
        first_p50_ms: r2(pctOf(firstLat, 50)),
        first_p99_ms: r2(pctOf(firstLat, 99)),
        then_p50_ms: r2(pctOf(thenLat, 50)),
        then_p99_ms: r2(pctOf(thenLat, 99)),
      }
    : {}),
};
console.log(JSON.stringify(out));
process.exit(errors > 0 && !a["allow-errors"] ? 1 : 0);
