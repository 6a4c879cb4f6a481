// The typed boundary (src/wasm/values.rs) against the JSON path it replaces:
// every answer and every error must be the same whichever way a value
// crosses. An object with a `toJSON` method always takes the JSON path
// (`JSON.stringify`, then serde_json), so `viaJson(x)` is `x` read the old
// way (its toJSON hands over a plain copy made from x's own JSON text, as
// stringify calls toJSON only once); the typed walker reads `x` itself. Thousands of generated
// snapshots, subscriptions and actions, most of them broken on purpose
// (wrong types, lone surrogates, NULs, -0, integers past 2^53, BigInt,
// class instances, extra and missing fields), are compared both ways,
// answer text (key order included) or error message and problems.
import { test } from "node:test";
import assert from "node:assert/strict";
import { pkg, config, NOW, premium, free } from "./fixtures.mjs";

const { Tollgate } = pkg;
const viaJson = (x) => ({ toJSON: () => JSON.parse(JSON.stringify(x)) });

/** A `GET /v1/usage` body for the premium plan of tests/pkg/config.json. */
const snapshot = () => ({
  subscription: { ...premium },
  plan: "premium",
  as_of: "2026-11-23T18:39:00Z",
  limits: [
    { metric: "tokens", scope: "all", window: "1h", limit: 20000, used: 12000, remaining: 8000, resets_at: "2026-11-23T19:22:00Z" },
    { metric: "tokens", scope: "all", window: "day", limit: 100000, used: 30000, remaining: 70000, resets_at: "2026-11-23T20:30:00Z" },
    { metric: "tokens", scope: "all", window: "subscription", limit: 2000000, used: 30000, remaining: 1970000, resets_at: null },
    { metric: "tokens", scope: "free", window: "subscription", limit: 100000, used: 900, remaining: 99100, resets_at: null },
    { metric: "messages", scope: "free", window: "month", limit: 300, used: 2, remaining: 298, resets_at: "2026-11-30T20:30:00Z" },
    { metric: "images", scope: "all", window: "day", limit: 10, used: 9, remaining: 1, resets_at: "2026-11-23T20:30:00Z" },
    { metric: "images", scope: "all", window: "week", limit: 50, used: 9, remaining: 41, resets_at: "2026-11-27T20:30:00Z" },
    { metric: "cost_usd", scope: "all", window: "subscription", limit: 5, used: 4.199871, remaining: 0.800129, resets_at: null },
    { metric: "files", scope: "all", window: "day", limit: 20, used: 3, remaining: 17, resets_at: "2026-11-23T20:30:00Z" },
    { chat_id: "chat-1", metric: "files", scope: "all", window: "chat", limit: 5, used: 5, remaining: 0, resets_at: null },
    { chat_id: null, metric: "files", scope: "all", window: "chat", limit: 5, used: 0, remaining: 5, resets_at: null },
  ],
  holds: [{ id: "h1", type: "message", model: "openai/gpt-4o-mini", created_at: "2026-11-23T18:38:00Z", expires_at: "2026-11-23T18:43:00Z" }],
  grants: [],
});

const actions = [
  { type: "message", model: "openai/gpt-4o-mini", input_tokens: 1200, max_output_tokens: 800 },
  { type: "message", model: "openai/gpt-4o-mini", input_tokens: 1200, max_output_tokens: 800, chat_id: "chat-1" },
  { type: "message", model: "openai/gpt-4o", input_tokens: 9000, max_output_tokens: 800 },
  { type: "image", model: "openai/gpt-image-1", count: 2 },
  { type: "upload", chat_id: "chat-1", files: [{ name: "a.pdf", size: 1000 }] },
  { type: "upload", chat_id: "chat-2", files: [{ name: "a.png", size: 1000, type: "image/png" }] },
];

// A small seeded generator: the same cases every run.
let seed = 0x2545f491;
const rand = () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];

class Box { constructor() { this.n = 1; } }
const odd = () => pick([
  null, undefined, "", "x", "day", "1h", "all", "free", "tokens", "cost_usd", "chat", "2026-11-23T20:30:00Z", "2026-11-23T18:00:00Z",
  "not a date", "\uD800", "a\uDC00b", "a\0b", "\0", "دوازده", "😀", "e\u0301",
  0, -0, 1, 7, 0.5, 1e-7, 4.999871, -1, -0.5, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 1e21, 2 ** 64, NaN, Infinity, -Infinity,
  true, false, {}, [], [1, "a"], { a: 1 }, 10n, new Date(0), new Number(3), new Box(), Object.create(null),
  () => 1, Symbol("s"),
]);

/** A copy of `x` with one thing changed somewhere (a field set, removed or added). */
function mutate(x, depth = 0) {
  if (x === null || typeof x !== "object") return odd();
  const copy = Array.isArray(x) ? [...x] : { ...x };
  const keys = Object.keys(copy);
  const r = rand();
  if (keys.length && r < 0.55) {
    const k = pick(keys);
    copy[k] = depth < 3 && rand() < 0.6 ? mutate(copy[k], depth + 1) : odd();
  } else if (keys.length && r < 0.7) {
    if (Array.isArray(copy)) copy.splice(Number(pick(keys)), 1);
    else delete copy[pick(keys)];
  } else if (r < 0.85) {
    if (Array.isArray(copy)) copy.push(odd());
    else copy[pick(["extra", "chat_id", "requested", "credits", "from_credits", "__proto__", "0", "toJSON"])] = odd();
  } else {
    // The same data in a container the walker must hand to the JSON path.
    return pick([Object.assign(new Box(), copy), Object.assign(Object.create(null), copy), { ...copy, toJSON: () => copy }]);
  }
  return copy;
}

/** The answer or the error of `f`, as comparable data. */
function outcome(f) {
  try {
    return { answer: JSON.stringify(f()) };
  } catch (e) {
    return { error: String(e.message), problems: e.problems ?? null };
  }
}

function same(what, f) {
  const typed = outcome(() => f(false));
  const json = outcome(() => f(true));
  assert.deepEqual(typed, json, what);
  return typed;
}

test("snapshots: typed and JSON paths give the same answers and errors", () => {
  const tg = new Tollgate(config);
  const other = new Tollgate(config);
  let errors = 0, answers = 0;
  for (let i = 0; i < 3000; i++) {
    let s = snapshot();
    for (let m = 1 + Math.floor(rand() * 3); m > 0; m--) s = mutate(s);
    const action = pick(actions);
    const r = same(`snapshot case ${i}: ${String(JSON.stringify(s, (k, v) => (typeof v === "bigint" ? `${v}n` : v)))}`,
      (json) => (json ? other : tg).check(json ? viaJson(s) : s, premium, action, NOW));
    if (r.error) errors++; else answers++;
    if (i % 10 === 0) {
      same(`status ${i}`, (json) => (json ? other : tg).status(json ? viaJson(s) : s, premium, NOW));
    }
  }
  // Both kinds were exercised.
  assert.ok(errors > 300 && answers > 300, `errors ${errors}, answers ${answers}`);
});

test("actions and subscriptions: typed and JSON paths give the same answers and errors", () => {
  const tg = new Tollgate(config);
  const s = snapshot();
  let errors = 0;
  for (let i = 0; i < 3000; i++) {
    let a = pick(actions);
    for (let m = Math.floor(rand() * 3); m > 0; m--) a = mutate(a);
    let sub = pick([premium, free]);
    if (rand() < 0.2) sub = mutate(sub);
    const r = same(`action case ${i}`, (json) => tg.check(s, json ? viaJson(sub) : sub, json ? viaJson(a) : a, NOW));
    if (r.error) errors++;
    same(`prepared ${i}`, (json) => tg.prepare(s, premium).check(json ? viaJson(a) : a, NOW));
  }
  assert.ok(errors > 300, `errors ${errors}`);
});

test("a config crosses typed with the same problems as JSON", () => {
  for (let i = 0; i < 300; i++) {
    let c = structuredClone(config);
    for (let m = 1 + Math.floor(rand() * 2); m > 0; m--) c = mutate(c);
    same(`config case ${i}`, (json) => new Tollgate(json ? viaJson(c) : c).check(null, premium, actions[0], NOW));
  }
});

test("a plain snapshot and action are read once, by the typed walker (no fallback to JSON)", () => {
  const tg = new Tollgate(config);
  const reads = { limit: 0, action: 0 };
  const s = snapshot();
  Object.defineProperty(s.limits[0], "used", { get: () => (reads.limit++, 12000), enumerable: true });
  const a = { type: "message", model: "openai/gpt-4o-mini", max_output_tokens: 800 };
  Object.defineProperty(a, "input_tokens", { get: () => (reads.action++, 1200), enumerable: true });
  const d = tg.check(s, premium, a, NOW);
  assert.equal(d.allowed, true);
  // JSON.stringify after a give-up would have read each getter a second time.
  assert.deepEqual(reads, { limit: 1, action: 1 });
});

test("a plain decision has the key order of the JSON path's decisions", () => {
  const tg = new Tollgate(config);
  const allowed = tg.check(snapshot(), premium, actions[0], NOW);
  const plainKeys = ["allowed", "status", "code", "message", "retry_after_s", "violations", "limits", "warnings"];
  assert.deepEqual(Object.keys(allowed), plainKeys);
  assert.equal(allowed.retry_after_s, null);
  // A refusal has violations, so it goes out as JSON text: the same keys
  // in the same order, whatever else it carries.
  const refused = tg.check(snapshot(), premium, actions[2], NOW);
  assert.equal(refused.allowed, false);
  assert.deepEqual(Object.keys(refused).filter((k) => plainKeys.includes(k)), plainKeys);
  // The message is the same string each time, and a new one after a change.
  const en = tg.check(snapshot(), premium, actions[0], NOW, { locale: "en" });
  assert.notEqual(en.message, allowed.message);
  assert.equal(tg.check(snapshot(), premium, actions[0], NOW).message, allowed.message);
});
