// A bounded fuzz loop over the gateway's JSON routes (issue 8): 1,000+
// mutated bodies for POST /v1/chat/completions and /v1/images/generations,
// seeded (reproducible). Never a 5xx; a refused request changes nothing in
// the user's books (no hold, no count); nothing refused reaches the upstream.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { auth, signJwt, start, stop } from "../worker/harness.mjs";
import { startFakeUpstream } from "./fake-upstream.mjs";

const NOW_S = Math.floor(Date.now() / 1000);
const FREE = "meta-llama/llama-3.3-8b-instruct:free";
const N = 1200;
const DEADLINE_MS = 120_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const CONFIG = {
  version: 1,
  locale: "en",
  models: [
    { id: FREE, free: true },
    { id: "openai/gpt-image-1", free: false, image_usd: 0.04 },
  ],
  plans: [
    {
      id: "gw",
      active: true,
      tier: 1,
      models: ["*"],
      limits: [
        { metric: "tokens", window: "day", max: 1e12 },
        { metric: "messages", window: "day", max: 1e9 },
        { metric: "images", window: "day", max: 1e9 },
        { metric: "cost_usd", window: "subscription", max: 1e9 },
      ],
    },
  ],
};

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PNG_HEAD = "iVBORw0KGgoAAAANSUhEUgAAB9AAAAfQCAYAAAA";
const WEIRD = [
  null, true, false, 0, -1, 1.5, 1e300, -1e300, 2 ** 53, "", "x", "🙂", "\u0000", "a".repeat(300), [], {}, [[]], { a: {} },
  "data:image/png;base64," + PNG_HEAD, "data:,", "data:application/pdf;base64,JVBERi0xLjQ=", "https://example.com/x.png",
  FREE, "openai/gpt-image-1", "openai/gpt-4o", "fail-500", "models", "provider",
];
const KEYS = [
  "model", "messages", "max_tokens", "max_completion_tokens", "n", "stream", "stream_options", "tools", "tool_choice",
  "temperature", "prompt", "size", "models", "provider", "plugins", "route", "modalities", "audio", "zzz", "__proto__",
  "content", "role", "type", "image_url", "input_audio", "file", "file_data", "file_id", "url", "data", "include_usage",
];

function validChat() {
  return {
    model: FREE,
    messages: [
      { role: "system", content: "be brief" },
      {
        role: "user",
        content: [
          { type: "text", text: "what is this?" },
          { type: "image_url", image_url: { url: "data:image/png;base64," + PNG_HEAD } },
        ],
      },
    ],
    max_tokens: 5,
  };
}

function validImage() {
  return { model: "openai/gpt-image-1", prompt: "a cat", n: 1, size: "1024x1024" };
}

/** One random mutation somewhere in `v` (a fresh copy). */
function mutate(v, r) {
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const walk = (x, depth) => {
    if (x === null || typeof x !== "object" || depth > 4 || r() < 0.3) {
      return pick([pick(WEIRD), x, [x], { [pick(KEYS)]: x }]);
    }
    if (Array.isArray(x)) {
      const y = [...x];
      const op = r();
      if (op < 0.2 || y.length === 0) y.push(pick(WEIRD));
      else if (op < 0.35) y.splice(Math.floor(r() * y.length), 1);
      else {
        const i = Math.floor(r() * y.length);
        y[i] = walk(y[i], depth + 1);
      }
      return y;
    }
    const y = { ...x };
    const keys = Object.keys(y);
    const op = r();
    if (op < 0.25 || keys.length === 0) y[pick(KEYS)] = pick(WEIRD);
    else if (op < 0.4) delete y[pick(keys)];
    else {
      const k = pick(keys);
      y[k] = walk(y[k], depth + 1);
    }
    return y;
  };
  return walk(structuredClone(v), 0);
}

let up;
let w;
before(async () => {
  up = await startFakeUpstream();
  w = await start({ vars: { UPSTREAM_URL: up.url } });
  const r = await w.json("/v1/admin/config", { method: "PUT", headers: auth.admin(), body: CONFIG });
  assert.equal(r.status, 200, r.text);
});
after(async () => {
  await stop();
  await up?.close();
});

test(`${N} mutated gateway bodies: never a 5xx, a refusal changes nothing`, async () => {
  const sub = `gw-fuzz-${process.pid}`;
  const claims = {
    sub,
    exp: NOW_S + 3600,
    subscription: { id: `s-${sub}`, plan: "gw", active: true, starts_at: NOW_S - 60, ends_at: null },
  };
  const jwt = signJwt({ ...claims, scope: "gateway" });
  const reader = signJwt(claims);
  const books = async () => {
    const u = await w.json("/v1/usage", { headers: { authorization: `Bearer ${reader}` } });
    assert.equal(u.status, 200, u.text);
    return JSON.stringify([u.body.limits.map((l) => l.used), u.body.holds]);
  };
  const r = rng(0x7011);
  const t0 = Date.now();
  const seen = { refused: 0, allowed: 0 };
  let done = 0;
  for (; done < N && Date.now() - t0 < DEADLINE_MS; done++) {
    const chat = r() < 0.7;
    let body = chat ? validChat() : validImage();
    const rounds = 1 + Math.floor(r() * 3);
    for (let i = 0; i < rounds; i++) body = mutate(body, r);
    // Now and then a body that is not JSON at all.
    const text = r() < 0.05 ? JSON.stringify(body).slice(0, -1) : JSON.stringify(body);
    const before = await books();
    const upstreamCalls = up.requests.length;
    const res = await w.fetch(chat ? "/v1/chat/completions" : "/v1/images/generations", {
      method: "POST",
      headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json" },
      body: text,
    });
    const answer = await res.text();
    const fromUpstream = up.requests.length > upstreamCalls;
    // A mutated model may be "fail-500": the fake upstream's 500, passed on.
    const upstreamFailed = fromUpstream && up.requests.at(-1).status >= 500;
    assert.ok(res.status < 500 || upstreamFailed, `#${done} ${res.status} ${answer.slice(0, 300)}\nbody: ${text.slice(0, 500)}`);
    if (res.status >= 400 && !fromUpstream) {
      seen.refused++;
      assert.equal(await books(), before, `#${done}: a refused request changed the books\nbody: ${text.slice(0, 500)}`);
    } else {
      seen.allowed++;
      // Its settlement runs after the answer: let it land before the next
      // request's books are read.
      for (let i = 0; i < 200 && JSON.parse(await books())[1].length > 0; i++) await sleep(10);
    }
  }
  assert.ok(done >= 1000, `only ${done} bodies in ${DEADLINE_MS} ms`);
  assert.ok(seen.refused > 100 && seen.allowed > 20, JSON.stringify(seen));
});
