// Smoke tests for the Worker skeleton: liveness and the BareCounter baseline.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { removeDir, start, stop, tempDir } from "./harness.mjs";

after(stop);

describe("worker", () => {
  test("GET /healthz answers 200 {ok:true, tzdata}", async () => {
    const w = await start();
    const r = await w.json("/healthz");
    assert.equal(r.status, 200);
    assert.equal(r.body.ok, true);
    assert.match(r.body.tzdata, /^\d{4}[a-z]$/);
    assert.match(r.headers.get("content-type") ?? "", /application\/json/);

    const missing = await w.json("/nope");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, "not_found");
    await w.stop();
  });

  test("POST /bench/counter needs ?user=", async () => {
    const w = await start();
    const r = await w.json("/bench/counter", { method: "POST" });
    assert.equal(r.status, 400);
    assert.equal(r.body.code, "bad_request");
    await w.stop();
  });

  test("BareCounter counts 1,2,3 per user and persists across a restart", async () => {
    const dir = tempDir();
    try {
      let w = await start({ persistDir: dir });
      for (const n of [1, 2, 3]) {
        const r = await w.json("/bench/counter?user=alice", { method: "POST" });
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.body, { count: n });
      }
      // A different name is a different object.
      assert.deepEqual((await w.json("/bench/counter?user=bob", { method: "POST" })).body, {
        count: 1,
      });
      await w.stop();

      // Same persist dir: the counter carries on.
      w = await start({ persistDir: dir });
      const r = await w.json("/bench/counter?user=alice", { method: "POST" });
      assert.deepEqual(r.body, { count: 4 });
      await w.stop();

      // No persist dir: fresh state.
      w = await start();
      assert.deepEqual((await w.json("/bench/counter?user=alice", { method: "POST" })).body, {
        count: 1,
      });
      await w.stop();
    } finally {
      removeDir(dir);
    }
  });
});
