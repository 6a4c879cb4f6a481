// A discount code that carries a grant (SPEC §9, issue 10): a redemption adds
// the grant to the redeeming user's books exactly once, even when the request
// is retried or the runtime stops half-way between the code's object and the
// user's. The runtime is stopped at each step of the hand-over
// (TOLLGATE_DEV_HALT, see worker/src/objects/discount_code.rs) and restarted
// on the same SQLite state.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { removeDir, start, stop, tempDir } from "./harness.mjs";
import { auth, client, newKey, newUser, onePlanConfig, sleep, sub, until, userAuth } from "./util.mjs";

const CONFIG = onePlanConfig([
  { metric: "messages", window: "day", max: 100 },
  { metric: "tokens", window: "day", max: 1000, overflow: "credits" },
]);
const GIFT = { metric: "tokens", amount: 5000, expires_in_days: 30 };
const RULE = { max_uses: 100, max_uses_per_user: 2, expires_at: "2099-01-01T00:00:00Z", grant: GIFT };

/** The user's grants as the admin explain lists them (spent and expired too). */
async function grantsOf(w, user) {
  const r = await w.json(`/v1/admin/users/${encodeURIComponent(user)}`, { headers: auth.admin() });
  assert.equal(r.status, 200, r.text);
  return r.body.grants ?? [];
}

/** The user's events (`credits.granted` counts how often a grant was added). */
async function grantedEvents(w, user) {
  const r = await w.json(`/v1/admin/users/${encodeURIComponent(user)}/events`, { headers: auth.admin() });
  assert.equal(r.status, 200, r.text);
  return r.body.events.filter((e) => e.type === "credits.granted");
}

/** A message of `tokens` tokens in all on the one plan. */
const message = (tokens) => ({ type: "message", model: "paid/model", input_tokens: tokens - 100, max_output_tokens: 100, kind: "send" });

describe("a discount code's grant", () => {
  let w;
  let api;
  before(async () => {
    w = await start();
    api = client(w);
    assert.equal((await api.putConfig(CONFIG)).status, 200);
  });
  after(stop);

  test("PUT with a grant: stored and shown; a bad grant is 400 with its path and stores nothing", async () => {
    const put = await api.putDiscount("GIFT-SHOW", RULE);
    assert.equal(put.status, 201, put.text);
    assert.deepEqual(put.body.grant, GIFT);
    assert.equal(put.body.handovers_pending, undefined, "shown only when some are owed");
    assert.deepEqual((await api.getDiscount("GIFT-SHOW")).body.grant, GIFT);
    const bad = [
      [{ ...GIFT, amount: 0 }, "grant.amount"],
      [{ ...GIFT, metric: "gold" }, "grant.metric"],
      [{ ...GIFT, expires_in_days: 0 }, "grant.expires_in_days"],
      [{ ...GIFT, source: "promo" }, "grant.source"],
      [{ metric: "tokens" }, "grant.amount"],
      ["lots", "grant"],
    ];
    for (const [grant, path] of bad) {
      const r = await api.putDiscount("GIFT-BAD", { ...RULE, grant });
      assert.equal(r.status, 400, `${JSON.stringify(grant)}: ${r.text}`);
      assert.equal(r.body.code, "bad_request");
      assert.ok(r.body.errors.some((e) => e.path === path), `${path} in ${r.text}`);
    }
    assert.equal((await api.getDiscount("GIFT-BAD")).status, 404);
    // The config's own discounts list takes the same grant.
    const cfg = await api.putConfig({ ...CONFIG, discounts: [{ code: "GIFT-CFG", ...RULE }] });
    assert.equal(cfg.status, 200, cfg.text);
    assert.deepEqual((await api.getDiscount("GIFT-CFG")).body.grant, GIFT);
  });

  test("a redemption adds it once; a retried key adds nothing; a second redemption adds a second grant; it is drawn on", async () => {
    assert.equal((await api.putDiscount("GIFT-ONCE", RULE)).status, 201);
    const u = newUser("gift");
    const h = userAuth(u, sub("p"));
    const key = newKey();
    const t0 = Math.floor(Date.now() / 1000);
    const r = await api.redeem(h, "GIFT-ONCE", key);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { redeemed: true, code: "GIFT-ONCE", uses: 1, uses_by_user: 1, grant_id: "discount:GIFT-ONCE:1" });
    // In the user's snapshot at once (the hand-over finishes before the answer).
    const snap = await api.usage(h);
    assert.equal(snap.status, 200, snap.text);
    assert.equal(snap.body.grants.length, 1);
    const g = snap.body.grants[0];
    assert.equal(g.id, "discount:GIFT-ONCE:1");
    assert.equal(g.source, "discount");
    assert.equal(g.amount, 5000);
    assert.equal(g.remaining, 5000);
    const exp = Date.parse(g.expires_at) / 1000;
    assert.ok(Math.abs(exp - (t0 + 30 * 86400)) <= 5, `expires 30 days after the redemption: ${g.expires_at}`);
    // The same key again: the first answer, no second grant.
    for (let i = 0; i < 3; i++) {
      const again = await api.redeem(h, "GIFT-ONCE", key);
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(again.body, r.body);
    }
    assert.equal((await grantsOf(w, u)).length, 1);
    // A second redemption (max 2 per user) is a second grant; a third is refused and adds none.
    const second = await api.redeem(h, "GIFT-ONCE", newKey());
    assert.equal(second.status, 200, second.text);
    assert.equal(second.body.grant_id, "discount:GIFT-ONCE:2");
    const third = await api.redeem(h, "GIFT-ONCE", newKey());
    assert.equal(third.status, 403, third.text);
    assert.equal(third.body.code, "discount_user_exhausted");
    assert.deepEqual((await grantsOf(w, u)).map((x) => x.id).sort(), ["discount:GIFT-ONCE:1", "discount:GIFT-ONCE:2"]);
    // The credits pay past the daily limit (overflow: credits).
    const res = await api.reserve(h, message(1500));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.from_credits.tokens, 500);
    // The code counts every use; nothing is left owed.
    const view = (await api.getDiscount("GIFT-ONCE")).body;
    assert.equal(view.uses, 2);
    assert.equal(view.handovers_pending, undefined);
    // One credits.granted event per grant.
    await until("2 credits.granted events", async () => (await grantedEvents(w, u)).length === 2);
  });

  test("another user's redemption gives this user nothing", async () => {
    assert.equal((await api.putDiscount("GIFT-OTHER", RULE)).status, 201);
    const [a, b] = [newUser("ga"), newUser("gb")];
    assert.equal((await api.redeem(userAuth(a, sub("p")), "GIFT-OTHER", newKey())).status, 200);
    assert.equal((await grantsOf(w, a)).length, 1);
    assert.equal((await grantsOf(w, b)).length, 0);
  });
});

describe("the hand-over survives the runtime stopped at every step", () => {
  /**
   * Redeems with the runtime set to stop at `point`, stops it, restarts it on
   * the same state without the stop, and lets `finish` complete the hand-over.
   * Answers the user, the key and the redemption's first answer.
   */
  async function halted(dir, point) {
    const w = await start({ persistDir: dir, vars: { TOLLGATE_DEV_HALT: point } });
    const api = client(w);
    assert.equal((await api.putConfig(CONFIG)).status, 200);
    const code = `GIFT-${point.replace(/\W/g, "-")}`;
    assert.equal((await api.putDiscount(code, RULE)).status, 201);
    const u = newUser("halt");
    const key = newKey();
    const r = await api.redeem(userAuth(u, sub("p")), code, key);
    // The runtime "died" at the point: the caller saw no answer.
    assert.equal(r.status, 503, r.text);
    assert.equal(r.body.code, "halted");
    // The use is counted and the grant is owed, written down in the code's object.
    const view = (await api.getDiscount(code)).body;
    assert.equal(view.uses, 1);
    assert.equal(view.handovers_pending, 1);
    const before = await grantsOf(w, u);
    await w.stop();
    return { code, u, key, before };
  }

  for (const point of ["handover.recorded", "handover.applied"]) {
    test(`stopped at ${point}: a retry with the same key finishes it, once`, async () => {
      const dir = tempDir();
      try {
        const { code, u, key, before } = await halted(dir, point);
        // Before the user's books were called there is no grant; after, there is one.
        assert.equal(before.length, point === "handover.recorded" ? 0 : 1);
        const w = await start({ persistDir: dir });
        try {
          const api = client(w);
          const h = userAuth(u, sub("p"));
          const r = await api.redeem(h, code, key);
          assert.equal(r.status, 200, r.text);
          assert.deepEqual(r.body, { redeemed: true, code, uses: 1, uses_by_user: 1, grant_id: `discount:${code}:1` });
          const grants = await grantsOf(w, u);
          assert.deepEqual(grants.map((g) => [g.id, g.remaining]), [[`discount:${code}:1`, 5000]]);
          const view = (await api.getDiscount(code)).body;
          assert.equal(view.uses, 1, "the retry counted no second use");
          assert.equal(view.handovers_pending, undefined);
          // More retries change nothing.
          assert.deepEqual((await api.redeem(h, code, key)).body, r.body);
          assert.equal((await grantsOf(w, u)).length, 1);
          await until("one credits.granted event", async () => (await grantedEvents(w, u)).length === 1);
          await sleep(500);
          assert.equal((await grantedEvents(w, u)).length, 1, "the grant was added once");
        } finally {
          await w.stop();
        }
      } finally {
        removeDir(dir);
      }
    });

    test(`stopped at ${point}: without any retry, the code's alarm finishes it`, async () => {
      const dir = tempDir();
      try {
        const { code, u } = await halted(dir, point);
        const w = await start({ persistDir: dir });
        try {
          const api = client(w);
          // Any call wakes the code's object, which arms its alarm for what it owes.
          assert.equal((await api.getDiscount(code)).status, 200);
          await until("the grant in the user's books and nothing owed", async () => {
            const owed = (await api.getDiscount(code)).body.handovers_pending ?? 0;
            return owed === 0 && (await grantsOf(w, u)).length === 1;
          });
          assert.deepEqual((await grantsOf(w, u)).map((g) => g.id), [`discount:${code}:1`]);
          await until("one credits.granted event", async () => (await grantedEvents(w, u)).length === 1);
        } finally {
          await w.stop();
        }
      } finally {
        removeDir(dir);
      }
    });
  }
});
