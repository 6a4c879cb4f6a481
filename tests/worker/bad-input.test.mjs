// Hostile and malformed input: every answer is a clean 4xx with the problems
// listed, the Worker never falls over, and nothing changes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { start, stop } from "./harness.mjs";
import { auth, chunkedPost, client, declaredPost, freeMessage, newKey, newUser, stable, sub, userAuth } from "./util.mjs";

let w;
let api;
let user;
let h;
let baseline;
before(async () => {
  w = await start();
  api = client(w);
  user = newUser("bad");
  h = userAuth(user, sub("free"));
  // Some state to protect: one committed message and one open hold.
  const r = await api.reserve(h, freeMessage(10, 10));
  await api.commit(h, r.body.hold.id, { input_tokens: 10, output_tokens: 10 });
  assert.equal((await api.reserve(h, freeMessage(10, 10))).status, 200);
  baseline = stable((await api.explain(user)).body);
});
after(stop);

async function unchanged() {
  assert.deepEqual(stable((await api.explain(user)).body), baseline, "state changed");
  assert.equal((await w.json("/healthz")).status, 200);
}

const raw = (path, body, headers = {}, method = "POST") =>
  w.json(path, { method, headers: { "content-type": "application/json", ...headers }, body });

const routes = () => [
  ["/v1/check", h],
  ["/v1/reserve", { ...h, "idempotency-key": newKey() }],
  ["/v1/holds/h2/commit", h],
];

function assertBadRequest(r, why) {
  assert.equal(r.status, 400, `${why}: ${r.text}`);
  assert.equal(r.body.code, "bad_request", why);
  assert.equal(typeof r.body.message, "string", why);
  assert.ok(Array.isArray(r.body.errors) && r.body.errors.length > 0, `${why}: ${r.text}`);
  for (const e of r.body.errors) assert.deepEqual(Object.keys(e).sort(), ["path", "reason"]);
}

describe("bad input", () => {
  test("malformed JSON, empty and non-object bodies → 400", async () => {
    for (const [path, headers] of routes()) {
      for (const body of ["{", "{\"type\":", "nul", "[1,2", "{'a':1}", "\u0000", "", "   "]) {
        const r = await raw(path, body, headers);
        assertBadRequest(r, `${path} ${JSON.stringify(body)}`);
      }
      for (const body of ["[]", "\"message\"", "42", "null", "true"]) {
        assertBadRequest(await raw(path, body, headers), `${path} ${body}`);
      }
    }
    for (const [path, method] of [
      ["/v1/admin/config", "PUT"],
      ["/v1/admin/discounts/X", "PUT"],
      [`/v1/admin/users/${user}/reset`, "POST"],
    ]) {
      assertBadRequest(await raw(path, "{", auth.admin(), method), path);
    }
    await unchanged();
  });

  test("invalid UTF-8 and deeply nested JSON → 400", async () => {
    const bytes = new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]);
    assertBadRequest(await raw("/v1/check", bytes, h), "invalid utf-8");
    const deep = "[".repeat(20000) + "]".repeat(20000);
    assertBadRequest(await raw("/v1/check", deep, h), "deep arrays");
    const deepObj = '{"a":'.repeat(5000) + "1" + "}".repeat(5000);
    assertBadRequest(await raw("/v1/check", deepObj, h), "deep objects");
    await unchanged();
  });

  test("wrong types, negative and huge numbers, unknown fields: every problem listed", async () => {
    const cases = [
      [{ type: "message", model: 5, input_tokens: "x", max_output_tokens: true }, ["model", "input_tokens", "max_output_tokens"]],
      [{ ...freeMessage(), input_tokens: -1 }, ["input_tokens"]],
      [{ ...freeMessage(), input_tokens: 1.5 }, ["input_tokens"]],
      [{ ...freeMessage(), max_output_tokens: 1e300 }, ["max_output_tokens"]],
      [{ ...freeMessage(), max_output_tokens: 2 ** 53 }, ["max_output_tokens"]],
      [{ ...freeMessage(), surprise: 1, also: [] }, ["surprise", "also"]],
      [{ type: "teleport" }, ["type"]],
      [{ type: "image", count: -3 }, ["count"]],
      [{ type: "upload", chat_id: "c", files: [{ name: "a.pdf", size: -1 }, { size: 1 }] }, ["files[0].size", "files[1].name"]],
      [{ type: "upload", chat_id: "c", files: "a.pdf" }, ["files"]],
      [{}, ["type"]],
    ];
    for (const [body, paths] of cases) {
      for (const [path, headers] of routes().slice(0, 2)) {
        const r = await api.check(headers, body);
        void path;
        assertBadRequest(r, JSON.stringify(body));
        const got = r.body.errors.map((e) => e.path);
        for (const p of paths) assert.ok(got.includes(p), `${JSON.stringify(body)}: ${p} not in ${JSON.stringify(got)}`);
      }
      const rr = await api.reserve(h, body);
      assertBadRequest(rr, `reserve ${JSON.stringify(body)}`);
    }
    for (const usage of [
      { input_tokens: -5 },
      { input_tokens: 1, output_tokens: 1e20 },
      { input_tokens: 1, cost_usd: -0.5 },
      { input_tokens: 1, cost_usd: "free" },
      { input_tokens: 1, images: 1.25 },
      { tokens: 1 },
    ]) {
      assertBadRequest(await api.commit(h, "h2", usage), JSON.stringify(usage));
    }
    await unchanged();
  });

  test("bodies over 64 KiB → 413 (declared length and bytes actually sent)", async () => {
    const big = JSON.stringify({ ...freeMessage(), chat_id: "x".repeat(1024 * 1024) });
    // The declared length is refused before any byte is read: the first
    // 16 KiB are sent, the answer comes, the rest is never asked for. (A raw
    // socket: workerd then closes the connection, and a client still writing
    // its megabyte may see that reset before the 413.)
    const head = big.slice(0, 16 * 1024);
    const declared = { "content-length": String(Buffer.byteLength(big)) };
    for (const [path, headers] of routes()) {
      const r = await declaredPost(w, path, { ...headers, ...declared }, head);
      assert.equal(r.status, 413, `${path}: ${JSON.stringify(r)}`);
      assert.equal(r.body.code, "payload_too_large");
    }
    const r = await declaredPost(w, "/v1/admin/config", { ...auth.admin(), ...declared }, head, { method: "PUT" });
    assert.equal(r.status, 413);
    // Chunked, no Content-Length: the bytes read are counted (and the 413
    // comes while the client is still writing: tests/worker/bodies.test.mjs).
    const res = await chunkedPost(w, "/v1/check", h, { chunkBytes: 16 * 1024, chunks: 64 });
    assert.equal(res.status, 413);
    assert.equal(res.body.code, "payload_too_large");
    // Just under the limit is read (and judged on its content).
    const under = JSON.stringify({ ...freeMessage(), chat_id: "c", pad: "x".repeat(60 * 1024) });
    assert.equal((await raw("/v1/check", under, h)).status, 400);
    await unchanged();
  });

  test("bad headers and path segments", async () => {
    let r = await api.reserve(h, freeMessage(), "x".repeat(300));
    assertBadRequest(r, "long key");
    r = await api.reserve(h, freeMessage(), "a plain key");
    assert.equal(r.status, 429, "a plain key is accepted (then max_concurrent 1 refuses)");
    assert.equal(r.body.code, "concurrency_exceeded");
    baseline = stable((await api.explain(user)).body);
    for (const p of ["/v1/holds/%ZZ/commit", "/v1/holds/%C3%28/commit", "/v1/holds//commit", "/v1/holds/h1%00/commit"]) {
      const a = await raw(p, "{}", h);
      assert.equal(a.status, 404, `${p}: ${a.text}`);
    }
    for (const p of ["/v1/discounts/%ZZ/redeem", "/v1/discounts/a%20b/redeem"]) {
      assertBadRequest(await raw(p, "", h), p);
    }
    r = await w.json("/v1/admin/users/a%2Fb", { headers: auth.admin() });
    assertBadRequest(r, "user id with a slash");
    r = await w.json(`/v1/usage`, { headers: { ...h, "x-tollgate-now": "-5" } });
    assertBadRequest(r, "negative clock");
    await unchanged();
  });
});
