// Gateway integrity (issue 8, SPEC §8 revision 2): what a hostile client of
// the gateway tried, and must no longer get. Each test is an attack that
// succeeded against the gateway of revision 1; the official `openai` npm
// client talks to the built Worker (miniflare), which forwards to the fake
// upstream (fake-upstream.mjs), which records what it receives.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { auth, signJwt, start, stop } from "../worker/harness.mjs";
import { startFakeUpstream } from "./fake-upstream.mjs";

const NOW_S = Math.floor(Date.now() / 1000);
const FREE = "meta-llama/llama-3.3-8b-instruct:free";
// Short, so the tests outlive it; 3 s leaves room for a slow extension on a
// loaded machine (one is sent every second).
const HOLD_TTL_S = 3;

/** Every field SPEC §8 forwards for chat. */
const CHAT_FIELDS = [
  "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stop", "stream",
  "stream_options", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "seed",
  "user", "response_format", "tools", "tool_choice", "parallel_tool_calls", "reasoning_effort",
];
/** Fields that could change the model or add billed work (SPEC §8). */
const REFUSED = ["models", "route", "provider", "plugins", "transforms", "modalities", "web_search_options", "prediction", "audio"];
/** What the test config opts in with gateway.allow_fields. */
const ALLOWED = ["fake", "provider"];

const CONFIG = {
  version: 1,
  locale: "en",
  hold_ttl_s: HOLD_TTL_S,
  models: [
    { id: "openai/gpt-4o-mini", free: false, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.6 },
    { id: "openai/gpt-4o", free: false, input_usd_per_mtok: 2.5, output_usd_per_mtok: 10 },
    { id: FREE, free: true },
    { id: "openai/gpt-image-1", free: false, image_usd: 0.04 },
    { id: "black-forest-labs/flux-schnell", free: false, image_usd: 0.003 },
  ],
  plans: [
    {
      id: "gw",
      active: true,
      tier: 1,
      models: ["*:free", "openai/gpt-4o-mini", "openai/gpt-image-1", "black-forest-labs/*"],
      limits: [
        { metric: "tokens", window: "day", max: 1000000 },
        { metric: "tokens", scope: "free", window: "day", max: 1000000 },
        { metric: "tokens", scope: "paid", window: "day", max: 1000000 },
        { metric: "messages", window: "day", max: 1000 },
        { metric: "messages", scope: "free", window: "day", max: 1000 },
        { metric: "messages", scope: "paid", window: "day", max: 1000 },
        { metric: "cost_usd", window: "subscription", max: 100 },
        { metric: "images", window: "day", max: 100 },
        { metric: "images", scope: "openai/gpt-image-1", window: "day", max: 2 },
      ],
      max_concurrent: 4,
    },
    {
      // No image model at all: an image call must be refused.
      id: "text-only",
      active: true,
      tier: 0,
      models: ["openai/gpt-4o-mini"],
      limits: [
        { metric: "tokens", window: "day", max: 100000 },
        { metric: "images", window: "day", max: 100 },
        { metric: "cost_usd", window: "subscription", max: 100 },
      ],
    },
  ],
  gateway: {
    allow_fields: ALLOWED,
    model_aliases: { "meta-llama/llama-3.3-8b-instruct": FREE },
  },
};

let up;
let w;
let seq = 0;

/** A fresh user: { sub, jwt (scope gateway), backend (scope "reserve settle"), client }. */
function user(plan = "gw") {
  const sub = `gwi-${process.pid}-${++seq}`;
  const claims = {
    sub,
    exp: NOW_S + 3600,
    subscription: { id: `sub-${sub}`, plan, active: true, starts_at: NOW_S - 60, ends_at: null },
  };
  const jwt = signJwt({ ...claims, scope: "gateway usage" }); // also reads its usage
  const backend = signJwt({ ...claims, scope: "reserve settle" });
  const client = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: jwt, maxRetries: 0 });
  return { sub, jwt, backend, client };
}

async function usage(jwt) {
  const r = await w.json("/v1/usage", { headers: { authorization: `Bearer ${jwt}` } });
  assert.equal(r.status, 200, r.text);
  return r.body;
}

function used(snap, metric, window, scope = "all") {
  const l = snap.limits.find((x) => x.metric === metric && x.window === window && x.scope === scope);
  assert.ok(l, `no ${metric}/${scope}/${window} limit in ${JSON.stringify(snap.limits)}`);
  return l.used;
}

const micros = (snap) => Math.round(used(snap, "cost_usd", "subscription") * 1e6);

async function settled(jwt, ms = 8000) {
  const t0 = Date.now();
  for (;;) {
    const snap = await usage(jwt);
    if (snap.holds.length === 0) return snap;
    if (Date.now() - t0 > ms) assert.fail(`holds still open after ${ms} ms: ${JSON.stringify(snap.holds)}`);
    await sleep(25);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const msg = (content) => [{ role: "user", content }];

/** The calls the fake received since `n`, to a path ending with `suffix`. */
const since = (n, suffix) => up.requests.slice(n).filter((r) => r.path.endsWith(suffix));

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

describe("gateway: only known fields are forwarded (SPEC §8)", () => {
  test("a free-model call carrying `models: [paid]` never reaches the upstream", async () => {
    const { client, jwt } = user();
    const n = up.requests.length;
    await assert.rejects(
      client.chat.completions.create({ model: FREE, messages: msg("hi"), models: ["openai/gpt-4o"] }),
      (e) => {
        assert.ok(e instanceof OpenAI.BadRequestError, `${e.constructor.name}: ${e.message}`);
        assert.equal(e.status, 400);
        assert.equal(e.code, "bad_request");
        assert.equal(e.type, "invalid_request_error");
        assert.equal(e.param, "models");
        assert.match(e.message, /models/);
        return true;
      },
    );
    assert.deepEqual(since(n, "/chat/completions"), [], "nothing was sent upstream");
    const snap = await usage(jwt);
    assert.deepEqual(snap.holds, []);
    assert.equal(used(snap, "messages", "day"), 0);
  });

  test("every billing/routing field and any unknown field answers 400 naming the field", async () => {
    const { client } = user();
    const n = up.requests.length;
    const values = {
      models: ["openai/gpt-4o"],
      route: "fallback",
      plugins: [{ id: "web" }],
      transforms: ["middle-out"],
      modalities: ["text", "image"],
      web_search_options: { search_context_size: "high" },
      prediction: { type: "content", content: "x" },
      audio: { voice: "alloy", format: "wav" },
      frobnicate: true,
    };
    for (const [field, value] of Object.entries(values)) {
      for (const stream of [false, true]) {
        await assert.rejects(
          client.chat.completions.create({ model: FREE, messages: msg("hi"), stream, [field]: value }),
          (e) => e.status === 400 && e.param === field && e.code === "bad_request",
          `${field} (stream ${stream})`,
        );
      }
    }
    // Images: the same rule.
    await assert.rejects(
      client.images.generate({ model: "openai/gpt-image-1", prompt: "a cat", provider: undefined, plugins: [{ id: "web" }] }),
      (e) => e.status === 400 && e.param === "plugins",
    );
    await assert.rejects(
      client.images.generate({ model: "openai/gpt-image-1", prompt: "a cat", stream: true }),
      (e) => e.status === 400 && e.param === "stream",
    );
    assert.deepEqual(since(n, ""), [], "nothing was sent upstream");
  });

  test("the upstream gets the allowlisted fields only; gateway.allow_fields opts a field in", async () => {
    const { client } = user();
    const n = up.requests.length;
    const r = await client.chat.completions.create({
      model: FREE,
      messages: msg("hi"),
      temperature: 0.3,
      seed: 7,
      max_tokens: 20,
      provider: { order: ["x"] }, // refused by default, allowed by this config
      fake: { chunks: 2 },
    });
    assert.equal(r.choices[0].message.content, "tok0 tok1 ");
    const [seen] = since(n, "/chat/completions");
    assert.deepEqual(seen.body.provider, { order: ["x"] });
    for (const k of Object.keys(seen.body)) {
      assert.ok(CHAT_FIELDS.includes(k) || ALLOWED.includes(k), `${k} reached the upstream`);
    }
    assert.equal(seen.body.temperature, 0.3);
    assert.equal(seen.body.seed, 7);
  });
});

describe("gateway: the answer is checked against the reserve", () => {
  test("a free reserve answered by a paid model is charged as that model (its scope, its prices)", async () => {
    const { client, jwt } = user();
    const n = up.requests.length;
    const r = await client.chat.completions.create({
      model: FREE,
      messages: msg("hello there"),
      max_tokens: 10,
      fake: { answer_model: "openai/gpt-4o", chunks: 4 },
    });
    assert.equal(r.model, "openai/gpt-4o");
    const [seen] = since(n, "/chat/completions");
    const snap = await settled(jwt);
    const tokens = seen.usage.prompt_tokens + seen.usage.completion_tokens;
    assert.equal(used(snap, "tokens", "day", "paid"), tokens, "charged to the paid scope");
    assert.equal(used(snap, "tokens", "day", "free"), 0, "not to the free scope");
    assert.equal(used(snap, "messages", "day", "paid"), 1);
    const price = Math.ceil((seen.usage.prompt_tokens * 2_500_000 + seen.usage.completion_tokens * 10_000_000) / 1e6);
    assert.equal(micros(snap), price, "at gpt-4o's prices");
  });

  test("the same in a stream", async () => {
    const { client, jwt } = user();
    const n = up.requests.length;
    const s = await client.chat.completions.create({
      model: FREE,
      messages: msg("hello there"),
      stream: true,
      max_tokens: 10,
      fake: { answer_model: "openai/gpt-4o", chunks: 3 },
    });
    for await (const _ of s);
    const [seen] = since(n, "/chat/completions");
    const snap = await settled(jwt);
    assert.equal(used(snap, "tokens", "day", "paid"), seen.usage.prompt_tokens + seen.usage.completion_tokens);
    assert.equal(used(snap, "tokens", "day", "free"), 0);
    assert.ok(micros(snap) > 0, "gpt-4o's prices apply");
  });

  test("a model the config does not know is charged as paid, at the upstream's reported cost", async () => {
    const { client, jwt } = user();
    await client.chat.completions.create({
      model: FREE,
      messages: msg("hi"),
      max_tokens: 10,
      fake: { answer_model: "mystery/model-x", cost: 0.0123 },
    });
    const snap = await settled(jwt);
    assert.equal(used(snap, "tokens", "day", "free"), 0);
    assert.ok(used(snap, "tokens", "day", "paid") > 0);
    assert.equal(micros(snap), 12300);
  });

  test("an alias (gateway.model_aliases) is the reserved model", async () => {
    const { client, jwt } = user();
    await client.chat.completions.create({
      model: FREE,
      messages: msg("hi"),
      max_tokens: 10,
      fake: { answer_model: "meta-llama/llama-3.3-8b-instruct" },
    });
    const snap = await settled(jwt);
    assert.ok(used(snap, "tokens", "day", "free") > 0);
    assert.equal(used(snap, "tokens", "day", "paid"), 0);
  });

  test("usage.cost counts for free models too", async () => {
    const { client, jwt } = user();
    await client.chat.completions.create({ model: FREE, messages: msg("hi"), max_tokens: 10, fake: { cost: 0.002 } });
    const s = await client.chat.completions.create({
      model: FREE,
      messages: msg("hi"),
      max_tokens: 10,
      stream: true,
      fake: { cost: 0.003 },
    });
    for await (const _ of s);
    const snap = await settled(jwt);
    assert.equal(micros(snap), 5000);
  });
});

describe("gateway: images name their model", () => {
  test("an image call without `model` is refused (no default): nothing upstream, nothing held", async () => {
    const { client, jwt } = user("text-only");
    const n = up.requests.length;
    await assert.rejects(client.images.generate({ prompt: "a cat", n: 3 }), (e) => {
      assert.equal(e.status, 400, e.message);
      assert.equal(e.param, "model");
      return true;
    });
    assert.deepEqual(since(n, "/images/generations"), []);
    const snap = await usage(jwt);
    assert.equal(used(snap, "images", "day"), 0);
  });

  test("with gateway.default_image_model the call is that model's: plan check, scope, cost", async () => {
    const cfg = structuredClone(CONFIG);
    cfg.gateway.default_image_model = "openai/gpt-image-1";
    let r = await w.json("/v1/admin/config", { method: "PUT", headers: auth.admin(), body: cfg });
    assert.equal(r.status, 200, r.text);
    try {
      // A plan without the default model: refused as any model outside the plan.
      const t = user("text-only");
      await assert.rejects(t.client.images.generate({ prompt: "a cat" }), (e) => {
        assert.equal(e.status, 403, e.message);
        assert.equal(e.code, "model_not_allowed");
        return true;
      });
      // A plan with it: the image is that model's (its scoped limit, its price) and the upstream is told so.
      const { client, jwt } = user();
      const n = up.requests.length;
      await client.images.generate({ prompt: "a cat", n: 2 });
      const [seen] = since(n, "/images/generations");
      assert.equal(seen.body.model, "openai/gpt-image-1");
      const snap = await settled(jwt);
      assert.equal(used(snap, "images", "day", "openai/gpt-image-1"), 2);
      assert.equal(micros(snap), 80000);
      await assert.rejects(client.images.generate({ prompt: "one more" }), (e) => e.status === 429);
    } finally {
      r = await w.json("/v1/admin/config", { method: "PUT", headers: auth.admin(), body: CONFIG });
      assert.equal(r.status, 200, r.text);
    }
  });

  test("config: default_image_model and alias targets must be known models", async () => {
    const cfg = structuredClone(CONFIG);
    cfg.gateway = { default_image_model: "nope/x", model_aliases: { a: "nope/y" }, allow_fields: [3], extra: 1 };
    const r = await w.json("/v1/admin/config", { method: "PUT", headers: auth.admin(), body: cfg });
    assert.equal(r.status, 400, r.text);
    const paths = r.body.errors.map((e) => e.path);
    for (const p of ["gateway.default_image_model", "gateway.model_aliases.a", "gateway.allow_fields[0]", "gateway.extra"]) {
      assert.ok(paths.includes(p), `${p} missing from ${JSON.stringify(paths)}`);
    }
  });
});

describe("gateway: long calls keep their hold; hold ids stay private", () => {
  test("no x-tollgate-hold header", async () => {
    const { client } = user();
    const { response } = await client.chat.completions
      .create({ model: FREE, messages: msg("hi"), max_tokens: 5 })
      .withResponse();
    assert.equal(response.headers.get("x-tollgate-hold"), null);
    const { data: s, response: r } = await client.chat.completions
      .create({ model: FREE, messages: msg("hi"), max_tokens: 5, stream: true })
      .withResponse();
    assert.equal(r.headers.get("x-tollgate-hold"), null);
    for await (const _ of s);
  });

  test("a stream that outlives hold_ttl_s, with 40 reserve + release cycles meanwhile, is committed exactly", async () => {
    const { client, jwt, backend } = user();
    const n = up.requests.length;
    const t0 = Date.now();
    // ~2.7 × hold_ttl_s of streaming, with a stall of 1.5 × hold_ttl_s where nothing arrives.
    const s = await client.chat.completions.create({
      model: FREE,
      messages: msg("a long story"),
      stream: true,
      max_tokens: 100,
      fake: { chunks: 12, delay_ms: 300, stall_after: 6, stall_ms: 1500 * HOLD_TTL_S },
    });
    const reading = (async () => {
      let text = "";
      for await (const c of s) text += c.choices[0]?.delta?.content ?? "";
      return text;
    })();
    const h = { authorization: `Bearer ${backend}`, "content-type": "application/json" };
    for (let i = 0; i < 40; i++) {
      const r = await w.json("/v1/reserve", {
        method: "POST",
        headers: { ...h, "idempotency-key": `cycle-${i}` },
        body: { type: "message", model: FREE, input_tokens: 1, max_output_tokens: 1 },
      });
      assert.equal(r.status, 200, r.text);
      const rel = await w.json(`/v1/holds/${r.body.hold.id}/release`, { method: "POST", headers: h, body: {} });
      assert.equal(rel.status, 200, rel.text);
    }
    // Past hold_ttl_s (and in the stall): the gateway's hold is still open.
    while (Date.now() - t0 < (HOLD_TTL_S + 1) * 1000) await sleep(100);
    const during = await usage(jwt);
    assert.equal(during.holds.length, 1, `the gateway's hold is open at ${Date.now() - t0} ms: ${JSON.stringify(during)}`);
    const text = await reading;
    assert.equal(text, Array.from({ length: 12 }, (_, i) => `tok${i} `).join(""));
    assert.ok(Date.now() - t0 > 2 * HOLD_TTL_S * 1000, "the call outlived its hold_ttl_s twice");
    const [seen] = since(n, "/chat/completions");
    const snap = await settled(jwt);
    assert.equal(
      used(snap, "tokens", "day", "free"),
      seen.usage.prompt_tokens + seen.usage.completion_tokens,
      "the stream's usage counted exactly (the 40 released holds count nothing)",
    );
  });

  test("a non-streamed call whose upstream takes 2 × hold_ttl_s keeps its hold", async () => {
    const { client, jwt } = user();
    const n = up.requests.length;
    const t0 = Date.now();
    const call = client.chat.completions.create({
      model: FREE,
      messages: msg("think hard"),
      max_tokens: 10,
      fake: { head_delay_ms: 2000 * HOLD_TTL_S },
    });
    while (Date.now() - t0 < (HOLD_TTL_S + 1) * 1000) await sleep(100);
    const during = await usage(jwt);
    assert.equal(during.holds.length, 1, "the hold is still open while the upstream thinks");
    await call;
    const [seen] = since(n, "/chat/completions");
    const snap = await settled(jwt);
    assert.equal(used(snap, "tokens", "day"), seen.usage.prompt_tokens + seen.usage.completion_tokens);
  });

  test("a client cannot settle the gateway's hold (403 hold_owned_by_gateway)", async () => {
    const { client, jwt, backend } = user();
    const s = await client.chat.completions.create({
      model: FREE,
      messages: msg("a story"),
      stream: true,
      max_tokens: 50,
      fake: { chunks: 8, delay_ms: 150 },
    });
    const [hold] = (await usage(jwt)).holds;
    assert.ok(hold?.id, "the hold is listed");
    const h = { authorization: `Bearer ${backend}`, "content-type": "application/json" };
    for (const [op, body] of [
      ["commit", { input_tokens: 0, output_tokens: 0 }],
      ["release", {}],
      ["extend", { ttl_s: 1 }],
    ]) {
      const r = await w.json(`/v1/holds/${hold.id}/${op}`, { method: "POST", headers: h, body });
      assert.equal(r.status, 403, `${op}: ${r.text}`);
      assert.equal(r.body.code, "hold_owned_by_gateway");
    }
    for await (const _ of s);
    const snap = await settled(jwt);
    assert.ok(used(snap, "tokens", "day") > 8, "the real usage counted, not the zeros");
  });
});

describe("gateway: a broken upstream looks broken", () => {
  for (const [name, fake] of [
    ["the upstream's connection breaks", { chunks: 10, break_after: 3, delay_ms: 20 }],
    ["the upstream ends without finish_reason or [DONE]", { chunks: 10, end_after: 3, delay_ms: 20 }],
  ]) {
    test(`${name} mid-stream: iterating raises, after the delivered text`, async () => {
      const { client, jwt } = user();
      const s = await client.chat.completions.create({ model: FREE, messages: msg("x"), stream: true, max_tokens: 100, fake });
      let text = "";
      await assert.rejects(
        (async () => {
          for await (const c of s) text += c.choices[0]?.delta?.content ?? "";
        })(),
        (e) => {
          assert.ok(e instanceof OpenAI.APIError, `${e.constructor.name}: ${e.message}`);
          assert.match(e.message, /upstream/i);
          return true;
        },
        "the truncated answer must not look complete",
      );
      assert.equal(text, "tok0 tok1 tok2 ");
      const snap = await settled(jwt);
      assert.equal(used(snap, "messages", "day"), 1, "delivered output is committed");
    });
  }
});
