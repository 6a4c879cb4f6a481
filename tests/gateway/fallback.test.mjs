// Fallback models over the gateway (SPEC §11): when the asked-for model's
// quota is spent, the upstream is called with the plan's fallback and the
// answer says so in `x-tollgate-model`; an access denial never falls back.
// The official `openai` client against the built Worker (miniflare) and the
// fake upstream, which records the model it was asked for.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { auth, signJwt, start, stop } from "../worker/harness.mjs";
import { startFakeUpstream } from "./fake-upstream.mjs";

const NOW_S = Math.floor(Date.now() / 1000);
const PAID = "openai/gpt-4o-mini";
const FREE = "meta-llama/llama-3.3-8b-instruct:free";
const CONFIG = {
  version: 1,
  locale: "en",
  models: [
    { id: PAID, free: false, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.6 },
    { id: "openai/gpt-4o", free: false, input_usd_per_mtok: 2.5, output_usd_per_mtok: 10 },
    { id: FREE, free: true },
  ],
  plans: [{
    id: "fb", active: true, tier: 1, models: ["*:free", PAID],
    limits: [
      { metric: "messages", scope: PAID, window: "day", max: 1 },
      { metric: "messages", window: "day", max: 100 },
    ],
    fallbacks: [{ from: "openai/*", to: FREE }],
  }],
};

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

function client() {
  const sub = `fb-${process.pid}-${Date.now()}`;
  const jwt = signJwt({
    sub, exp: NOW_S + 3600, scope: "gateway usage",
    subscription: { id: `s-${sub}`, plan: "fb", active: true, starts_at: NOW_S - 60, ends_at: null },
  });
  return { jwt, openai: new OpenAI({ baseURL: `${w.url}/v1`, apiKey: jwt, maxRetries: 0 }) };
}

const ask = (openai, model) =>
  openai.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 8 }).withResponse();

test("a spent model's quota: the upstream is called with the fallback, and the answer says so", async () => {
  const { openai, jwt } = client();
  const first = await ask(openai, PAID);
  assert.equal(first.response.headers.get("x-tollgate-model"), null);
  const n = up.requests.length;
  const second = await ask(openai, PAID);
  assert.equal(second.response.headers.get("x-tollgate-model"), FREE);
  const sent = up.requests.slice(n).filter((r) => r.path.endsWith("chat/completions"));
  assert.equal(sent.length, 1);
  assert.equal(sent[0].body.model, FREE);
  // Counted as the fallback: the paid model's message quota is still 1 of 1.
  const u = await w.json("/v1/usage", { headers: { authorization: `Bearer ${jwt}` } });
  const paid = u.body.limits.find((l) => l.metric === "messages" && l.scope === PAID);
  assert.equal(paid.used, 1);
  const all = u.body.limits.find((l) => l.metric === "messages" && l.scope === "all");
  assert.equal(all.used, 2);
});

test("an access denial never falls back", async () => {
  const { openai } = client();
  const n = up.requests.length;
  await assert.rejects(ask(openai, "openai/gpt-4o"), (e) => e.status === 403);
  assert.equal(up.requests.length, n, "nothing reached the upstream");
});
