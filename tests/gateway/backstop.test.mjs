// The durable backstop of a gateway settlement (issue 8, SPEC §8): when the
// Worker dies mid-call — nothing of the gateway runs any more, no commit, no
// retry — the gateway's hold is charged its estimate by the user's Durable
// Object alarm, even with the config's `on_hold_expiry: "release"`. Killing
// a call must never make it free. Runs the built Worker on a persist
// directory, stops it mid-stream and starts it again.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { auth, removeDir, signJwt, start, stop, tempDir } from "../worker/harness.mjs";
import { startFakeUpstream } from "./fake-upstream.mjs";

const NOW_S = Math.floor(Date.now() / 1000);
const FREE = "meta-llama/llama-3.3-8b-instruct:free";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const CONFIG = {
  version: 1,
  locale: "en",
  hold_ttl_s: 2,
  on_hold_expiry: "release",
  models: [{ id: FREE, free: true }],
  plans: [
    {
      id: "gw",
      active: true,
      tier: 1,
      models: ["*:free"],
      limits: [{ metric: "tokens", window: "day", max: 1000000 }],
    },
  ],
  gateway: { allow_fields: ["fake"] },
};

let up;
after(async () => {
  await stop();
  await up?.close();
});

test("the Worker dies mid-stream: the gateway's hold is charged its estimate when it expires", async () => {
  const dir = tempDir();
  try {
    up = await startFakeUpstream();
    let w = await start({ persistDir: dir, vars: { UPSTREAM_URL: up.url } });
    const r = await w.json("/v1/admin/config", { method: "PUT", headers: auth.admin(), body: CONFIG });
    assert.equal(r.status, 200, r.text);
    const sub = `gw-backstop-${process.pid}`;
    const claims = {
      sub,
      exp: NOW_S + 3600,
      subscription: { id: `s-${sub}`, plan: "gw", active: true, starts_at: NOW_S - 60, ends_at: null },
    };
    const jwt = signJwt({ ...claims, scope: "gateway" });
    const reader = signJwt(claims); // no scope: read only
    const usage = async (worker) => {
      const u = await worker.json("/v1/usage", { headers: { authorization: `Bearer ${reader}` } });
      assert.equal(u.status, 200, u.text);
      return u.body;
    };
    const client = new OpenAI({ baseURL: `${w.url}/v1`, apiKey: jwt, maxRetries: 0 });
    const s = await client.chat.completions.create({
      model: FREE,
      messages: [{ role: "user", content: "a long story" }],
      stream: true,
      max_tokens: 100,
      fake: { chunks: 10, stall_after: 2, stall_ms: 60_000 },
    });
    let got = 0;
    const reading = (async () => {
      try {
        for await (const c of s) if (c.choices[0]?.delta?.content) got++;
      } catch {
        // the Worker went away under the stream
      }
    })();
    while (got < 2) await sleep(20);
    const during = await usage(w);
    assert.equal(during.holds.length, 1);
    const estimate = during.limits[0].used;
    assert.ok(estimate > 100, `the hold's estimate: ${estimate}`);

    await w.stop(); // the Worker dies: no commit, no retry
    await reading;
    w = await start({ persistDir: dir, vars: { UPSTREAM_URL: up.url } });
    let snap;
    for (let i = 0; i < 80; i++) {
      snap = await usage(w);
      if (snap.holds.length === 0) break;
      await sleep(100);
    }
    assert.deepEqual(snap.holds, [], "the hold expired");
    assert.equal(snap.limits[0].used, estimate, "charged its estimate, not dropped (policy release is for API holds)");
    await w.stop();
  } finally {
    removeDir(dir);
  }
});
