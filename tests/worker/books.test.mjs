// The books against a hostile client (issue 8, SPEC revision 2 §1 and §5):
// each test is an attack that succeeded against revision 1 and must fail now.
// All run in workerd (miniflare) with SQLite-backed Durable Objects and the
// dev clock (x-tollgate-now) to move time.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, readdirSync, readFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import path from "node:path";
import { ROOT, auth, removeDir, start, stop, tempDir } from "./harness.mjs";
import { client, newKey, newUser, onePlanConfig, userAuth } from "./util.mjs";

after(stop);

const T0 = Date.UTC(2026, 10, 23, 10, 0, 0); // 2026-11-23T10:00:00Z, 13:30 in Tehran
const S = (ms) => Math.floor(ms / 1000);
const at = (h, ms) => ({ ...h, "x-tollgate-now": String(ms) });
const sub = (id, extra = {}) => ({ id, plan: "p", active: true, starts_at: S(T0) - 86400, ends_at: S(T0) + 60 * 86400, ...extra });
const free = (input = 10, output = 10, extra = {}) => ({
  type: "message", model: "free/model:free", input_tokens: input, max_output_tokens: output, ...extra,
});

let w;
let api;
before(async () => {
  w = await start();
  api = client(w);
});

async function config(limits, extra = {}) {
  const r = await api.putConfig(onePlanConfig(limits, extra));
  assert.equal(r.status, 200, r.text);
}

const limitOf = (body, metric, window) => body.limits.find((l) => l.metric === metric && l.window === window);

describe("holds are never lost (item 4)", () => {
  test("an expired hold's late commit counts after 40 reserve + release cycles", async () => {
    await config([{ metric: "tokens", window: "day", max: 1_000_000 }], { hold_ttl_s: 60 });
    const h = userAuth(newUser("late"), sub("s1"));
    const r = await api.reserve(at(h, T0), free(100, 900));
    assert.equal(r.status, 200, r.text);
    const id = r.body.hold.id;
    // The hold's time runs out; 40 cheap holds come and go.
    for (let i = 0; i < 40; i++) {
      const t = T0 + 120_000 + i * 1000;
      const x = await api.reserve(at(h, t), free(1, 1));
      assert.equal(x.status, 200, x.text);
      assert.equal((await api.release(at(h, t), x.body.hold.id)).status, 200);
    }
    // Revision 1 answered 404 here: the expired hold had been pushed out.
    const c = await api.commit(at(h, T0 + 200_000), id, { input_tokens: 100, output_tokens: 400 });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.body.late, true);
    const u = await api.usage(at(h, T0 + 200_000));
    assert.equal(limitOf(u.body, "tokens", "day").used, 500);
  });

  test("a commit after release stays 409 hold_released after 40 other holds", async () => {
    await config([{ metric: "tokens", window: "day", max: 1_000_000 }]);
    const h = userAuth(newUser("rel"), sub("s1"));
    const r = await api.reserve(at(h, T0), free());
    const id = r.body.hold.id;
    assert.equal((await api.release(at(h, T0), id)).status, 200);
    for (let i = 0; i < 40; i++) {
      const x = await api.reserve(at(h, T0 + i), free(1, 1));
      await api.release(at(h, T0 + i), x.body.hold.id);
    }
    const c = await api.commit(at(h, T0 + 3_600_000), id, { input_tokens: 1, output_tokens: 1 });
    assert.equal(c.status, 409, c.text);
    assert.equal(c.body.code, "hold_released");
  });

  test("extend: moves the expiry, never past hold_max_ttl_s; 409 once closed", async () => {
    await config([{ metric: "tokens", window: "day", max: 1_000_000 }], { hold_ttl_s: 60, hold_max_ttl_s: 600 });
    const h = userAuth(newUser("ext"), sub("s1"));
    const r = await api.reserve(at(h, T0), free());
    const id = r.body.hold.id;
    const ext = (t, body) => w.json(`/v1/holds/${id}/extend`, { method: "POST", headers: at(h, t), body });
    let e = await ext(T0 + 50_000, { ttl_s: 120 });
    assert.equal(e.status, 200, e.text);
    assert.deepEqual(e.body, { hold_id: id, expires_at: new Date(T0 + 170_000).toISOString().replace(".000", "") });
    e = await ext(T0 + 160_000, { ttl_s: 100_000 });
    assert.equal(e.body.expires_at, new Date(T0 + 600_000).toISOString().replace(".000", ""));
    // Still open at +500 s thanks to the extension: it holds a concurrency slot and its estimate.
    let u = await api.usage(at(h, T0 + 500_000));
    assert.equal(u.body.holds.length, 1);
    e = await ext(T0 + 500_000, { ttl_s: 0 });
    assert.equal(e.status, 400);
    e = await ext(T0 + 500_000, { ttl_s: "x" });
    assert.equal(e.status, 400);
    e = await ext(T0 + 601_000, {});
    assert.equal(e.status, 409);
    assert.equal(e.body.code, "hold_expired");
    const c = await api.commit(at(h, T0 + 602_000), id, { input_tokens: 1, output_tokens: 1 });
    assert.equal(c.body.late, true);
    e = await ext(T0 + 603_000, {});
    assert.equal(e.body.code, "hold_committed");
    e = await w.json(`/v1/holds/h999/extend`, { method: "POST", headers: at(h, T0), body: {} });
    assert.equal(e.status, 404);
  });

  test("on_hold_expiry charge: the estimate is the usage until a late commit replaces it", async () => {
    await config([{ metric: "tokens", window: "day", max: 1_000_000 }], { hold_ttl_s: 60, on_hold_expiry: "charge" });
    const h = userAuth(newUser("chg"), sub("s1"));
    const r = await api.reserve(at(h, T0), free(100, 900));
    let u = await api.usage(at(h, T0 + 61_000));
    assert.equal(limitOf(u.body, "tokens", "day").used, 1000);
    assert.deepEqual(u.body.holds, []);
    const c = await api.commit(at(h, T0 + 70_000), r.body.hold.id, { input_tokens: 100, output_tokens: 20 });
    assert.equal(c.body.late, true);
    u = await api.usage(at(h, T0 + 70_000));
    assert.equal(limitOf(u.body, "tokens", "day").used, 120);
  });

  test("a second commit with other figures answers 409 hold_committed and changes nothing", async () => {
    await config([{ metric: "tokens", window: "day", max: 1_000_000 }]);
    const h = userAuth(newUser("dup"), sub("s1"));
    const r = await api.reserve(at(h, T0), free(100, 900));
    const id = r.body.hold.id;
    assert.equal((await api.commit(at(h, T0), id, { input_tokens: 100, output_tokens: 300 })).status, 200);
    // Revision 1 answered 200 duplicate here, hiding a zeroing attempt.
    const z = await api.commit(at(h, T0), id, { input_tokens: 0, output_tokens: 0 });
    assert.equal(z.status, 409);
    assert.equal(z.body.code, "hold_committed");
    const again = await api.commit(at(h, T0), id, { input_tokens: 100, output_tokens: 300 });
    assert.equal(again.status, 200);
    assert.equal(again.body.duplicate, true);
    const u = await api.usage(at(h, T0));
    assert.equal(limitOf(u.body, "tokens", "day").used, 400);
  });
});

describe("windows (items 5, 7, 9, 10)", () => {
  test("alternating two subscription ids never resets the subscription count", async () => {
    await config([{ metric: "messages", window: "subscription", max: 3 }]);
    const u = newUser("subs");
    const a = userAuth(u, sub("A"));
    const b = userAuth(u, sub("B"));
    // Revision 1 kept one counter and reset it on every switch: 6 messages passed.
    for (const [h, expect] of [[a, 200], [b, 200], [a, 200], [b, 200], [a, 200], [b, 200], [a, 429], [b, 429]]) {
      const r = await api.reserve(at(h, T0), free());
      assert.equal(r.status, expect, r.text);
      if (r.status === 200) await api.commit(at(h, T0), r.body.hold.id, { input_tokens: 1, output_tokens: 1 });
    }
    const snap = await api.usage(at(a, T0));
    assert.equal(limitOf(snap.body, "messages", "subscription").used, 3);
  });

  test("a limit removed and added back finds its count", async () => {
    const limit = { metric: "tokens", window: "day", max: 1000 };
    const other = { metric: "messages", window: "day", max: 1000 };
    await config([limit, other]);
    const h = userAuth(newUser("cfg"), sub("s1"));
    const r = await api.reserve(at(h, T0), free(300, 300));
    await api.commit(at(h, T0), r.body.hold.id, { input_tokens: 300, output_tokens: 300 });
    await config([other]);
    // A request while the limit is gone runs housekeeping (revision 1 dropped the counter here).
    assert.equal((await api.reserve(at(h, T0 + 1000), { type: "upload", chat_id: "c", files: [{ name: "a.txt", size: 1 }] })).status, 200);
    await config([limit, other]);
    const snap = await api.usage(at(h, T0 + 2000));
    assert.equal(limitOf(snap.body, "tokens", "day").used, 600);
    const d = await api.check(at(h, T0 + 2000), free(300, 200));
    assert.equal(d.status, 429);
    assert.equal(d.body.code, "insufficient_budget");
  });

  test("500 chats: every chat counted, the snapshot lists each; idle chats are forgotten after 90 days", async () => {
    await config([{ metric: "files", window: "chat", max: 5 }, { metric: "files", window: "lifetime", max: 1_000_000 }]);
    const h = userAuth(newUser("chats"), sub("s1", { ends_at: S(T0) + 400 * 86400 }), { exp: S(T0) + 400 * 86400 });
    for (let i = 0; i < 500; i++) {
      const r = await api.reserve(at(h, T0), { type: "upload", chat_id: `c${i}`, files: [{ name: "a.txt", size: 1 }] });
      assert.equal(r.status, 200, r.text);
      await api.commit(at(h, T0), r.body.hold.id, { input_tokens: 0, output_tokens: 0 });
    }
    const t1 = performance.now();
    const snap = await api.usage(at(h, T0));
    const ms = performance.now() - t1;
    assert.equal(snap.body.limits.filter((l) => l.window === "chat").length, 500);
    assert.ok(ms < 5000, `snapshot of 500 chats took ${ms} ms`);
    // 90 days later (one chat active meanwhile), the idle ones are gone; the lifetime count stays.
    const later = T0 + 60 * 86400_000;
    const r = await api.reserve(at(h, later), { type: "upload", chat_id: "c7", files: [{ name: "a.txt", size: 1 }] });
    await api.commit(at(h, later), r.body.hold.id, { input_tokens: 0, output_tokens: 0 });
    const snap2 = await api.usage(at(h, T0 + 91 * 86400_000));
    const chats = snap2.body.limits.filter((l) => l.window === "chat");
    assert.deepEqual(chats.map((c) => [c.chat_id, c.used]), [["c7", 2]]);
    assert.equal(limitOf(snap2.body, "files", "lifetime").used, 501);
  });

  test("messages · 1h · max 2: the third is refused with Retry-After no longer than the window", async () => {
    await config([{ metric: "messages", window: "1h", max: 2 }]);
    const h = userAuth(newUser("ra"), sub("s1"));
    const t = T0 + 37_000; // not on a bucket boundary
    for (let i = 0; i < 2; i++) {
      const r = await api.reserve(at(h, t), free());
      await api.commit(at(h, t), r.body.hold.id, { input_tokens: 1, output_tokens: 1 });
    }
    const d = await api.reserve(at(h, t), free());
    assert.equal(d.status, 429);
    // Revision 1 said 3624 (past the end of its bucket).
    assert.equal(d.body.retry_after_s, 3600);
    assert.equal(d.headers.get("retry-after"), "3600");
    assert.equal(d.body.violations[0].resets_at, new Date(t + 3600_000).toISOString().replace(".000", ""));
    // One second before, still refused; at that moment, allowed.
    assert.equal((await api.check(at(h, t + 3599_000), free())).status, 429);
    assert.equal((await api.check(at(h, t + 3600_000), free())).status, 200);
  });
});

describe("idempotency keys (item 6)", () => {
  test("a retried key holds once even after 100 other reserves", async () => {
    await config([{ metric: "tokens", window: "day", max: 1_000_000 }]);
    const h = userAuth(newUser("idem"), sub("s1"));
    const first = await api.reserve(at(h, T0), free(100, 100), "key-1");
    assert.equal(first.status, 200);
    for (let i = 0; i < 100; i++) {
      const x = await api.reserve(at(h, T0 + 10), free(1, 1));
      await api.release(at(h, T0 + 10), x.body.hold.id);
    }
    const again = await api.reserve(at(h, T0 + 200_000), free(100, 100), "key-1");
    assert.equal(again.status, 200);
    assert.equal(again.body.hold.id, first.body.hold.id);
    const u = await api.usage(at(h, T0 + 200_000));
    assert.equal(u.body.holds.length, 1);
    assert.equal(limitOf(u.body, "tokens", "day").used, 200);
    // 23 hours later still the same answer, and nothing held again.
    const day = await api.reserve(at(h, T0 + 23 * 3_600_000), free(100, 100), "key-1");
    assert.equal(day.body.hold.id, first.body.hold.id);
    assert.equal((await api.usage(at(h, T0 + 23 * 3_600_000))).body.holds.length, 0);
    // 24 hours after first use the key is free again.
    const late = await api.reserve(at(h, T0 + 86_400_000), free(100, 100), "key-1");
    assert.equal(late.status, 200);
    assert.notEqual(late.body.hold.id, first.body.hold.id);
  });

  test("the same key with another body answers 422 idempotency_key_reused and holds nothing", async () => {
    await config([{ metric: "tokens", window: "day", max: 1_000_000 }]);
    const h = userAuth(newUser("idem2"), sub("s1"));
    assert.equal((await api.reserve(at(h, T0), free(100, 100), "key-2")).status, 200);
    const other = await api.reserve(at(h, T0), free(5000, 5000), "key-2");
    assert.equal(other.status, 422, other.text);
    assert.equal(other.body.code, "idempotency_key_reused");
    // Key order and white space do not make another request.
    const same = await w.json("/v1/reserve", {
      method: "POST",
      headers: { ...at(h, T0), "idempotency-key": "key-2", "content-type": "application/json" },
      body: ` {"max_output_tokens":100, "input_tokens":100,"model":"free/model:free","type":"message"}`,
    });
    assert.equal(same.status, 200, same.text);
    const u = await api.usage(at(h, T0));
    assert.equal(u.body.holds.length, 1);
    assert.equal(limitOf(u.body, "tokens", "day").used, 200);
  });

  test("a denial is not remembered: the same key is decided afresh", async () => {
    await config([{ metric: "messages", window: "1h", max: 1 }]);
    const h = userAuth(newUser("idem3"), sub("s1"));
    const r = await api.reserve(at(h, T0), free());
    await api.commit(at(h, T0), r.body.hold.id, { input_tokens: 1, output_tokens: 1 });
    const denied = await api.reserve(at(h, T0 + 1000), free(), "key-3");
    assert.equal(denied.status, 429);
    // Revision 1 replayed the 429 for an hour.
    const later = await api.reserve(at(h, T0 + 3_601_000), free(), "key-3");
    assert.equal(later.status, 200, later.text);
  });
});

describe("upgrades never lose books", () => {
  test("Durable Object state written by revision 1 loads and keeps every count, hold and key", async () => {
    const fixture = path.join(ROOT, "tests/fixtures/rev1-state");
    const expect = JSON.parse(readFileSync(path.join(ROOT, "tests/fixtures/rev1-expect.json"), "utf8"));
    const dir = tempDir();
    try {
      cpSync(fixture, dir, { recursive: true });
      // Put the user's dev clock back to the moment the state was written
      // (the alarm runs on it), so the test does not depend on the date it runs.
      const udir = path.join(dir, "do/-UserLedger");
      for (const f of readdirSync(udir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite")) {
        const db = new DatabaseSync(path.join(udir, f));
        db.prepare("UPDATE books SET clock_offset_ms = ?").run(expect.t0_ms + 306_000 - Date.now());
        db.close();
      }
      const w1 = await start({ persistDir: dir });
      try {
        const a1 = client(w1);
        const now = expect.t0_ms + 306_000;
        const ex = await w1.json("/v1/admin/users/rev1-alice", { headers: at(auth.admin(), now) });
        assert.equal(ex.status, 200, ex.text);
        assert.deepEqual(ex.body.limits, expect.explain_at_306s.limits);
        assert.deepEqual(ex.body.holds.map((h) => h.id), [expect.holds.open]);
        const h = userAuth("rev1-alice", expect.subscription);
        // The expired hold commits late; the released one is refused; the committed one is a duplicate.
        let c = await a1.commit(at(h, now + 1000), expect.holds.expired, { input_tokens: 10, output_tokens: 10 });
        assert.equal(c.status, 200, c.text);
        assert.equal(c.body.late, true);
        c = await a1.commit(at(h, now + 1000), expect.holds.released, { input_tokens: 1, output_tokens: 1 });
        assert.equal(c.body.code, "hold_released");
        c = await a1.commit(at(h, now + 1000), expect.holds.committed, { input_tokens: 100, output_tokens: 200 });
        assert.equal(c.status, 200, c.text);
        assert.equal(c.body.duplicate, true);
        c = await a1.commit(at(h, now + 1000), expect.holds.open, { input_tokens: 100, output_tokens: 100 });
        assert.equal(c.status, 200, c.text);
        assert.equal(c.body.late, false);
        // A key revision 1 remembered replays its answer.
        const msg = { type: "message", model: "paid/m", input_tokens: 100, max_output_tokens: 400, chat_id: "c1" };
        const r = await a1.reserve(at(h, now + 2000), msg, "k-committed");
        assert.equal(r.body.hold.id, expect.holds.committed);
        const u = await a1.usage(at(h, now + 2000));
        const day = limitOf(u.body, "tokens", "day");
        // 300 (h1) + 20 (h4, late) + 200 (h5)
        assert.equal(day.used, 520);
        assert.equal(u.body.limits.find((l) => l.window === "chat").used, 2);
        assert.equal(limitOf(u.body, "tokens", "subscription").used, 520);
        // The discount code and the config came through too.
        const d = await a1.getDiscount("REV1CODE");
        assert.equal(d.status, 200, d.text);
        assert.equal(d.body.uses, 2);
        const cfg = await a1.getConfig();
        assert.equal(cfg.body.revision, 1);
        assert.deepEqual(cfg.body.config.plans, expect.config.plans.map((p) => cfg.body.config.plans.find((q) => q.id === p.id)));
      } finally {
        await w1.stop();
      }
    } finally {
      removeDir(dir);
    }
  });
});
