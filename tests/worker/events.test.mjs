// Events over HTTP (SPEC §10): a real receiver on 127.0.0.1 that verifies
// every Tollgate-Signature with the secret, fails the first N deliveries and
// counts duplicates by id; the outbox surviving a runtime stopped between the
// write and the delivery; a hanging receiver not slowing a reserve; and
// GET /v1/admin/events paging.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";
import { removeDir, start, stop, tempDir } from "./harness.mjs";
import { auth, client, newUser, onePlanConfig, sleep, sub, until, userAuth } from "./util.mjs";

const SECRET = "whsec-test-0123456789";
// Tests only: retries within a fraction of a second instead of 10 s.
const FAST = { TOLLGATE_WEBHOOK_SECRET: SECRET, TOLLGATE_WEBHOOK_FIRST_RETRY_MS: "200", TOLLGATE_WEBHOOK_TIMEOUT_MS: "1000" };

const CONFIG = onePlanConfig(
  [
    { metric: "messages", window: "day", max: 5 },
    { metric: "tokens", window: "day", max: 100000, overflow: "credits" },
  ],
  // Holds expire after 1 s (hold.expired through the alarm) and are then
  // charged, so the counts climb whatever the machine's speed.
  { hold_ttl_s: 1, on_hold_expiry: "charge", warn_at: [0.6] },
);
const msg = () => ({ type: "message", model: "paid/model", input_tokens: 10, max_output_tokens: 10, kind: "send" });
const SCOPES = { scope: "usage reserve settle" };

/** A webhook receiver: verifies signatures; `fail` first deliveries answer 500; `hang`: never answers. */
async function receiver({ fail = 0, hang = false } = {}) {
  const r = { deliveries: 0, bad: [], byId: new Map(), events: [] };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      r.deliveries++;
      if (hang) return; // never answers
      const sig = req.headers["tollgate-signature"] ?? "";
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(sig);
      const want = m && createHmac("sha256", SECRET).update(`${m[1]}.${body}`).digest();
      const ok = m && timingSafeEqual(Buffer.from(m[2], "hex"), want) && Math.abs(Date.now() / 1000 - Number(m[1])) < 300;
      if (!ok) {
        r.bad.push({ sig, body });
        res.writeHead(400).end();
        return;
      }
      if (r.deliveries <= fail) {
        res.writeHead(500).end("not yet");
        return;
      }
      const e = JSON.parse(body);
      assert.equal(req.headers["tollgate-event-id"], e.id);
      r.byId.set(e.id, (r.byId.get(e.id) ?? 0) + 1);
      if (r.byId.get(e.id) === 1) r.events.push(e);
      res.writeHead(204).end();
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  r.url = `http://127.0.0.1:${server.address().port}/hook`;
  r.close = () => new Promise((ok) => { server.closeAllConnections?.(); server.close(ok); });
  return r;
}

/** A receiver and a Worker posting to it (fast retries) for `body`; both stopped after. */
async function withReceiver(rxOpts, body) {
  const rx = await receiver(rxOpts);
  const w = await start({ vars: { ...FAST, TOLLGATE_WEBHOOK_URL: rx.url } });
  try {
    return await body({ rx, w, api: client(w) });
  } finally {
    await w.stop();
    await rx.close();
  }
}

/** One daily token limit of 100 that overflows into credits. */
const CREDITS_CONFIG = onePlanConfig([{ metric: "tokens", window: "day", max: 100, overflow: "credits" }]);

const grant = (w, u, body) =>
  w.json(`/v1/admin/users/${encodeURIComponent(u)}/grants`, { method: "POST", headers: auth.admin(), body });
const adminEvents = (w, q = "") => w.json(`/v1/admin/events${q}`, { headers: auth.admin() });
const userEvents = (w, u) => w.json(`/v1/admin/users/${encodeURIComponent(u)}/events`, { headers: auth.admin() });

after(stop);

describe("webhook delivery", () => {
  test("warning, reached, grant and hold-expired events arrive signed, every one, after failures", async () => {
    const rx = await receiver({ fail: 3 });
    const w = await start({ vars: { ...FAST, TOLLGATE_WEBHOOK_URL: rx.url } });
    try {
      const api = client(w);
      assert.equal((await api.putConfig(CONFIG)).status, 200);
      const u = newUser("ev");
      const h = userAuth(u, sub("p"), SCOPES);
      assert.equal((await grant(w, u, { id: "promo-1", metric: "tokens", amount: 100, source: "promo" })).status, 201);
      for (let i = 0; i < 5; i++) {
        const r = await api.reserve(h, msg());
        assert.equal(r.status, 200, r.text);
        if (i === 2) assert.equal(r.body.warnings.length, 1, "3 of 5 passes 60 %");
      }
      // The holds expire after 1 s through the alarm: hold.expired x5.
      const want = (rx2) => {
        const types = rx2.events.map((e) => e.type);
        return types.filter((t) => t === "hold.expired").length === 5 && types.includes("limit.reached");
      };
      await until("every event delivered", () => want(rx), 20000);
      const types = rx.events.map((e) => e.type).sort();
      assert.deepEqual(types, [
        "credits.granted",
        "hold.expired", "hold.expired", "hold.expired", "hold.expired", "hold.expired",
        "limit.reached",
        "limit.warning",
      ]);
      assert.deepEqual(rx.bad, [], "every signature verifies");
      assert.ok(rx.deliveries >= rx.events.length + 3, "the first 3 were refused and retried");
      for (const e of rx.events) {
        assert.equal(e.user, u);
        assert.match(e.id, new RegExp(`^${u}:\\d+$`));
        assert.match(e.at, /^\d{4}-\d\d-\d\dT/);
      }
      const warning = rx.events.find((e) => e.type === "limit.warning");
      assert.equal(warning.data.metric, "messages");
      assert.equal(warning.data.threshold, 0.6);
      const reached = rx.events.find((e) => e.type === "limit.reached");
      assert.deepEqual([reached.data.metric, reached.data.used, reached.data.limit, reached.data.remaining], ["messages", 5, 5, 0]);
      assert.equal(rx.events.find((e) => e.type === "credits.granted").data.grant.id, "promo-1");
      // The user's outbox says each was delivered.
      const mine = await until("outbox marked delivered", async () => {
        const r = await userEvents(w, u);
        return r.body.events.every((e) => e.delivery.state === "delivered") && r;
      });
      assert.equal(mine.body.events.length, 8);
    } finally {
      await w.stop();
      await rx.close();
    }
  });

  test("credits.expired from the alarm when a grant with something left expires; a spent or revoked one raises nothing", () =>
    withReceiver({}, async ({ rx, w, api }) => {
      assert.equal((await api.putConfig(CREDITS_CONFIG)).status, 200);
      const u = newUser("exp");
      const h = userAuth(u, sub("p"), SCOPES);
      // Three grants expire in 2 s: one keeps something, one is spent, one is revoked.
      const at = new Date(Date.now() + 2000).toISOString();
      for (const [id, amount] of [["a-spent", 50], ["b-left", 300], ["c-gone", 70]]) {
        const g = await grant(w, u, { id, metric: "tokens", amount, source: "promo", expires_at: at });
        assert.equal(g.status, 201, g.text);
      }
      assert.equal((await w.json(`/v1/admin/users/${encodeURIComponent(u)}/grants/c-gone`, { method: "DELETE", headers: auth.admin() })).status, 200);
      // 100 from the plan, 100 from credits: the grants tie on expiry, source and age, so by id:
      // all 50 of "a-spent", then 50 of "b-left".
      const big = { type: "message", model: "paid/model", input_tokens: 150, max_output_tokens: 50, kind: "send" };
      const r = await api.reserve(h, big);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.from_credits.tokens, 100);
      assert.equal((await api.commit(h, r.body.hold.id, { input_tokens: 150, output_tokens: 50 })).status, 200);
      const remaining = Object.fromEntries((await api.usage(h)).body.grants.map((g) => [g.id, g.remaining]));
      assert.deepEqual(remaining, { "a-spent": 0, "b-left": 250 });
      // No request after this: the user's alarm wakes at the expiry and raises the event.
      await until("credits.expired", () => rx.events.some((e) => e.type === "credits.expired"), 20000);
      await sleep(1000);
      const expired = rx.events.filter((e) => e.type === "credits.expired");
      assert.deepEqual(expired.map((e) => [e.data.grant.id, e.data.grant.remaining]), [["b-left", 250]]);
      assert.equal(expired[0].user, u);
      assert.deepEqual(rx.bad, []);
      // After the expiry the grant is gone from the snapshot and draws nothing.
      const snap = await api.usage(h);
      assert.deepEqual(snap.body.grants, []);
      const after = await api.check(h, { ...big, input_tokens: 10, max_output_tokens: 10 });
      assert.equal(after.status, 429, after.text);
    }));

  test("credits.low once when a grant falls below 10 %", () =>
    withReceiver({}, async ({ rx, w, api }) => {
      assert.equal((await api.putConfig(CREDITS_CONFIG)).status, 200);
      const u = newUser("low");
      const h = userAuth(u, sub("p"), SCOPES);
      assert.equal((await grant(w, u, { id: "pack", metric: "tokens", amount: 1000, source: "purchase" })).status, 201);
      // 100 from the plan, then 950 of the 1000 credits: 50 left (< 10 %).
      const big = { type: "message", model: "paid/model", input_tokens: 1000, max_output_tokens: 50, kind: "send" };
      const r = await api.reserve(h, big);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.from_credits.tokens, 950);
      await until("credits.low", () => rx.events.some((e) => e.type === "credits.low"));
      const low = rx.events.filter((e) => e.type === "credits.low");
      assert.equal(low.length, 1);
      assert.equal(low[0].data.grant.remaining, 50);
      assert.deepEqual(rx.bad, []);
    }));

  test("a receiver that never answers does not slow a reserve", async () => {
    const rx = await receiver({ hang: true });
    const w = await start({ vars: { ...FAST, TOLLGATE_WEBHOOK_URL: rx.url, TOLLGATE_WEBHOOK_TIMEOUT_MS: "20000" } });
    try {
      const api = client(w);
      assert.equal((await api.putConfig(onePlanConfig([{ metric: "messages", window: "day", max: 100, warn_at: [0.01] }]))).status, 200);
      const u = newUser("hang");
      const h = userAuth(u, sub("p"), SCOPES);
      const first = await api.reserve(h, msg()); // raises limit.warning
      assert.equal(first.status, 200, first.text);
      await until("a delivery in flight", () => rx.deliveries >= 1);
      // The object's alarm is now waiting on the receiver; reserves go on.
      let worst = 0;
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const r = await api.reserve(h, msg());
        worst = Math.max(worst, performance.now() - t0);
        assert.equal(r.status, 200, r.text);
      }
      assert.ok(worst < 2000, `a reserve took ${worst} ms while the receiver hung`);
      const mine = await userEvents(w, u);
      assert.equal(mine.body.events[0].delivery.state, "pending");
    } finally {
      await w.stop();
      await rx.close();
    }
  });

  test("the runtime stopped between the write and the delivery loses no event", async () => {
    const dir = tempDir();
    const rx = await receiver();
    try {
      // First run: no webhook URL, so the events stay in the outbox.
      let w = await start({ persistDir: dir, vars: { ...FAST } });
      const api = client(w);
      assert.equal((await api.putConfig(onePlanConfig([{ metric: "messages", window: "day", max: 100 }]))).status, 200);
      const u = newUser("rs");
      for (const id of ["a", "b", "c"]) {
        assert.equal((await grant(w, u, { id, metric: "tokens", amount: 10, source: "admin" })).status, 201);
      }
      const pending = await userEvents(w, u);
      assert.equal(pending.body.webhook, false);
      assert.deepEqual(pending.body.events.map((e) => e.delivery.state), ["pending", "pending", "pending"]);
      await w.stop();
      // Second run on the same state, now with a receiver: the alarm sends them.
      w = await start({ persistDir: dir, vars: { ...FAST, TOLLGATE_WEBHOOK_URL: rx.url } });
      // Any call to the user wakes the object and arms its alarm.
      await userEvents(w, u);
      await w.json(`/v1/admin/users/${encodeURIComponent(u)}/reset`, { method: "POST", headers: auth.admin(), body: {} });
      await until("3 events after restart", () => rx.events.length === 3);
      assert.deepEqual(rx.events.map((e) => e.data.grant.id).sort(), ["a", "b", "c"]);
      assert.deepEqual(rx.bad, []);
      await w.stop();
    } finally {
      await rx.close();
      removeDir(dir);
    }
  });
});

describe("the outbox survives the runtime stopped at every step (TOLLGATE_DEV_HALT)", () => {
  test("stopped after the receiver took an event, before the outbox noted it: sent again with the same id, none lost", async () => {
    const dir = tempDir();
    const rx = await receiver();
    try {
      let w = await start({ persistDir: dir, vars: { ...FAST, TOLLGATE_WEBHOOK_URL: rx.url, TOLLGATE_DEV_HALT: "outbox.delivered" } });
      const api = client(w);
      assert.equal((await api.putConfig(onePlanConfig([{ metric: "messages", window: "day", max: 100 }]))).status, 200);
      const u = newUser("hd");
      for (const id of ["a", "b"]) {
        assert.equal((await grant(w, u, { id, metric: "tokens", amount: 10, source: "admin" })).status, 201);
      }
      // The first event reaches the receiver; the runtime "dies" before noting it, every time.
      await until("the first event at the receiver", () => rx.byId.size === 1);
      const pending = await userEvents(w, u);
      assert.deepEqual(pending.body.events.map((e) => e.delivery.state), ["pending", "pending"]);
      await w.stop();
      const [firstId] = [...rx.byId.keys()];
      const firstRun = rx.byId.get(firstId);
      w = await start({ persistDir: dir, vars: { ...FAST, TOLLGATE_WEBHOOK_URL: rx.url } });
      await userEvents(w, u); // wakes the object, which arms its alarm
      await until("the outbox notes both delivered", async () => {
        const r = await userEvents(w, u);
        return r.body.events.every((e) => e.delivery.state === "delivered");
      });
      assert.equal(rx.byId.size, 2, "both events, no new one");
      assert.ok(rx.byId.get(firstId) > firstRun, `${firstId} was sent again, same id, after the restart`);
      assert.deepEqual(rx.events.map((e) => e.data.grant.id).sort(), ["a", "b"]);
      assert.deepEqual(rx.bad, []);
      await w.stop();
    } finally {
      await rx.close();
      removeDir(dir);
    }
  });

  test("stopped after the event log took events, before the outbox noted it: listed once", async () => {
    const dir = tempDir();
    try {
      let w = await start({ persistDir: dir, vars: { ...FAST, TOLLGATE_DEV_HALT: "outbox.forwarded" } });
      const api = client(w);
      assert.equal((await api.putConfig(onePlanConfig([{ metric: "messages", window: "day", max: 100 }]))).status, 200);
      const u = newUser("hf");
      for (const id of ["a", "b", "c"]) {
        assert.equal((await grant(w, u, { id, metric: "tokens", amount: 10, source: "admin" })).status, 201);
      }
      const mine = async () => (await adminEvents(w, "?limit=1000")).body.events.filter((e) => e.user === u);
      await until("the log has the events", async () => (await mine()).length >= 3);
      await sleep(1500); // the alarm forwards them again meanwhile
      await w.stop();
      w = await start({ persistDir: dir, vars: { ...FAST } });
      await userEvents(w, u);
      await w.json(`/v1/admin/users/${encodeURIComponent(u)}/reset`, { method: "POST", headers: auth.admin(), body: {} });
      await sleep(1500);
      const listed = await mine();
      assert.deepEqual(listed.map((e) => e.data.grant.id), ["a", "b", "c"], "each event once, in order");
      assert.equal(new Set(listed.map((e) => e.id)).size, 3);
      await w.stop();
    } finally {
      removeDir(dir);
    }
  });
});

describe("GET /v1/admin/events", () => {
  test("pages through every user's events with since=<id>; admin only; bad input 400", async () => {
    const w = await start({ vars: { ...FAST } });
    try {
      const api = client(w);
      assert.equal((await api.putConfig(onePlanConfig([{ metric: "messages", window: "day", max: 100 }]))).status, 200);
      const users = [newUser("pa"), newUser("pb")];
      for (const u of users) {
        for (let i = 0; i < 3; i++) {
          assert.equal((await grant(w, u, { id: `g${i}`, metric: "tokens", amount: 10, source: "promo" })).status, 201);
        }
      }
      await until("6 events in the log", async () => (await adminEvents(w, "?limit=1000")).body.events.length >= 6);
      const seen = [];
      let since = "";
      for (let page = 0; page < 10; page++) {
        const r = await adminEvents(w, `?limit=4${since ? `&since=${encodeURIComponent(since)}` : ""}`);
        assert.equal(r.status, 200, r.text);
        seen.push(...r.body.events);
        since = r.body.next;
        if (!r.body.more) break;
      }
      const ids = seen.map((e) => e.id);
      assert.equal(new Set(ids).size, ids.length, "no event twice");
      for (const u of users) {
        assert.deepEqual(seen.filter((e) => e.user === u).map((e) => e.data.grant.id), ["g0", "g1", "g2"]);
      }
      // Nothing after the last one.
      const tail = await adminEvents(w, `?since=${encodeURIComponent(since)}`);
      assert.deepEqual(tail.body.events, []);
      assert.equal(tail.body.next, since);
      // Admin only; bad parameters are 400 with the field named.
      assert.equal((await w.json("/v1/admin/events")).status, 401);
      const bad = await adminEvents(w, "?limit=0");
      assert.equal(bad.status, 400);
      assert.equal(bad.body.errors[0].path, "limit");
      const unknown = await adminEvents(w, "?since=nobody%3A99");
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.errors[0].path, "since");
    } finally {
      await w.stop();
    }
  });
});
