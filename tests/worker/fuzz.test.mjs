// A bounded fuzz loop over HTTP (issue 8): mutated bodies on every JSON
// route — check, reserve, commit, release, redeem, the admin config PUT,
// reset and discount PUT, and the gateway's chat and images routes — against
// the built Worker in workerd. Properties, for every request:
//
//   * never a 5xx (nothing a client sends crashes the Worker);
//   * a refused request (4xx) leaves the user's books — the admin view's
//     `limits`, `holds` and `closed_holds` — exactly as they were (and the
//     config, and the discount code, for the admin routes).
//
// Mutations start from valid bodies: a value replaced by an odd one (edge
// numbers, control characters, deep nesting), a key dropped or added, a key
// repeated in the text, bytes flipped, inserted, deleted or cut. The PRNG is
// seeded (FUZZ_SEED=<n> replays a run; the seed is printed); about 2,000
// bodies by default (FUZZ_SCALE multiplies them). The request
// clock is frozen (x-tollgate-now) so that only requests move the books.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { start, stop } from "./harness.mjs";
import { startFakeUpstream } from "../gateway/fake-upstream.mjs";
import { auth, onePlanConfig } from "./util.mjs";

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
/** Bodies per route are multiplied by this (FUZZ_SCALE=10 for a long hunt). */
const SCALE = Number(process.env.FUZZ_SCALE ?? 2);
const NOW_MS = Date.now();
const NOW_S = Math.floor(NOW_MS / 1000);
const CLOCK = { "x-tollgate-now": String(NOW_MS) };

/** mulberry32: a small seeded PRNG. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/**
 * The random source of the route being fuzzed: each route draws from its own
 * PRNG (seeded from SEED and its name), so a seed replays the same bodies
 * however the routes, which run side by side, interleave.
 */
let rand = prng(SEED);
const int = (n) => Math.floor(rand() * n);
const pick = (a) => a[int(a.length)];
/** Runs `f` with `r` as the random source (synchronously: no await inside). */
function withRand(r, f) {
  const saved = rand;
  rand = r;
  try {
    return f();
  } finally {
    rand = saved;
  }
}
const seedOf = (name) => [...name].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, SEED >>> 0);

const CONFIG = onePlanConfig(
  [
    { metric: "tokens", window: "day", max: 1_000_000 },
    { metric: "messages", window: "1h", max: 500 },
    { metric: "images", window: "day", max: 50 },
    { metric: "files", window: "chat", max: 20 },
    { metric: "cost_usd", window: "subscription", max: 100 },
  ],
  {},
  {
    models: ["*"],
    max_concurrent: 50,
    files: { max_file_bytes: 1_000_000, allowed_extensions: ["pdf", "txt", "png"] },
  },
);
CONFIG.models.push({ id: "openai/gpt-image-1", free: false, image_usd: 0.04 });

const SUB = { id: "fuzz-sub", plan: "p", active: true, starts_at: NOW_S - 86400, ends_at: NOW_S + 30 * 86400 };
const token = (user, scope) => ({
  ...auth.user({ sub: user, exp: NOW_S + 3600, scope, subscription: SUB }),
  ...CLOCK,
});

const ODD = [
  null, true, false, 0, -1, 1.5, 1e300, -1e300, 2 ** 53, 2 ** 53 - 1, 1e-7, -0,
  "", "x".repeat(300), "a\u0000b", "\u202egpj.exe", "2026-13-45T99:99:99Z", "tokens", "day", "*",
  "../../etc", "٣", [], {}, [[[[[]]]]], { a: { b: { c: {} } } }, [1, "a", null], { type: "message" },
];
const KEYS = [
  "type", "model", "input_tokens", "max_output_tokens", "output_tokens", "cost_usd", "images", "files",
  "count", "chat_id", "kind", "name", "size", "head", "plans", "limits", "metric", "window", "max", "scope",
  "id", "tier", "active", "version", "metrics", "windows", "max_uses", "expires_at", "messages", "n",
  "stream", "prompt", "content", "role", "models", "ttl_s", "__proto__", "constructor", "zz",
];

/** Every node of a JSON value as [parent, key] pairs (the root as [null, null]). */
function nodes(v, parent = null, key = null, out = []) {
  out.push([parent, key]);
  if (Array.isArray(v)) v.forEach((c, i) => nodes(c, v, i, out));
  else if (v && typeof v === "object") for (const k of Object.keys(v)) nodes(v[k], v, k, out);
  return out;
}

/** One structural edit somewhere in `doc` (returns the new document). */
function structural(doc) {
  const [parent, key] = pick(nodes(doc));
  const target = parent === null ? doc : parent[key];
  const op = int(3);
  if (op === 0) {
    // Replace with an odd value.
    const v = structuredClone(pick(ODD));
    if (parent === null) return v;
    parent[key] = v;
  } else if (op === 1 && parent !== null) {
    // Remove.
    if (Array.isArray(parent)) parent.splice(key, 1);
    else delete parent[key];
  } else if (target && typeof target === "object") {
    // Add.
    const v = structuredClone(pick(ODD));
    if (Array.isArray(target)) target.push(v);
    else Object.defineProperty(target, pick(KEYS), { value: v, enumerable: true, writable: true, configurable: true });
  }
  return doc;
}

/** Text edits: a repeated key, or bytes flipped, inserted, deleted or cut. */
function textual(text) {
  const op = int(5);
  if (op === 0) {
    // Repeat a key the text already has, at its first occurrence.
    const m = /"([^"\\]{1,24})":/.exec(text);
    if (m) return text.replace(m[0], `${m[0]}${JSON.stringify(pick(ODD))},"${m[1]}":`);
  }
  const bytes = Buffer.from(text, "utf8");
  const at = int(bytes.length + 1);
  const b = pick([...Buffer.from('{}[],:"\\0-+.eE '), 0x00, 0xff, 0xc3, int(256)]);
  if (op === 1 && bytes.length) bytes[Math.min(at, bytes.length - 1)] = b;
  if (op === 2) return Buffer.concat([bytes.subarray(0, at), Buffer.from([b]), bytes.subarray(at)]);
  if (op === 3) return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + int(8))]);
  if (op === 4) return bytes.subarray(0, at);
  return bytes;
}

/** A mutated body from a valid one: text (string) or bytes (Buffer). */
function mutate(valid) {
  let doc = structuredClone(valid);
  const structuralEdits = int(4);
  for (let i = 0; i < structuralEdits; i++) doc = structural(doc);
  let body = JSON.stringify(doc) ?? "null";
  if (structuralEdits === 0 || rand() < 0.35) {
    const textEdits = 1 + int(3);
    for (let i = 0; i < textEdits; i++) body = textual(Buffer.isBuffer(body) ? body.toString("latin1") : body);
  }
  return body;
}

let w;
let up;
before(async () => {
  up = await startFakeUpstream();
  w = await start({ vars: { UPSTREAM_URL: up.url } });
  const r = await w.json("/v1/admin/config", { method: "PUT", headers: auth.admin(), body: CONFIG });
  assert.equal(r.status, 200, r.text);
  console.log(`# fuzz seed ${SEED} (FUZZ_SEED=${SEED} replays it)`);
});
after(async () => {
  await stop();
  await up?.close();
});

async function send(path, method, headers, body) {
  const res = await w.fetch(path, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, text };
}

async function books(user) {
  const r = await w.json(`/v1/admin/users/${user}`, { headers: { ...auth.admin(), ...CLOCK } });
  assert.equal(r.status, 200, r.text);
  const { limits, holds, closed_holds } = r.body;
  return JSON.stringify({ limits, holds, closed_holds });
}

/** Waits until the user's books stop moving (a gateway call settles after its answer). */
async function settledBooks(user) {
  let last = await books(user);
  for (let i = 0; i < 40; i++) {
    const e = (await w.json(`/v1/admin/users/${user}`, { headers: { ...auth.admin(), ...CLOCK } })).body;
    const now = JSON.stringify({ limits: e.limits, holds: e.holds, closed_holds: e.closed_holds });
    if (e.holds.length === 0 && now === last) return now;
    last = now;
    await new Promise((r) => setTimeout(r, 25));
  }
  return last;
}

const MESSAGE = { type: "message", model: "free/model:free", input_tokens: 100, max_output_tokens: 50, chat_id: "c1", kind: "send" };
const UPLOAD = { type: "upload", chat_id: "c2", files: [{ name: "a.pdf", size: 1000, type: "application/pdf", head: "JVBERi0xLjcKJeLjz9MK" }] };

/**
 * One fuzzed route: `n` mutated bodies, sequential, on its own user.
 * `prepare(user)` runs before each body (e.g. opens the hold a commit
 * settles) and returns the path and headers; `extra()` is compared besides
 * the books (e.g. a code's state).
 */
async function fuzzRoute({ name, n, seeds, prepare, method = "POST", extra = async () => "", gateway = false }) {
  const user = `fuzz-${name}-${SEED}`;
  const stats = { sent: 0, refused: 0, accepted: 0 };
  const mine = prng(seedOf(name));
  // The admin view lists limits once the user's object has seen a token.
  assert.equal((await w.json("/v1/usage", { headers: token(user, "usage") })).status, 200);
  let lastAccepted = false;
  for (let i = 0; i < n; i++) {
    const { path, headers } = await prepare(user, mine);
    const base = lastAccepted && gateway ? await settledBooks(user) : await books(user);
    const baseExtra = await extra();
    const body = withRand(mine, () => mutate(pick(seeds)));
    const r = await send(path, method, headers, body);
    stats.sent++;
    const shown = Buffer.isBuffer(body) ? body.toString("latin1") : body;
    assert.ok(r.status < 500, `${name} #${i}: ${r.status} for ${JSON.stringify(shown).slice(0, 300)}: ${r.text.slice(0, 300)}`);
    if (r.status >= 400) {
      stats.refused++;
      const now = await books(user);
      assert.equal(now, base, `${name} #${i}: a refused request (${r.status} ${r.text.slice(0, 200)}) changed the books: ${shown.slice(0, 300)}`);
      assert.equal(await extra(), baseExtra, `${name} #${i}: a refused request changed the state`);
    } else {
      stats.accepted++;
    }
    lastAccepted = r.status < 400;
  }
  return stats;
}

test("≥ 2,000 mutated bodies on every JSON route: no 5xx, refused requests change nothing", { timeout: 120_000 }, async () => {
  const t0 = Date.now();
  // One code redeemed, another changed by the admin (the routes run side by side).
  const code = `FUZZ-${SEED}`;
  const adminCode = `FUZZ-ADMIN-${SEED}`;
  for (const c of [code, adminCode]) {
    const r = await w.json(`/v1/admin/discounts/${c}`, { method: "PUT", headers: auth.admin(), body: { max_uses: 100000 } });
    assert.equal(r.status, 201, r.text);
  }
  const state = (c) => async () => (await w.json(`/v1/admin/discounts/${c}`, { headers: auth.admin() })).text;
  const codeState = state(code);
  const configState = async () => (await w.json("/v1/admin/config", { headers: auth.admin() })).text;

  /** Opens a hold for `user` when it has none, and answers its id. */
  async function openHold(user) {
    const h = token(user, "usage reserve settle");
    const e = (await w.json(`/v1/admin/users/${user}`, { headers: { ...auth.admin(), ...CLOCK } })).body;
    if (e.holds.length) return e.holds[0].id;
    let r = await w.json("/v1/reserve", { method: "POST", headers: { ...h, "idempotency-key": `open-${Math.random()}` }, body: MESSAGE });
    if (r.status === 429) {
      // An accepted commit of huge figures used the quota up: start afresh.
      const reset = await w.json(`/v1/admin/users/${user}/reset`, { method: "POST", headers: { ...auth.admin(), ...CLOCK }, body: {} });
      assert.equal(reset.status, 200, reset.text);
      r = await w.json("/v1/reserve", { method: "POST", headers: { ...h, "idempotency-key": `open-${Math.random()}` }, body: MESSAGE });
    }
    assert.equal(r.status, 200, r.text);
    return r.body.hold.id;
  }
  const api = (scope) => (user) => token(user, scope);
  const routes = [
    { name: "check", n: 110 * SCALE, seeds: [MESSAGE, UPLOAD, { type: "image", model: "openai/gpt-image-1", count: 1 }, { type: "discount", code }],
      prepare: async (u) => ({ path: "/v1/check?explain=1", headers: api("usage")(u) }) },
    { name: "reserve", n: 110 * SCALE, seeds: [MESSAGE, UPLOAD, { type: "image", model: "openai/gpt-image-1", count: 1 }],
      prepare: async (u, r) => ({ path: "/v1/reserve", headers: { ...api("reserve")(u), "idempotency-key": `k-${Math.floor(r() * 1e9)}` } }) },
    { name: "commit", n: 110 * SCALE, seeds: [{ input_tokens: 80, output_tokens: 20 }, { input_tokens: 1, output_tokens: 1, cost_usd: 0.01, images: 0, files: 0 }],
      prepare: async (u) => ({ path: `/v1/holds/${await openHold(u)}/commit`, headers: api("settle")(u) }) },
    { name: "release", n: 80 * SCALE, seeds: [{}],
      prepare: async (u) => ({ path: `/v1/holds/${await openHold(u)}/release`, headers: api("settle")(u) }) },
    { name: "redeem", n: 80 * SCALE, seeds: [{}], extra: codeState,
      prepare: async (u, r) => ({ path: `/v1/discounts/${code}/redeem`, headers: { ...api("reserve")(u), "idempotency-key": `r-${Math.floor(r() * 1e9)}` } }) },
    { name: "reset", n: 100 * SCALE, seeds: [{}, { metrics: ["tokens"] }, { windows: ["day", "1h"] }, { metrics: ["messages"], windows: ["1h"] }],
      prepare: async (u) => {
        await openHold(u);
        return { path: `/v1/admin/users/${u}/reset`, headers: { ...auth.admin(), ...CLOCK } };
      } },
    { name: "discount-put", n: 100 * SCALE, method: "PUT", extra: state(adminCode),
      seeds: [{ max_uses: 100000 }, { max_uses: 5, max_uses_per_user: 1, expires_at: "2099-01-01T00:00:00Z", plans: ["p"] }],
      prepare: async () => ({ path: `/v1/admin/discounts/${adminCode}`, headers: auth.admin() }) },
    { name: "chat", n: 110 * SCALE, gateway: true,
      seeds: [
        { model: "free/model:free", messages: [{ role: "user", content: "hi" }], max_tokens: 20 },
        { model: "paid/model", messages: [{ role: "system", content: "s" }, { role: "user", content: [{ type: "text", text: "x" }] }], stream: true, max_tokens: 5 },
      ],
      prepare: async (u) => ({ path: "/v1/chat/completions", headers: api("gateway")(u) }) },
    { name: "images", n: 80 * SCALE, gateway: true,
      seeds: [{ model: "openai/gpt-image-1", prompt: "a cat", n: 1, size: "1024x1024" }],
      prepare: async (u) => ({ path: "/v1/images/generations", headers: api("gateway")(u) }) },
  ];
  const results = await Promise.all(routes.map((r) => fuzzRoute(r)));
  // The config last, alone: an accepted config changes every user's view.
  const cfgUser = "fuzz-config-watch";
  const cfg = await (async () => {
    const stats = { sent: 0, refused: 0, accepted: 0 };
    assert.equal((await w.json("/v1/usage", { headers: token(cfgUser, "usage") })).status, 200);
    await openHold(cfgUser);
    const mine = prng(seedOf("config"));
    for (let i = 0; i < 120 * SCALE; i++) {
      const base = await books(cfgUser);
      const baseCfg = await configState();
      const body = withRand(mine, () => mutate(CONFIG));
      const r = await send("/v1/admin/config", "PUT", auth.admin(), body);
      stats.sent++;
      assert.ok(r.status < 500, `config #${i}: ${r.status}: ${r.text.slice(0, 300)}`);
      if (r.status >= 400) {
        stats.refused++;
        assert.equal(await configState(), baseCfg, `config #${i}: a refused config changed the config`);
        assert.equal(await books(cfgUser), base, `config #${i}: a refused config changed the books`);
      } else {
        stats.accepted++;
        const back = await w.json("/v1/admin/config", { method: "PUT", headers: auth.admin(), body: CONFIG });
        assert.equal(back.status, 200, back.text);
      }
    }
    return stats;
  })();
  const all = [...routes.map((r, i) => [r.name, results[i]]), ["config", cfg]];
  const sent = all.reduce((s, [, r]) => s + r.sent, 0);
  for (const [name, r] of all) {
    console.log(`# ${name}: ${r.sent} sent, ${r.refused} refused, ${r.accepted} accepted`);
    assert.ok(r.refused > 0, `${name}: the mutations never produced a refusal`);
  }
  console.log(`# ${sent} bodies in ${Date.now() - t0} ms`);
  assert.ok(SCALE < 1 || sent >= 1000, `${sent} bodies`);
});
