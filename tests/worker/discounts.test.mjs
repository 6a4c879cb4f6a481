// Discount codes (issue 8, items 8 and 16): a redemption needs a valid
// subscription (SPEC §4), and per-user counts are SQLite rows, so a code
// redeemed by ten thousand users works like one redeemed by ten.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { removeDir, start, stop, tempDir } from "./harness.mjs";
import { client, newKey, newUser, nowS, sub, userAuth } from "./util.mjs";

let w;
let api;
before(async () => {
  w = await start();
  api = client(w);
});
after(stop);

const OPEN = { max_uses: 100, max_uses_per_user: 2, expires_at: "2099-01-01T00:00:00Z" };

describe("a redemption needs a valid subscription (item 16)", () => {
  test("attack: a token without a subscription redeems a code open to every plan", async () => {
    assert.equal((await api.putDiscount("OPEN-ALL", OPEN)).status, 201);
    const r = await api.redeem(userAuth(newUser("nosub"), null), "OPEN-ALL", newKey());
    assert.equal(r.status, 403, r.text);
    assert.equal(r.body.code, "subscription_missing");
    assert.equal(r.body.allowed, false);
    assert.equal((await api.getDiscount("OPEN-ALL")).body.uses, 0);
  });

  test("attack: an expired, inactive or not yet started subscription redeems", async () => {
    const t = nowS();
    const cases = [
      [{ ...sub("free"), ends_at: t - 10 }, "subscription_expired"],
      [{ ...sub("free"), active: false }, "subscription_inactive"],
      [{ ...sub("free"), starts_at: t + 3600 }, "subscription_inactive"],
    ];
    for (const [s, code] of cases) {
      const h = userAuth(newUser("badsub"), s);
      const r = await api.redeem(h, "OPEN-ALL", newKey());
      assert.equal(r.status, 403, `${code}: ${r.text}`);
      assert.equal(r.body.code, code);
      // The pre-check says the same.
      const c = await api.check(h, { type: "discount", code: "OPEN-ALL" });
      assert.equal(c.status, 403, c.text);
      assert.equal(c.body.code, code);
    }
    assert.equal((await api.getDiscount("OPEN-ALL")).body.uses, 0);
    // A valid subscription redeems.
    const ok = await api.redeem(userAuth(newUser("goodsub"), sub("free")), "OPEN-ALL", newKey());
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.body, { redeemed: true, code: "OPEN-ALL", uses: 1, uses_by_user: 1 });
  });
});

describe("per-user counts are rows (item 8)", () => {
  test("10,000 distinct users: the caps hold and a redemption still works at the end", { timeout: 240_000 }, async () => {
    const N = 10_000;
    const code = "MANY-USERS";
    // Long user ids (128 characters) make a stored map of users as large as
    // it gets: rows do not care.
    const uid = (i) => `u${String(i).padStart(8, "0")}-`.padEnd(128, "x");
    assert.equal((await api.putDiscount(code, { max_uses: N + 1, max_uses_per_user: 1 })).status, 201);
    const t0 = Date.now();
    const uses = new Set();
    const BATCH = 50;
    const lap = [];
    for (let i = 0; i < N; i += BATCH) {
      if (i % 1000 === 0) lap.push(Date.now());
      const rs = await Promise.all(
        Array.from({ length: Math.min(BATCH, N - i) }, (_, j) => api.redeem(userAuth(uid(i + j), sub("free")), code, newKey())),
      );
      for (const r of rs) {
        assert.equal(r.status, 200, r.text);
        assert.equal(r.body.uses_by_user, 1);
        uses.add(r.body.uses);
      }
    }
    const elapsed = Date.now() - t0;
    lap.push(Date.now());
    assert.equal(uses.size, N, "every redemption got its own count");
    // Rows: a redemption costs the same at the 10,000th user as at the
    // first. (Before rows, one stored value grew with every user and each
    // redemption rewrote it: this test took 183 s there, 77 s with rows, on
    // the same machine.) A generous bound against noise.
    const firstLap = lap[1] - lap[0];
    const lastLap = lap.at(-1) - lap.at(-2);
    assert.ok(lastLap < 4 * firstLap + 2000, `first 1,000: ${firstLap} ms, last 1,000: ${lastLap} ms`);
    // Per-user cap: every user is at 1.
    for (const i of [0, 1, N / 2, N - 1]) {
      const r = await api.redeem(userAuth(uid(i), sub("free")), code, newKey());
      assert.equal(r.status, 403, r.text);
      assert.equal(r.body.code, "discount_user_exhausted");
    }
    // One more user: the last use.
    const last = await api.redeem(userAuth(newUser("last"), sub("free")), code, newKey());
    assert.equal(last.status, 200, last.text);
    assert.equal(last.body.uses, N + 1);
    // The total cap.
    const over = await api.redeem(userAuth(newUser("over"), sub("free")), code, newKey());
    assert.equal(over.status, 403, over.text);
    assert.equal(over.body.code, "discount_exhausted");
    const g = (await api.getDiscount(code)).body;
    assert.equal(g.uses, N + 1);
    assert.equal(g.users, N + 1);
    console.log(`# ${N} redemptions by distinct users in ${elapsed} ms (first 1,000: ${firstLap} ms, last: ${lastLap} ms)`);
  });

  test("idempotency keys still hold with rows", async () => {
    assert.equal((await api.putDiscount("IDEM-ROWS", { max_uses: 5, max_uses_per_user: 3 })).status, 201);
    const u = newUser("idem");
    const h = userAuth(u, sub("free"));
    const k = newKey();
    const a = await api.redeem(h, "IDEM-ROWS", k);
    const b = await api.redeem(h, "IDEM-ROWS", k);
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(b.body, a.body);
    // The same key from another user is that user's own.
    const other = await api.redeem(userAuth(newUser("idem2"), sub("free")), "IDEM-ROWS", k);
    assert.equal(other.body.uses, 2);
    const c = await api.redeem(h, "IDEM-ROWS", newKey());
    assert.deepEqual([c.body.uses, c.body.uses_by_user], [3, 2]);
    const g = (await api.getDiscount("IDEM-ROWS")).body;
    assert.deepEqual([g.uses, g.users], [3, 2]);
  });
});

describe("a code stored by the build before rows still loads (upgrade)", () => {
  const fixture = JSON.parse(readFileSync(new URL("../fixtures/discount-code-v1.json", import.meta.url), "utf8"));

  /** The SQLite file of the only DiscountCode object in `dir`. */
  function codeFile(dir) {
    const ns = readdirSync(path.join(dir, "do")).find((d) => d.endsWith("DiscountCode"));
    const files = readdirSync(path.join(dir, "do", ns)).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
    assert.equal(files.length, 1, files.join(","));
    return path.join(dir, "do", ns, files[0]);
  }

  test("the old single-value row moves into rows: every count, the caps and the keys kept", async () => {
    const dir = tempDir();
    let w1;
    let w2;
    try {
      const code = fixture.expect.code;
      // The object exists (its SQLite file), empty: then the old build's row is written into it.
      w1 = await start({ persistDir: dir });
      assert.equal((await client(w1).getDiscount(code)).status, 404);
      await w1.stop();
      const db = new DatabaseSync(codeFile(dir));
      db.exec(fixture.schema);
      db.prepare("INSERT INTO discount (id, state, updated_ms) VALUES (?, ?, ?)").run(fixture.row.id, fixture.row.state, fixture.row.updated_ms);
      db.close();

      w2 = await start({ persistDir: dir });
      const api2 = client(w2);
      const g = await api2.getDiscount(code);
      assert.equal(g.status, 200, g.text);
      assert.equal(g.body.uses, fixture.expect.uses);
      assert.equal(g.body.users, fixture.expect.users);
      assert.equal(g.body.max_uses_per_user, 2);
      assert.deepEqual(g.body.plans, ["free", "basic"]);
      // alice is at the per-user cap of 2.
      const a = await api2.redeem(userAuth("alice", sub("free")), code, newKey());
      assert.equal(a.status, 403, a.text);
      assert.equal(a.body.code, "discount_user_exhausted");
      // bob's old key answers its first answer, counted once.
      const b = await api2.redeem(userAuth("bob", sub("basic")), code, "key-b1");
      assert.deepEqual(b.body, { redeemed: true, code, uses: 3, uses_by_user: 1 });
      // bob's second use counts on top of the old ones.
      const b2 = await api2.redeem(userAuth("bob", sub("basic")), code, newKey());
      assert.deepEqual(b2.body, { redeemed: true, code, uses: 5, uses_by_user: 2 });
      const g2 = (await api2.getDiscount(code)).body;
      assert.deepEqual([g2.uses, g2.users], [5, 3]);
      await w2.stop();

      // The move happened once: the old table is gone, the rows are there.
      const check = new DatabaseSync(codeFile(dir));
      const tables = check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => r.name);
      assert.ok(!tables.includes("discount"), tables.join(","));
      const rows = Object.fromEntries(check.prepare("SELECT user, uses FROM redeemers").all().map((r) => [r.user, r.uses]));
      assert.deepEqual(rows, { ...fixture.expect.by_user, bob: 2 });
      check.close();
    } finally {
      await w1?.stop();
      await w2?.stop();
      removeDir(dir);
    }
  });
});
