// Credits over HTTP (SPEC §9): the admin grant routes, what `GET /v1/usage`
// and the admin explain list, a reserve that draws on credits, and grants
// surviving a restart of the runtime.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { removeDir, start, stop, tempDir } from "./harness.mjs";
import { auth, client, newKey, newUser, onePlanConfig, sub, userAuth } from "./util.mjs";

const CONFIG = onePlanConfig([
  { metric: "messages", window: "1h", max: 100 },
  { metric: "tokens", window: "day", max: 1000, overflow: "credits" },
]);

const paid = (input, output) => ({ type: "message", model: "paid/model", input_tokens: input, max_output_tokens: output, kind: "send" });

let w;
let api;
before(async () => {
  w = await start();
  api = client(w);
  assert.equal((await api.putConfig(CONFIG)).status, 200);
});
after(stop);

const grants = (user, body, headers = {}) =>
  w.json(`/v1/admin/users/${encodeURIComponent(user)}/grants`, { method: "POST", headers: { ...auth.admin(), ...headers }, body });
const revoke = (user, id) =>
  w.json(`/v1/admin/users/${encodeURIComponent(user)}/grants/${encodeURIComponent(id)}`, { method: "DELETE", headers: auth.admin() });

describe("admin grants", () => {
  test("create assigns an id; the same id again changes nothing", async () => {
    const u = newUser("c");
    let r = await grants(u, { metric: "tokens", amount: 500, source: "promo" });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.created, true);
    assert.match(r.body.grant.id, /^g\d+$/);
    assert.deepEqual(
      { ...r.body.grant, id: undefined },
      { id: undefined, metric: "tokens", scope: "all", amount: 500, remaining: 500, source: "promo", expires_at: null },
    );
    r = await grants(u, { id: "pack-1", metric: "tokens", amount: 300, source: "purchase", expires_at: "2099-01-01T00:00:00Z" });
    assert.equal(r.status, 201, r.text);
    // Again with the same id (even another amount): nothing changes.
    r = await grants(u, { id: "pack-1", metric: "tokens", amount: 999999, source: "purchase" });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.created, false);
    assert.equal(r.body.grant.amount, 300);
    const usage = await api.usage(userAuth(u, sub("p")));
    assert.equal(usage.status, 200);
    assert.deepEqual(
      usage.body.grants.map((g) => [g.id.startsWith("g") ? "g" : g.id, g.remaining, g.expires_at]),
      [["g", 500, null], ["pack-1", 300, "2099-01-01T00:00:00Z"]],
    );
  });

  test("Idempotency-Key: the same body answers the first answer and creates once; another body 422", async () => {
    const u = newUser("c");
    const key = newKey();
    const body = { metric: "tokens", amount: 100, source: "admin" };
    const a = await grants(u, body, { "idempotency-key": key });
    const b = await grants(u, body, { "idempotency-key": key });
    assert.equal(a.status, 201, a.text);
    assert.equal(b.status, 201, b.text);
    assert.deepEqual(b.body, a.body);
    const c = await grants(u, { ...body, amount: 7 }, { "idempotency-key": key });
    assert.equal(c.status, 422, c.text);
    assert.equal(c.body.code, "idempotency_key_reused");
    const e = await api.explain(u);
    assert.equal(e.body.grants.length, 1);
  });

  test("bad grants answer 400 with every problem and change nothing", async () => {
    const u = newUser("c");
    const r = await grants(u, { metric: "tokenz", amount: -1, source: "gift", expires_at: "tomorrow", extra: 1, id: "a/b" });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.code, "bad_request");
    const paths = r.body.errors.map((e) => e.path).sort();
    assert.deepEqual(paths, ["amount", "expires_at", "extra", "id", "metric", "source"]);
    const e = await api.explain(u);
    assert.deepEqual(e.body.grants, []);
    // Not JSON, and a user token instead of the admin's.
    const nj = await w.json(`/v1/admin/users/${u}/grants`, { method: "POST", headers: { ...auth.admin(), "content-type": "application/json" }, body: "{" });
    assert.equal(nj.status, 400);
    const ut = await w.json(`/v1/admin/users/${u}/grants`, { method: "POST", headers: userAuth(u, sub("p")), body: { metric: "tokens", amount: 1, source: "promo" } });
    assert.equal(ut.status, 401);
  });

  test("revoke removes what remains; the explain still lists it, the usage no more", async () => {
    const u = newUser("c");
    await grants(u, { id: "x", metric: "tokens", amount: 400, source: "promo" });
    await grants(u, { id: "old", metric: "tokens", amount: 50, source: "promo", expires_at: "2001-01-01T00:00:00Z" });
    let r = await revoke(u, "x");
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.removed, 400);
    assert.equal(r.body.grant.remaining, 0);
    assert.ok(r.body.grant.revoked_at);
    r = await revoke(u, "x");
    assert.equal(r.status, 200);
    assert.equal(r.body.removed, 0);
    r = await revoke(u, "nope");
    assert.equal(r.status, 404);
    assert.equal(r.body.code, "grant_unknown");
    const usage = await api.usage(userAuth(u, sub("p")));
    assert.deepEqual(usage.body.grants, []);
    const e = await api.explain(u);
    assert.deepEqual(e.body.grants.map((g) => g.id), ["x", "old"]);
    // DELETE is the only method on a grant.
    const m = await w.json(`/v1/admin/users/${u}/grants/x`, { headers: auth.admin() });
    assert.equal(m.status, 405);
  });
});

describe("a reserve draws on credits", () => {
  test("past the day's max the excess comes from the grant; release gives it back; all of it survives a restart", async () => {
    const dir = tempDir();
    try {
      let w2 = await start({ persistDir: dir });
      let api2 = client(w2);
      assert.equal((await api2.putConfig(CONFIG)).status, 200);
      const u = newUser("d");
      const h = userAuth(u, sub("p"));
      const g = await w2.json(`/v1/admin/users/${u}/grants`, { method: "POST", headers: auth.admin(), body: { id: "pack", metric: "tokens", amount: 500, source: "purchase" } });
      assert.equal(g.status, 201, g.text);
      let r = await api2.reserve(h, paid(400, 500), newKey(), "?explain=1");
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.body.from_credits ?? {}, {});
      r = await api2.reserve(h, paid(100, 300), newKey(), "?explain=1");
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.body.from_credits, { tokens: 300 });
      const day = r.body.limits.find((l) => l.window === "day");
      assert.equal(day.from_credits, 300);
      assert.equal(day.credits, 500);
      // Too much for what is left: denied, nothing drawn.
      const d = await api2.reserve(h, paid(100, 200), newKey());
      assert.equal(d.status, 429, d.text);
      assert.equal(d.body.code, "insufficient_budget");
      let usage = await api2.usage(h);
      assert.equal(usage.body.grants[0].remaining, 200);

      // Stop the runtime, start it again: the draw and the hold are still there.
      await w2.stop();
      w2 = await start({ persistDir: dir });
      api2 = client(w2);
      usage = await api2.usage(h);
      assert.equal(usage.body.grants[0].remaining, 200);
      const rel = await api2.release(h, r.body.hold.id);
      assert.equal(rel.status, 200, rel.text);
      usage = await api2.usage(h);
      assert.equal(usage.body.grants[0].remaining, 500);
      assert.equal(usage.body.limits.find((l) => l.window === "day").credits, 500);
      await w2.stop();
    } finally {
      removeDir(dir);
    }
  });
});
