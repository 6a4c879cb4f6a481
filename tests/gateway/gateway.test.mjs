// Gateway mode (issue #5): the official `openai` npm client against the
// built Worker (miniflare, tests/worker/harness.mjs), which forwards to the
// fake upstream (fake-upstream.mjs) on 127.0.0.1.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { auth, signJwt, start, stop, TEST_VARS } from "../worker/harness.mjs";
import { startFakeUpstream } from "./fake-upstream.mjs";

const NOW_S = Math.floor(Date.now() / 1000);

const CONFIG = {
  version: 1,
  timezone: "Asia/Tehran",
  locale: "fa",
  models: [
    { id: "openai/gpt-4o-mini", free: false, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.6 },
    { id: "openai/gpt-4o", free: false, input_usd_per_mtok: 2.5, output_usd_per_mtok: 10 },
    { id: "meta-llama/llama-3.3-8b-instruct:free", free: true },
    { id: "fail-500", free: true },
    { id: "openai/gpt-image-1", free: false, image_usd: 0.04 },
  ],
  plans: [
    {
      id: "gw",
      active: true,
      tier: 1,
      models: ["*:free", "openai/gpt-4o-mini", "fail-*", "openai/gpt-image-1"],
      limits: [
        { metric: "tokens", window: "day", max: 1000000 },
        { metric: "messages", window: "day", max: 1000 },
        { metric: "cost_usd", window: "subscription", max: 100 },
        { metric: "images", window: "day", max: 10 },
      ],
      max_concurrent: 2,
    },
    {
      id: "tiny",
      active: true,
      tier: 0,
      models: ["openai/gpt-4o-mini"],
      limits: [
        { metric: "tokens", window: "1h", max: 400 },
        { metric: "messages", window: "day", max: 50 },
      ],
      max_concurrent: 2,
    },
  ],
  messages: { fa: {}, en: {} },
  // The fake upstream's controls travel in the body's `fake` field, which
  // the gateway forwards only because the config opts it in.
  gateway: { allow_fields: ["fake"] },
};

let up;
let w;
let userSeq = 0;

/** A fresh user on `plan`: { jwt, client (openai, maxRetries 0), sub }. */
function user(plan = "gw", clientOpts = {}) {
  const sub = `gw-user-${process.pid}-${++userSeq}`;
  const jwt = signJwt({
    sub,
    exp: NOW_S + 3600,
    scope: "gateway usage", // a gateway client that also reads its own usage (GET /v1/usage)
    subscription: { id: `sub-${sub}`, plan, active: true, starts_at: NOW_S - 60, ends_at: null },
  });
  const client = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: jwt, maxRetries: 0, ...clientOpts });
  return { sub, jwt, client };
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

/** Waits until the user has no open hold (the settlement runs after the response). */
async function settled(jwt, ms = 5000) {
  const t0 = Date.now();
  for (;;) {
    const snap = await usage(jwt);
    if (snap.holds.length === 0) return snap;
    if (Date.now() - t0 > ms) assert.fail(`holds still open after ${ms} ms: ${JSON.stringify(snap.holds)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const msg = (content) => [{ role: "user", content }];

before(async () => {
  up = await startFakeUpstream({ comment: true });
  w = await start({ vars: { UPSTREAM_URL: up.url } });
  const r = await w.json("/v1/admin/config", { method: "PUT", headers: auth.admin(), body: CONFIG });
  assert.equal(r.status, 200, r.text);
});

after(async () => {
  await stop();
  await up?.close();
});

describe("gateway: chat completions", () => {
  test("non-streaming completion through the openai client", async () => {
    const { client, jwt } = user();
    const { data, response } = await client.chat.completions
      .create({ model: "openai/gpt-4o-mini", messages: msg("سلام! حالت چطوره؟") })
      .withResponse();
    assert.equal(data.object, "chat.completion");
    assert.equal(data.choices[0].message.content, "tok0 tok1 tok2 tok3 tok4 ");
    assert.equal(data.usage.completion_tokens, 5);
    assert.equal(response.headers.get("x-tollgate-hold"), null, "hold ids never reach clients");
    assert.match(response.headers.get("x-ratelimit-remaining-tokens") ?? "", /^\d+$/);
    const seen = up.last("/chat/completions");
    assert.equal(seen.headers.authorization, `Bearer ${TEST_VARS.UPSTREAM_API_KEY}`);
    assert.ok(!JSON.stringify(seen.headers).includes(jwt), "the client's JWT is not forwarded");
    // No maximum given: the gateway sends the one it reserved for.
    assert.equal(seen.body.max_tokens, 4096);
    assert.equal(seen.body.stream_options, undefined);
    const snap = await settled(jwt);
    assert.equal(used(snap, "tokens", "day"), seen.usage.prompt_tokens + seen.usage.completion_tokens);
    assert.equal(used(snap, "messages", "day"), 1);
  });

  test("streaming: chunks pass through; the usage chunk is asked for and stripped", async () => {
    const { client, jwt } = user();
    const stream = await client.chat.completions.create({
      model: "openai/gpt-4o-mini",
      messages: msg("stream please"),
      stream: true,
      max_tokens: 50,
    });
    let text = "";
    let chunks = 0;
    for await (const c of stream) {
      chunks++;
      assert.ok(c.usage == null, `no usage chunk reaches a client that did not ask: ${JSON.stringify(c)}`);
      text += c.choices[0]?.delta?.content ?? "";
    }
    assert.equal(text, "tok0 tok1 tok2 tok3 tok4 ");
    assert.equal(chunks, 7); // role, 5 content, finish
    const seen = up.last("/chat/completions");
    assert.equal(seen.body.stream_options?.include_usage, true, "the gateway asked for usage");
    assert.equal(seen.body.max_tokens, 50, "the client's maximum is kept");
    const snap = await settled(jwt);
    assert.equal(used(snap, "tokens", "day"), seen.usage.prompt_tokens + seen.usage.completion_tokens);
  });

  test("streaming with include_usage: the client gets the usage chunk", async () => {
    const { client } = user();
    const stream = await client.chat.completions.create({
      model: "meta-llama/llama-3.3-8b-instruct:free",
      messages: msg("hi"),
      stream: true,
      stream_options: { include_usage: true },
    });
    let last;
    for await (const c of stream) last = c;
    assert.deepEqual(last.choices, []);
    assert.equal(last.usage.completion_tokens, 5);
  });

  test("streaming is passed through as it arrives, not buffered", async () => {
    const { client } = user();
    const t0 = Date.now();
    const stream = await client.chat.completions.create({
      model: "openai/gpt-4o-mini",
      messages: msg("slow"),
      stream: true,
      fake: { chunks: 6, delay_ms: 150 },
    });
    const arrivals = [];
    for await (const c of stream) {
      if (c.choices[0]?.delta?.content) arrivals.push(Date.now() - t0);
    }
    assert.equal(arrivals.length, 6);
    // The first token arrives long before the last one was generated.
    assert.ok(arrivals[0] < arrivals[5] - 500, `arrivals ${arrivals}`);
  });

  test("settlement is exact: usage equals the upstream's reported usage, not the estimates", async () => {
    const { client, jwt } = user();
    up.reset();
    const prompts = ["short", "a somewhat longer question about the weather in Tehran today", "سلام دنیا ".repeat(20)];
    for (const [i, p] of prompts.entries()) {
      const stream = i % 2 === 1;
      const r = await client.chat.completions.create({
        model: "openai/gpt-4o-mini",
        messages: msg(p),
        stream,
        max_completion_tokens: 64,
        fake: { chunks: 3 + i, cost: 0.001 * (i + 1) },
      });
      if (stream) for await (const _ of r);
    }
    // Without usage.cost the core prices the tokens with the model's prices.
    await client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: msg("priced"), max_tokens: 10 });
    const snap = await settled(jwt);
    const calls = up.requests.filter((r) => r.path === "/v1/chat/completions");
    assert.equal(calls.length, 4);
    const tokens = calls.reduce((s, r) => s + r.usage.prompt_tokens + r.usage.completion_tokens, 0);
    assert.equal(used(snap, "tokens", "day"), tokens);
    assert.equal(used(snap, "messages", "day"), 4);
    const last = calls[3].usage;
    const priced = Math.ceil((last.prompt_tokens * 150000 + last.completion_tokens * 600000) / 1e6); // micro-dollars, rounded up
    const micros = 1000 + 2000 + 3000 + priced;
    assert.equal(Math.round(used(snap, "cost_usd", "subscription") * 1e6), micros);
  });

  test("a model outside the plan: 403 PermissionDeniedError", async () => {
    const { client, jwt } = user();
    const n = up.requests.length;
    await assert.rejects(
      client.chat.completions.create({ model: "openai/gpt-4o", messages: msg("hi") }),
      (e) => {
        assert.ok(e instanceof OpenAI.PermissionDeniedError, e.constructor.name);
        assert.equal(e.status, 403);
        assert.equal(e.code, "model_not_allowed");
        assert.equal(e.type, "permission_denied");
        assert.match(e.message, /[\u0600-\u06FF]/, "Persian by default");
        return true;
      },
    );
    assert.equal(up.requests.length, n, "nothing was sent upstream");
    assert.equal((await usage(jwt)).holds.length, 0);
  });

  test("after the token limit is used up: 429 RateLimitError with the Persian message", async () => {
    const { client, jwt } = user("tiny");
    const big = "hello world ".repeat(40); // ~100 prompt tokens at the fake
    let ok = 0;
    let denied;
    for (let i = 0; i < 10 && !denied; i++) {
      try {
        await client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: msg(big), max_tokens: 20 });
        ok++;
        await settled(jwt);
      } catch (e) {
        denied = e;
      }
    }
    assert.ok(ok >= 1, "some calls fit first");
    assert.ok(denied instanceof OpenAI.RateLimitError, `${denied?.constructor?.name}: ${denied?.message}`);
    assert.equal(denied.status, 429);
    assert.ok(["window_exceeded", "insufficient_budget"].includes(denied.code), denied.code);
    assert.equal(denied.type, "rate_limit_exceeded");
    assert.match(denied.error.message, /[\u0600-\u06FF]/, "Persian message");
    assert.match(denied.error.message, /توکن/);
    const h = denied.headers;
    assert.match(h.get("retry-after") ?? "", /^\d+$/);
    assert.equal(h.get("x-ratelimit-limit-tokens"), "400");
    assert.match(h.get("x-ratelimit-remaining-tokens") ?? "", /^\d+$/);
    assert.match(h.get("x-ratelimit-reset-tokens") ?? "", /^\d+s$/);
    assert.equal(h.get("x-ratelimit-limit-requests"), "50");
    assert.match(h.get("ratelimit-policy") ?? "", /tokens-1h/);

    // Accept-Language: en gives the English message.
    const en = new OpenAI({
      baseURL: `${w.url}/v1`,
      apiKey: jwt,
      maxRetries: 0,
      defaultHeaders: { "accept-language": "en" },
    });
    await assert.rejects(en.chat.completions.create({ model: "openai/gpt-4o-mini", messages: msg(big), max_tokens: 20 }), (e) => {
      assert.equal(e.status, 429);
      assert.doesNotMatch(e.error.message, /[\u0600-\u06FF]/);
      assert.match(e.error.message, /token/i);
      return true;
    });
  });

  test("upstream 500: the hold is released (usage unchanged, no open hold)", async () => {
    const { client, jwt } = user();
    const before = await usage(jwt);
    await assert.rejects(client.chat.completions.create({ model: "fail-500", messages: msg("boom") }), (e) => {
      assert.ok(e instanceof OpenAI.InternalServerError, e.constructor.name);
      assert.equal(e.status, 500);
      return true;
    });
    await assert.rejects(
      client.chat.completions.create({ model: "fail-500", messages: msg("boom"), stream: true }),
      (e) => e.status === 500,
    );
    const snap = await settled(jwt);
    assert.deepEqual(snap.holds, []);
    assert.equal(used(snap, "tokens", "day"), used(before, "tokens", "day"));
    assert.equal(used(snap, "messages", "day"), 0);
  });

  test("a stream that breaks before any token is released; after some tokens, committed", async () => {
    const { client, jwt } = user();
    await assert.rejects(async () => {
      const s = await client.chat.completions.create({
        model: "openai/gpt-4o-mini",
        messages: msg("x"),
        stream: true,
        fake: { error_event: true },
      });
      for await (const _ of s);
    });
    let snap = await settled(jwt);
    assert.equal(used(snap, "messages", "day"), 0, "an error event before any token releases");

    const s = await client.chat.completions.create({
      model: "openai/gpt-4o-mini",
      messages: msg("x"),
      stream: true,
      max_tokens: 100,
      fake: { chunks: 10, break_after: 3, delay_ms: 30 },
    });
    let got = 0;
    try {
      for await (const c of s) if (c.choices[0]?.delta?.content) got++;
    } catch {
      // the connection broke: expected
    }
    assert.equal(got, 3);
    snap = await settled(jwt);
    assert.equal(used(snap, "messages", "day"), 1, "output was delivered: committed");
    assert.ok(used(snap, "tokens", "day") >= 3);
  });

  test("client abort mid-stream: the upstream is stopped and what was delivered is committed", async () => {
    const { client, jwt } = user();
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      {
        model: "openai/gpt-4o-mini",
        messages: msg("tell me a long story"),
        stream: true,
        max_tokens: 100,
        fake: { chunks: 40, delay_ms: 40 },
      },
      { signal: controller.signal },
    );
    const seen = up.last("/chat/completions");
    const during = await usage(jwt);
    assert.equal(during.holds.length, 1);
    const reserved = used(during, "tokens", "day");
    const inputEstimate = reserved - 100;
    let got = 0;
    try {
      for await (const c of stream) {
        if (c.choices[0]?.delta?.content) got++;
        if (got === 3) controller.abort();
      }
    } catch (e) {
      assert.ok(e instanceof OpenAI.APIUserAbortError, e.message);
    }
    assert.equal(got, 3);
    const snap = await settled(jwt);
    // Give the upstream a moment to notice the abort, then check it stopped.
    await sleep(200);
    assert.ok(seen.aborted, "the gateway aborted the upstream call");
    assert.ok(seen.chunksSent < 40, `upstream sent ${seen.chunksSent} of 40`);
    const tokens = used(snap, "tokens", "day");
    // Policy: no usage came → input estimate + completion estimated from the
    // delivered text (at least one token per delivered chunk).
    assert.ok(tokens >= inputEstimate + got, `${tokens} < ${inputEstimate} + ${got}`);
    assert.ok(tokens <= inputEstimate + 3 * (seen.chunksSent + 1), `${tokens} vs ${inputEstimate} + ${seen.chunksSent} chunks`);
    assert.ok(tokens < reserved, "less than the reservation");
    assert.equal(used(snap, "messages", "day"), 1);
  });

  test("client gone before the upstream answered: JSON is still read and committed exactly", async () => {
    const { client, jwt } = user();
    const controller = new AbortController();
    const call = client.chat.completions.create(
      { model: "openai/gpt-4o-mini", messages: msg("slow answer"), max_tokens: 50, fake: { head_delay_ms: 400 } },
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(call, (e) => e instanceof OpenAI.APIUserAbortError);
    const seen = up.last("/chat/completions");
    const snap = await settled(jwt);
    assert.ok(seen.completed && !seen.aborted, "the upstream call ran to its end");
    assert.equal(used(snap, "tokens", "day"), seen.usage.prompt_tokens + seen.usage.completion_tokens);
    assert.equal(used(snap, "messages", "day"), 1);
  });

  test("client gone before a stream started: the upstream is stopped, the input estimate committed", async () => {
    const { client, jwt } = user();
    const controller = new AbortController();
    const call = client.chat.completions.create(
      { model: "openai/gpt-4o-mini", messages: msg("slow start"), stream: true, max_tokens: 50, fake: { head_delay_ms: 400, chunks: 20, delay_ms: 50 } },
      { signal: controller.signal },
    );
    // The hold is open while the upstream has not answered: it holds input + 50.
    let reserved;
    for (let i = 0; i < 50 && reserved === undefined; i++) {
      const s = await usage(jwt);
      if (s.holds.length === 1) reserved = used(s, "tokens", "day");
      else await sleep(5);
    }
    assert.ok(reserved > 50, `reserved ${reserved}`);
    controller.abort();
    await assert.rejects(call, (e) => e instanceof OpenAI.APIUserAbortError);
    const snap = await settled(jwt);
    await sleep(100);
    const seen = up.last("/chat/completions");
    assert.ok(seen.aborted, "the gateway aborted the upstream call");
    assert.ok(seen.chunksSent < 20, `upstream sent ${seen.chunksSent} of 20`);
    assert.equal(used(snap, "tokens", "day"), reserved - 50, "input estimate, no output");
    assert.equal(used(snap, "messages", "day"), 1);
  });

  test("concurrent streams against max_concurrent: the extra one gets concurrency_exceeded", async () => {
    const { client, jwt } = user(); // plan gw: max_concurrent 2
    const open = [];
    for (let i = 0; i < 2; i++) {
      open.push(
        await client.chat.completions.create({
          model: "openai/gpt-4o-mini",
          messages: msg(`stream ${i}`),
          stream: true,
          fake: { chunks: 8, delay_ms: 60 },
        }),
      );
    }
    await assert.rejects(
      client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: msg("third"), stream: true }),
      (e) => {
        assert.ok(e instanceof OpenAI.RateLimitError, e.constructor.name);
        assert.equal(e.code, "concurrency_exceeded");
        assert.match(e.error.message, /[\u0600-\u06FF]/);
        return true;
      },
    );
    for (const s of open) for await (const _ of s);
    const snap = await settled(jwt);
    assert.equal(used(snap, "messages", "day"), 2);
    // Once the streams are done, a new call fits again.
    const r = await client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: msg("again") });
    assert.equal(r.choices.length, 1);
  });

  test("bad requests and bad tokens answer in OpenAI's format", async () => {
    const { client } = user();
    await assert.rejects(client.chat.completions.create({ model: "openai/gpt-4o-mini", messages: [] }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, e.constructor.name);
      assert.equal(e.param, "messages");
      return true;
    });
    const anon = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: "not-a-jwt", maxRetries: 0 });
    await assert.rejects(anon.chat.completions.create({ model: "openai/gpt-4o-mini", messages: msg("hi") }), (e) => {
      assert.ok(e instanceof OpenAI.AuthenticationError, e.constructor.name);
      return true;
    });
    const upstreamKey = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: TEST_VARS.UPSTREAM_API_KEY, maxRetries: 0 });
    await assert.rejects(upstreamKey.models.list(), (e) => e.status === 401);
  });
});

describe("gateway: images and models", () => {
  test("images: one image action per call, count = n", async () => {
    const { client, jwt } = user();
    const r = await client.images.generate({ model: "openai/gpt-image-1", prompt: "a cat", n: 2 });
    assert.equal(r.data.length, 2);
    await client.images.generate({ model: "openai/gpt-image-1", prompt: "a dog", fake: { cost: 0.05 } });
    const snap = await settled(jwt);
    assert.equal(used(snap, "images", "day"), 3);
    // 2 × image_usd 0.04 (no usage.cost) + 0.05 reported.
    assert.equal(Math.round(used(snap, "cost_usd", "subscription") * 1e6), 80000 + 50000);
  });

  test("/v1/models lists only the models the plan allows", async () => {
    const { client } = user();
    const ids = [];
    for await (const m of client.models.list()) {
      assert.equal(m.object, "model");
      ids.push(m.id);
    }
    assert.deepEqual(ids, ["openai/gpt-4o-mini", "meta-llama/llama-3.3-8b-instruct:free", "fail-500", "openai/gpt-image-1"]);
    const tiny = [];
    for await (const m of user("tiny").client.models.list()) tiny.push(m.id);
    assert.deepEqual(tiny, ["openai/gpt-4o-mini"]);
  });

  test("the upstream saw the server's key on every call, never a client's JWT", async () => {
    assert.ok(up.requests.length > 0);
    for (const r of up.requests) {
      assert.equal(r.headers.authorization, `Bearer ${TEST_VARS.UPSTREAM_API_KEY}`);
      for (const [k, v] of Object.entries(r.headers)) {
        assert.doesNotMatch(String(v), /^Bearer ey|eyJhbGciOiJIUzI1NiIs/, `header ${k} carries a JWT`);
      }
      assert.equal(r.headers["idempotency-key"], undefined);
      assert.equal(r.headers["accept-language"], undefined);
    }
  });
});
