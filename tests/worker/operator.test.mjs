// Operator tools (SPEC §12) over HTTP against the built Worker in workerd:
// config history and rollback, a config's discount codes, usage import, and
// the move of a config stored before history existed.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { auth, removeDir, start, stop, tempDir } from "./harness.mjs";
import { client, newKey, newUser, onePlanConfig, sub, userAuth } from "./util.mjs";

after(stop);

const admin = auth.admin();
const limits = [
  { metric: "tokens", window: "1h", max: 1000 },
  { metric: "tokens", window: "day", max: 5000 },
  { metric: "tokens", window: "subscription", max: 50000 },
  { metric: "messages", scope: "free", window: "month", max: 100 },
  { metric: "cost_usd", window: "subscription", max: 5 },
  { metric: "files", window: "chat", max: 3 },
];
const msg = (tokens) => ({ type: "message", model: "free/model:free", input_tokens: tokens, max_output_tokens: 0 });

describe("config history and rollback", () => {
  test("every accepted PUT is kept; list, read one, roll back as a new revision", async () => {
    const w = await start();
    const api = client(w);
    let r = await w.json("/v1/admin/config/revisions", { headers: admin });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { revisions: [] });

    const c1 = onePlanConfig([{ metric: "messages", window: "1h", max: 10 }]);
    const c2 = onePlanConfig([{ metric: "messages", window: "1h", max: 1 }]);
    r = await w.json("/v1/admin/config?note=" + encodeURIComponent("first: ۱۰ پیام"), { method: "PUT", headers: admin, body: c1 });
    assert.equal(r.status, 200);
    assert.equal(r.body.revision, 1);
    assert.deepEqual(r.body.discounts_applied, []);
    r = await api.putConfig(c2);
    assert.equal(r.body.revision, 2);
    // A refused config is not a revision.
    r = await api.putConfig({ ...c2, timezone: "Mars/Olympus" });
    assert.equal(r.status, 400);

    r = await w.json("/v1/admin/config/revisions", { headers: admin });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.revisions.map((x) => x.revision), [2, 1]);
    const [two, one] = r.body.revisions;
    assert.equal(one.note, "first: ۱۰ پیام");
    assert.equal("note" in two, false);
    assert.match(one.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(one.size, Buffer.byteLength(JSON.stringify(c1)), "bytes of the stored JSON");

    r = await w.json("/v1/admin/config?revision=1", { headers: admin });
    assert.equal(r.status, 200);
    assert.equal(r.body.revision, 1);
    assert.equal(r.body.note, "first: ۱۰ پیام");
    assert.deepEqual(r.body.config, c1);
    assert.equal(r.body.size, one.size);
    r = await w.json("/v1/admin/config?revision=0", { headers: admin });
    assert.equal(r.status, 200);
    assert.equal(r.body.config.plans[0].id, "free", "revision 0 is the built-in default");

    // Revision 2 allows one message an hour; rolling back to 1 restores ten.
    const h = userAuth(newUser(), sub("p"));
    assert.equal((await api.reserve(h, msg(1))).status, 200);
    assert.equal((await api.reserve(h, msg(1))).status, 429);
    r = await w.json("/v1/admin/config/rollback", { method: "POST", headers: admin, body: { revision: 1 } });
    assert.equal(r.status, 200);
    assert.equal(r.body.revision, 3);
    assert.equal(r.body.rolled_back_to, 1);
    assert.deepEqual(r.body.config, c1);
    assert.equal((await api.reserve(h, msg(1))).status, 200, "the previous answer is back");
    r = await api.getConfig();
    assert.equal(r.body.revision, 3);
    assert.deepEqual(r.body.config, c1);
    r = await w.json("/v1/admin/config/revisions?limit=2", { headers: admin });
    assert.deepEqual(r.body.revisions.map((x) => [x.revision, x.note ?? null]), [[3, "rollback to revision 1"], [2, null]]);
    r = await w.json("/v1/admin/config/revisions?before=3&limit=1", { headers: admin });
    assert.deepEqual(r.body.revisions.map((x) => x.revision), [2]);
    // Rolling back to the default config, with a note.
    r = await w.json("/v1/admin/config/rollback", { method: "POST", headers: admin, body: { revision: 0, note: "start over" } });
    assert.equal(r.status, 200);
    assert.equal(r.body.revision, 4);
    r = await w.json("/v1/admin/config/revisions?limit=1", { headers: admin });
    assert.equal(r.body.revisions[0].note, "start over");
    await w.stop();
  });

  test("bad history requests answer 4xx and change nothing", async () => {
    const w = await start();
    const api = client(w);
    assert.equal((await api.putConfig(onePlanConfig(limits))).status, 200);
    const post = (body) => w.json("/v1/admin/config/rollback", { method: "POST", headers: admin, body });
    let r = await post({ revision: 9 });
    assert.equal(r.status, 404);
    assert.equal(r.body.code, "revision_unknown");
    r = await post({});
    assert.equal(r.status, 400);
    assert.deepEqual(r.body.errors.map((e) => e.path), ["revision"]);
    r = await post({ revision: -1, extra: 1, note: 5 });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body.errors.map((e) => e.path).sort(), ["extra", "note", "revision"]);
    r = await post({ revision: 1, note: "x".repeat(501) });
    assert.equal(r.status, 400);
    assert.equal(r.body.errors[0].path, "note");
    r = await w.json("/v1/admin/config?revision=abc", { headers: admin });
    assert.equal(r.status, 400);
    r = await w.json("/v1/admin/config?revision=7", { headers: admin });
    assert.equal(r.status, 404);
    r = await w.json("/v1/admin/config/revisions?limit=-1", { headers: admin });
    assert.equal(r.status, 400);
    r = await w.json("/v1/admin/config?note=%0Abad", { method: "PUT", headers: admin, body: onePlanConfig(limits) });
    assert.equal(r.status, 400);
    // Admin only.
    const user = userAuth(newUser(), sub("p"));
    for (const [p, m, body] of [
      ["/v1/admin/config/revisions", "GET"],
      ["/v1/admin/config/rollback", "POST", { revision: 1 }],
      ["/v1/admin/config?revision=1", "GET"],
    ]) {
      r = await w.json(p, { method: m, headers: user, body });
      assert.equal(r.status, 401, p);
    }
    r = await w.json("/v1/admin/config/revisions", { method: "POST", headers: admin });
    assert.equal(r.status, 405);
    r = await w.json("/v1/admin/config/revisions", { headers: admin });
    assert.deepEqual(r.body.revisions.map((x) => x.revision), [1], "nothing was added");
    await w.stop();
  });

  test("a config stored before history existed is moved in with its revision", async () => {
    const dir = tempDir();
    try {
      const cfg = onePlanConfig([{ metric: "messages", window: "1h", max: 3 }]);
      let w = await start({ persistDir: dir });
      assert.equal((await client(w).putConfig(onePlanConfig(limits))).status, 200);
      await w.stop();
      // Rewrite the ConfigStore's SQLite as revision 1 of Tollgate left it:
      // one row (revision 7) in the table `config`, no `revisions`.
      const files = [];
      const walk = (d) => {
        for (const f of readdirSync(d)) {
          const p = path.join(d, f);
          if (statSync(p).isDirectory()) walk(p);
          else if (p.endsWith(".sqlite")) files.push(p);
        }
      };
      walk(dir);
      let rewritten = 0;
      for (const f of files) {
        const db = new DatabaseSync(f);
        const has = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'revisions'").get();
        if (has) {
          db.exec("DROP TABLE revisions");
          db.exec(`CREATE TABLE config (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL,
                   config TEXT NOT NULL, updated_ms INTEGER NOT NULL)`);
          db.prepare("INSERT INTO config VALUES (1, 7, ?, ?)").run(JSON.stringify(cfg), Date.UTC(2026, 10, 1));
          rewritten++;
        }
        db.close();
      }
      assert.equal(rewritten, 1, `one ConfigStore database among ${files.length}`);

      w = await start({ persistDir: dir });
      const api = client(w);
      let r = await api.getConfig();
      assert.equal(r.status, 200);
      assert.equal(r.body.revision, 7);
      assert.deepEqual(r.body.config, cfg);
      r = await w.json("/v1/admin/config/revisions", { headers: admin });
      assert.deepEqual(r.body.revisions.map((x) => [x.revision, x.at]), [[7, "2026-11-01T00:00:00Z"]]);
      const h = userAuth(newUser(), sub("p"));
      for (let i = 0; i < 3; i++) assert.equal((await api.reserve(h, msg(1))).status, 200);
      assert.equal((await api.reserve(h, msg(1))).status, 429, "the moved config decides");
      r = await api.putConfig(onePlanConfig(limits));
      assert.equal(r.body.revision, 8);
      r = await w.json("/v1/admin/config?revision=7", { headers: admin });
      assert.deepEqual(r.body.config, cfg);
      await w.stop();
      // And again after a restart: nothing moved twice, nothing lost.
      w = await start({ persistDir: dir });
      r = await w.json("/v1/admin/config/revisions", { headers: admin });
      assert.deepEqual(r.body.revisions.map((x) => x.revision), [8, 7]);
      await w.stop();
    } finally {
      removeDir(dir);
    }
  });
});

describe("discount codes in the config", () => {
  test("an accepted PUT applies each code; codes left out stay as they are", async () => {
    const w = await start();
    const api = client(w);
    assert.equal((await api.putDiscount("HANDMADE", { max_uses: 9 })).status, 201);
    const cfg = onePlanConfig(limits, {
      discounts: [
        { code: "WELCOME", max_uses: 2, max_uses_per_user: 1, expires_at: "2030-01-01T00:00:00Z" },
        { code: "PONLY", max_uses: null, max_uses_per_user: null, expires_at: null, plans: ["p"] },
      ],
    });
    let r = await api.putConfig(cfg);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.discounts_applied, ["WELCOME", "PONLY"]);
    r = await api.getDiscount("WELCOME");
    assert.equal(r.status, 200);
    assert.equal(r.body.max_uses, 2);
    assert.equal(r.body.expires_at, "2030-01-01T00:00:00Z");
    assert.deepEqual((await api.getDiscount("PONLY")).body.plans, ["p"]);
    // Redeemable like any code.
    const u = userAuth(newUser(), sub("p"));
    r = await api.redeem(u, "WELCOME", newKey());
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.uses, 1);
    // A second PUT changes the rule and keeps the uses; HANDMADE is untouched.
    cfg.discounts[0].max_uses = 1;
    r = await api.putConfig(cfg);
    assert.equal(r.status, 200);
    r = await api.getDiscount("WELCOME");
    assert.deepEqual([r.body.max_uses, r.body.uses], [1, 1]);
    r = await api.redeem(userAuth(newUser(), sub("p")), "WELCOME", newKey());
    assert.equal(r.status, 403);
    assert.equal(r.body.code, "discount_exhausted");
    assert.equal((await api.getDiscount("HANDMADE")).body.max_uses, 9);
    await w.stop();
  });

  test("bad codes refuse the whole config, every problem listed", async () => {
    const w = await start();
    const api = client(w);
    const before = (await api.getConfig()).body.revision;
    const r = await api.putConfig(
      onePlanConfig(limits, {
        discounts: [
          { code: "GOOD", max_uses: 1 },
          { code: "bad code", max_uses: 1 },
          { code: "X", expires_at: "soon", max_uses: -1, surprise: true },
          { code: "GOOD" },
          { max_uses: 1 },
        ],
      }),
    );
    assert.equal(r.status, 400);
    assert.deepEqual(
      r.body.errors.map((e) => e.path).sort(),
      [
        "discounts[1].code",
        "discounts[2].expires_at",
        "discounts[2].max_uses",
        "discounts[2].surprise",
        "discounts[3].code",
        "discounts[4].code",
      ].sort(),
    );
    assert.equal((await api.getConfig()).body.revision, before);
    assert.equal((await api.getDiscount("GOOD")).status, 404, "nothing was applied");
    await w.stop();
  });
});

describe("usage import", () => {
  const subscription = (id = "s-imp") => ({ ...sub("p", id) });
  const importUsage = (w, user, body, key) =>
    w.json(`/v1/admin/users/${encodeURIComponent(user)}/usage`, {
      method: "POST",
      headers: key ? { ...admin, "idempotency-key": key } : admin,
      body,
    });

  test("adds to the current periods, and the user's decisions count it", async () => {
    const w = await start();
    const api = client(w);
    assert.equal((await api.putConfig(onePlanConfig(limits))).status, 200);
    const user = newUser("imp");
    const s = subscription();
    let r = await importUsage(w, user, {
      subscription: s,
      entries: [
        { metric: "tokens", window: "1h", used: 990 },
        { metric: "tokens", window: "subscription", used: 40000 },
        { metric: "messages", scope: "free", window: "month", used: 99 },
        { metric: "cost_usd", window: "subscription", used: 4.5 },
        { metric: "files", window: "chat", chat_id: "c1", used: 3 },
      ],
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.imported, 5);
    const by = (w_, m) => r.body.limits.find((l) => l.window === w_ && l.metric === m);
    assert.equal(by("1h", "tokens").used, 990);
    assert.equal(by("subscription", "cost_usd").used, 4.5);
    assert.equal(by("chat", "files").chat_id, "c1");
    const h = userAuth(user, s);
    r = await api.check(h, msg(20));
    assert.equal(r.status, 429);
    assert.equal(r.body.code, "insufficient_budget");
    assert.equal(r.body.violations[0].window, "1h");
    assert.equal((await api.check(h, msg(10))).status, 200);
    r = await api.check(h, { type: "upload", chat_id: "c1", files: [{ name: "a.txt", size: 1 }] });
    assert.equal(r.status, 429);
    assert.equal((await api.check(h, { type: "upload", chat_id: "c2", files: [{ name: "a.txt", size: 1 }] })).status, 200);
    // The subscription window is keyed by the subscription's id: a new one starts afresh.
    r = await api.usage(h);
    assert.equal(r.body.limits.find((l) => l.window === "subscription" && l.metric === "tokens").used, 40000);
    r = await api.usage(userAuth(user, subscription("s-new")));
    assert.equal(r.body.limits.find((l) => l.window === "subscription" && l.metric === "tokens").used, 0);
    // The admin's view shows it.
    r = await api.explain(user);
    assert.equal(r.body.limits.find((l) => l.window === "1h").used, 990);
    await w.stop();
  });

  test("the same Idempotency-Key adds once", async () => {
    const w = await start();
    assert.equal((await client(w).putConfig(onePlanConfig(limits))).status, 200);
    const user = newUser("imp");
    const body = { subscription: subscription(), entries: [{ metric: "tokens", window: "day", used: 100 }] };
    const a = await importUsage(w, user, body, "move-1");
    const b = await importUsage(w, user, body, "move-1");
    assert.equal(a.status, 200);
    assert.deepEqual(b.body, a.body);
    assert.equal(a.body.limits[0].used, 100);
    const c = await importUsage(w, user, body, "move-2");
    assert.equal(c.body.limits[0].used, 200);
    const d = await importUsage(w, user, body);
    assert.equal(d.body.limits[0].used, 300, "without a key every call adds");
    // The key with another body, or a key a reserve used: 422, nothing added.
    const other = { ...body, entries: [{ metric: "tokens", window: "day", used: 7 }] };
    let r = await importUsage(w, user, other, "move-1");
    assert.equal(r.status, 422);
    assert.equal(r.body.code, "idempotency_key_reused");
    const h = userAuth(user, subscription());
    assert.equal((await client(w).reserve(h, msg(1), "shared-key")).status, 200);
    r = await importUsage(w, user, body, "shared-key");
    assert.equal(r.status, 422);
    r = await client(w).explain(user);
    assert.equal(r.body.limits.find((l) => l.metric === "tokens" && l.window === "day").used, 301);
    await w.stop();
  });

  test("bad entries answer 400 listing each, and nothing is added", async () => {
    const w = await start();
    const api = client(w);
    assert.equal((await api.putConfig(onePlanConfig(limits))).status, 200);
    const user = newUser("imp");
    let r = await importUsage(w, user, {
      subscription: subscription(),
      entries: [
        { metric: "tokens", window: "1h", used: 10 },
        { metric: "tokenz", window: "1h", used: 1 },
        { metric: "tokens", window: "1w", used: 1 },
        { metric: "tokens", window: "day", used: -1 },
        { metric: "files", window: "chat", used: 1 },
        { metric: "tokens", window: "day", used: 1, chat_id: "c" },
        { metric: "tokens", window: "day", used: 1.5 },
        "nope",
      ],
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.code, "bad_request");
    assert.deepEqual(
      r.body.errors.map((e) => e.path),
      ["entries[1].metric", "entries[2].window", "entries[3].used", "entries[4].chat_id", "entries[5].chat_id", "entries[6].used", "entries[7]"],
    );
    // Well-formed, but not limits of the plan.
    r = await importUsage(w, user, {
      subscription: subscription(),
      entries: [
        { metric: "tokens", window: "1h", used: 10 },
        { metric: "tokens", window: "week", used: 1 },
        { metric: "images", window: "day", used: 1 },
      ],
    });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body.errors.map((e) => e.path), ["entries[1]", "entries[2]"]);
    assert.match(r.body.errors[0].reason, /no limit on tokens · all · week/);
    r = await importUsage(w, user, { subscription: { ...subscription(), plan: "gold" }, entries: [] });
    assert.equal(r.status, 400);
    assert.equal(r.body.errors[0].path, "subscription.plan");
    r = await importUsage(w, user, { entries: [] });
    assert.equal(r.status, 400);
    assert.equal(r.body.errors[0].path, "subscription");
    r = await api.explain(user);
    assert.ok(r.body.limits.length === 0 || r.body.limits.every((l) => l.used === 0), "nothing was added");
    assert.deepEqual(r.body.counters, []);
    // Bad user id, bad key, not admin.
    r = await importUsage(w, "bad user", { subscription: subscription(), entries: [] });
    assert.equal(r.status, 400);
    r = await importUsage(w, user, { subscription: subscription(), entries: [] }, "k".repeat(256));
    assert.equal(r.status, 400);
    assert.equal(r.body.errors[0].path, "Idempotency-Key");
    r = await w.json(`/v1/admin/users/${user}/usage`, {
      method: "POST",
      headers: userAuth(user, subscription()),
      body: { subscription: subscription(), entries: [] },
    });
    assert.equal(r.status, 401);
    await w.stop();
  });
});
