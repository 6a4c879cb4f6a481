// Durability: the runtime stopped mid-load and started again on the same
// persist directory keeps every committed count; holds left open are
// released by the Durable Object's alarm.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { removeDir, start, stop, tempDir } from "./harness.mjs";
import { client, newKey, newUser, onePlanConfig, sub, userAuth } from "./util.mjs";

after(stop);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ESTIMATE = 1000; // tokens a reserve holds; a commit records 1

describe("restart", () => {
  test("stopped mid-load: every 200 commit is still counted after a restart", async () => {
    const dir = tempDir();
    try {
      let w = await start({ persistDir: dir });
      let api = client(w);
      const cfg = onePlanConfig([
        { metric: "tokens", window: "lifetime", max: 1e12 },
        { metric: "messages", window: "lifetime", max: 1e9 },
      ]);
      assert.equal((await api.putConfig(cfg)).status, 200);
      const users = [newUser("r"), newUser("r")];
      const committed = new Map(users.map((u) => [u, new Set()]));
      const attempted = new Map(users.map((u) => [u, new Set()]));
      let stopping = false;
      let answered = 0;
      const lane = async (u) => {
        const h = userAuth(u, sub("p"));
        const a = { type: "message", model: "free/model:free", input_tokens: 0, max_output_tokens: ESTIMATE };
        while (!stopping) {
          try {
            const r = await api.reserve(h, a, newKey());
            if (r.status !== 200) continue;
            attempted.get(u).add(r.body.hold.id);
            const c = await api.commit(h, r.body.hold.id, { input_tokens: 0, output_tokens: 1 });
            if (c.status === 200) {
              committed.get(u).add(r.body.hold.id);
              answered++;
            }
          } catch {
            return; // the runtime went away under us
          }
        }
      };
      const lanes = users.flatMap((u) => [lane(u), lane(u), lane(u), lane(u)]);
      const deadline = Date.now() + 30_000;
      while (answered < 30 && Date.now() < deadline) await sleep(5);
      assert.ok(answered >= 30, `only ${answered} commits answered in 30 s`);
      // Stop the runtime while requests are in flight.
      const disposing = w.stop();
      stopping = true;
      await disposing;
      await Promise.all(lanes);

      w = await start({ persistDir: dir });
      api = client(w);
      for (const u of users) {
        const e = await api.explain(u);
        assert.equal(e.status, 200, e.text);
        const tokens = e.body.limits.find((l) => l.metric === "tokens").used;
        const open = e.body.holds.length;
        const committedStored = e.body.closed_holds.filter((c) => c.end === "committed").map((c) => c.id);
        // Every 200 commit is stored as committed …
        for (const id of committed.get(u)) assert.ok(committedStored.includes(id), `${u}: ${id} lost`);
        // … and counted: 1 token per committed hold, the estimate per open one.
        assert.equal(tokens, committedStored.length + open * ESTIMATE, JSON.stringify(e.body.holds));
        assert.ok(committedStored.length >= committed.get(u).size);
        assert.ok(committedStored.length <= attempted.get(u).size);
      }
      await w.stop();
    } finally {
      removeDir(dir);
    }
  });

  test("holds left open are released by the alarm (also across a restart; hold_ttl_s 2)", async () => {
    const dir = tempDir();
    try {
      let w = await start({ persistDir: dir });
      let api = client(w);
      const cfg = onePlanConfig([{ metric: "tokens", window: "lifetime", max: 1e9 }], { hold_ttl_s: 2 });
      assert.equal((await api.putConfig(cfg)).status, 200);
      const a = { type: "message", model: "free/model:free", input_tokens: 10, max_output_tokens: 90 };
      const stay = newUser("alarm");
      const moved = newUser("alarm");
      const hold3 = async (u) => {
        const rs = await Promise.all([0, 1, 2].map(() => api.reserve(userAuth(u, sub("p")), a, newKey())));
        assert.deepEqual(rs.map((r) => r.status), [200, 200, 200]);
        const e = await api.explain(u);
        assert.equal(e.body.open_holds, 3);
        assert.equal(e.body.limits[0].used, 300);
      };
      // `moved` lives through a restart before its alarm is due; `stay` is
      // served by the new runtime only.
      await hold3(moved);
      await w.stop();
      w = await start({ persistDir: dir });
      api = client(w);
      await hold3(stay);
      // The admin explain runs no housekeeping: only the alarm can empty the stored holds.
      let e;
      for (let i = 0; i < 60; i++) {
        await sleep(100);
        e = await Promise.all([stay, moved].map((u) => api.explain(u)));
        if (e.every((x) => x.body.open_holds === 0)) break;
      }
      for (const x of e) {
        assert.equal(x.body.open_holds, 0, JSON.stringify(x.body.holds));
        assert.deepEqual(x.body.holds, []);
        assert.equal(x.body.limits[0].used, 0);
        assert.deepEqual(x.body.closed_holds.map((c) => c.end), ["expired", "expired", "expired"]);
        assert.equal(x.body.next_expiry, null);
      }
      await w.stop();
    } finally {
      removeDir(dir);
    }
  });
});
