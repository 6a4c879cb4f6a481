// Atomicity under concurrency and retries: a user's reserves are serialised
// by their Durable Object, a code's redemptions by the code's object.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { start, stop } from "./harness.mjs";
import { client, newKey, newUser, onePlanConfig, stable, sub, userAuth } from "./util.mjs";

let w;
let api;
before(async () => {
  w = await start();
  api = client(w);
});
after(stop);

const msg = { type: "message", model: "free/model:free", input_tokens: 10, max_output_tokens: 10 };

describe("concurrency", () => {
  test("64 concurrent reserves against 10 messages: exactly 10 allowed", async () => {
    const r0 = await api.putConfig(
      onePlanConfig([
        { metric: "messages", window: "1h", max: 10 },
        { metric: "tokens", window: "day", max: 1000000 },
      ]),
    );
    assert.equal(r0.status, 200, r0.text);
    const u = newUser();
    const h = userAuth(u, sub("p"));
    const answers = await Promise.all(Array.from({ length: 64 }, () => api.reserve(h, msg, newKey())));
    const statuses = answers.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 200).length, 10, JSON.stringify(statuses));
    assert.equal(statuses.filter((s) => s === 429).length, 54);
    const ids = answers.filter((r) => r.status === 200).map((r) => r.body.hold.id).sort();
    assert.equal(new Set(ids).size, 10);
    for (const r of answers.filter((r) => r.status === 429)) assert.equal(r.body.code, "window_exceeded");
    const usage = await api.usage(h);
    assert.equal(usage.body.limits.find((l) => l.metric === "messages").used, 10);
    assert.equal(usage.body.limits.find((l) => l.metric === "tokens").used, 200);
    assert.equal(usage.body.holds.length, 10);
  });

  test("concurrent reserves of several users stay within each user's limit", async () => {
    await api.putConfig(onePlanConfig([{ metric: "messages", window: "day", max: 3 }]));
    const users = Array.from({ length: 8 }, () => newUser());
    const answers = await Promise.all(
      users.flatMap((u) => Array.from({ length: 6 }, () => api.reserve(userAuth(u, sub("p")), msg, newKey()).then((r) => [u, r.status]))),
    );
    for (const u of users) {
      const ok = answers.filter(([x, s]) => x === u && s === 200).length;
      assert.equal(ok, 3, `user ${u}`);
    }
  });

  test("20 concurrent redemptions by 10 users of a code with max_uses 5: exactly 5", async () => {
    const code = `RACE${Date.now()}`;
    assert.equal((await api.putDiscount(code, { max_uses: 5 })).status, 201);
    const users = Array.from({ length: 10 }, () => newUser());
    const answers = await Promise.all(
      users.flatMap((u) => [0, 1].map(() => api.redeem(userAuth(u, sub("p")), code, newKey()))),
    );
    const ok = answers.filter((r) => r.status === 200);
    assert.equal(ok.length, 5, JSON.stringify(answers.map((r) => r.status)));
    assert.deepEqual(ok.map((r) => r.body.uses).sort((a, b) => a - b), [1, 2, 3, 4, 5]);
    for (const r of answers.filter((r) => r.status !== 200)) {
      assert.equal(r.status, 403);
      assert.equal(r.body.code, "discount_exhausted");
    }
    assert.equal((await api.getDiscount(code)).body.uses, 5);
  });

  test("per-user cap under concurrency: 10 redemptions by one user, max_uses_per_user 2", async () => {
    const code = `MINE${Date.now()}`;
    await api.putDiscount(code, { max_uses: 100, max_uses_per_user: 2 });
    const h = userAuth(newUser(), sub("p"));
    const answers = await Promise.all(Array.from({ length: 10 }, () => api.redeem(h, code, newKey())));
    assert.equal(answers.filter((r) => r.status === 200).length, 2);
    assert.ok(answers.filter((r) => r.status === 403).every((r) => r.body.code === "discount_user_exhausted"));
  });
});

describe("retries", () => {
  test("the same Idempotency-Key retried concurrently: one hold, one answer", async () => {
    await api.putConfig(onePlanConfig([{ metric: "messages", window: "1h", max: 100 }]));
    const u = newUser();
    const h = userAuth(u, sub("p"));
    const key = newKey();
    const answers = await Promise.all(Array.from({ length: 16 }, () => api.reserve(h, msg, key)));
    for (const r of answers) {
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, answers[0].body);
    }
    const e = await api.explain(u);
    assert.equal(e.body.open_holds, 1);
    assert.equal(e.body.limits[0].used, 1);
  });

  test("a commit retried (also concurrently) is counted once", async () => {
    await api.putConfig(onePlanConfig([{ metric: "tokens", window: "lifetime", max: 1000000 }]));
    const u = newUser();
    const h = userAuth(u, sub("p"));
    const r = await api.reserve(h, { ...msg, max_output_tokens: 1000 });
    const id = r.body.hold.id;
    const commits = await Promise.all(Array.from({ length: 8 }, () => api.commit(h, id, { input_tokens: 10, output_tokens: 32 })));
    assert.ok(commits.every((c) => c.status === 200));
    assert.equal(commits.filter((c) => !c.body.duplicate).length, 1);
    const again = await api.commit(h, id, { input_tokens: 10, output_tokens: 32 });
    assert.equal(again.body.duplicate, true);
    const usage = await api.usage(h);
    assert.equal(usage.body.limits[0].used, 42);
    const before = stable((await api.explain(u)).body);
    await api.commit(h, id, { input_tokens: 500, output_tokens: 500 });
    assert.deepEqual(stable((await api.explain(u)).body).limits, before.limits);
  });

  test("a redemption retried with its key counts once", async () => {
    const code = `RETRY${Date.now()}`;
    await api.putDiscount(code, { max_uses: 10 });
    const h = userAuth(newUser(), sub("p"));
    const key = newKey();
    const answers = await Promise.all(Array.from({ length: 5 }, () => api.redeem(h, code, key)));
    for (const r of answers) assert.deepEqual(r.body, { redeemed: true, code, uses: 1, uses_by_user: 1 });
    assert.equal((await api.getDiscount(code)).body.uses, 1);
  });
});
