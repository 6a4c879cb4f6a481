// Request bodies (issue 8, items 13 and 14, and duplicated keys): a body is
// refused with 413 the moment it passes its limit, declared or chunked, even
// when the client keeps it open; a JSON body that names a key twice is a 400
// on every JSON route (two parsers may read it two ways); an empty `metrics`
// or `windows` list in a reset is a 400, never "reset everything". Each attack
// was seen to succeed against the build before the fix.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { start, stop } from "./harness.mjs";
import { auth, browserAuth, chunkedPost, client, freeMessage, newKey, newUser, stable, sub, userAuth } from "./util.mjs";

let w;
let api;
let user;
let h;
let baseline;
before(async () => {
  w = await start();
  api = client(w);
  user = newUser("body");
  h = userAuth(user, sub("free"));
  const r = await api.reserve(h, freeMessage(10, 10));
  assert.equal(r.status, 200, r.text);
  await api.commit(h, r.body.hold.id, { input_tokens: 10, output_tokens: 10 });
  assert.equal((await api.reserve(h, freeMessage(10, 10))).status, 200);
  assert.ok([200, 201].includes((await api.putDiscount("BODY-CODE", { max_uses: 10 })).status));
  baseline = stable((await api.explain(user)).body);
});
after(stop);

async function unchanged(why) {
  assert.deepEqual(stable((await api.explain(user)).body), baseline, `${why}: the books changed`);
}

/**
 * POSTs (or PUTs) `firstChunk`, then keeps the body open. Answers the status
 * the Worker gave within `ms`, or `"timeout"`. The stream is closed and the
 * request aborted afterwards in every case.
 */
async function openBody(path, headers, firstChunk, { method = "POST", ms = 5000 } = {}) {
  let ctrl;
  const body = new ReadableStream({
    start(c) {
      ctrl = c;
      c.enqueue(firstChunk);
    },
  });
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  const t0 = Date.now();
  try {
    const res = await w.fetch(path, { method, headers, body, duplex: "half", signal: ac.signal });
    const text = await res.text();
    return { status: res.status, text, ms: Date.now() - t0, headers: res.headers };
  } catch (e) {
    if (ac.signal.aborted) return { status: "timeout", ms: Date.now() - t0 };
    throw e;
  } finally {
    clearTimeout(timer);
    try {
      ctrl.close();
    } catch {
      // already closed or errored
    }
    ac.abort();
  }
}

describe("bodies are refused as soon as they pass their limit (item 13)", () => {
  test("attack: a chunked API body of 70 KiB kept open → 413 at once", async () => {
    const chunk = new Uint8Array(70 * 1024).fill(0x20);
    for (const [path, headers] of [
      ["/v1/check", h],
      ["/v1/reserve", { ...h, "idempotency-key": newKey() }],
      ["/v1/holds/h2/commit", h],
    ]) {
      const r = await openBody(path, headers, chunk);
      assert.equal(r.status, 413, `${path}: ${r.status} after ${r.ms} ms ${r.text ?? ""}`);
      assert.equal(JSON.parse(r.text).code, "payload_too_large");
    }
    const admin = await openBody("/v1/admin/config", auth.admin(), chunk, { method: "PUT" });
    assert.equal(admin.status, 413, `admin config: ${admin.status}`);
    await unchanged("413");
  });

  test("attack: a chunked gateway body over 8 MiB kept open → 413 at once", async () => {
    const gw = userAuth(user, sub("free"), { scope: "gateway" });
    const chunk = new Uint8Array(8 * 1024 * 1024 + 1024).fill(0x20);
    const r = await openBody("/v1/chat/completions", gw, chunk, { ms: 10000 });
    assert.equal(r.status, 413, `${r.status} after ${r.ms} ms`);
    assert.equal(JSON.parse(r.text).error.code, "payload_too_large");
    await unchanged("gateway 413");
  });

  test("a client that keeps writing past the limit reads its 413 before the body ends", async () => {
    // 16 MiB would follow; the answer comes after about 64 KiB.
    const r = await chunkedPost(w, "/v1/check", h, { chunkBytes: 8 * 1024, chunks: 2048 });
    assert.equal(r.status, 413, JSON.stringify(r));
    assert.equal(r.body.code, "payload_too_large");
    assert.ok(r.sentBytes < 4 * 1024 * 1024, `answered after ${r.sentBytes} bytes`);
    await unchanged("413 while writing");
  });

  test("a declared Content-Length over the limit → 413 before any byte is read", async () => {
    // The header promises more than 64 KiB; the first bytes never finish it.
    const r = await openBody("/v1/check", { ...h, "content-length": String(70 * 1024) }, new Uint8Array(10).fill(0x20));
    assert.equal(r.status, 413, `${r.status} after ${r.ms} ms`);
  });
});

/**
 * Sends raw HTTP/1.1 `requests` (strings) one after the other on one
 * kept-alive connection, each when the previous answer has arrived; answers
 * their status lines (a missing answer: "closed" or "timeout").
 */
function oneConnection(requests, ms = 3000) {
  const { hostname, port } = new URL(w.url);
  return new Promise((resolve) => {
    const sock = net.connect(Number(port), hostname);
    const statuses = [];
    let buf = Buffer.alloc(0);
    let timer;
    const finish = (last) => {
      clearTimeout(timer);
      if (last) statuses.push(last);
      sock.destroy();
      resolve(statuses);
    };
    timer = setTimeout(() => finish("timeout"), ms);
    sock.on("error", () => {});
    sock.on("close", () => finish(statuses.length < requests.length ? "closed" : null));
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const head = buf.indexOf("\r\n\r\n");
        if (head < 0) return;
        const len = /content-length:\s*(\d+)/i.exec(buf.subarray(0, head).toString());
        // A body of known length (in bytes), or chunked up to its last chunk.
        const last = buf.indexOf("\r\n0\r\n\r\n", head);
        const end = len ? head + 4 + Number(len[1]) : last + 7;
        if ((len && buf.length < end) || (!len && last < 0)) return;
        statuses.push(Number(buf.subarray(9, 12).toString()));
        buf = buf.subarray(end);
        if (statuses.length === requests.length) return finish(null);
        sock.write(requests[statuses.length]);
      }
    });
    sock.write(requests[0]);
  });
}

const rawRequest = (method, path, headers, body = "") =>
  `${method} ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
  Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("") + `\r\n${body}`;

describe("a refusal before the body is read keeps the connection", () => {
  test("401, 403 insufficient_scope and a bad path, then the next request on the same connection is answered", async () => {
    const body = JSON.stringify(freeMessage());
    const browser = browserAuth(user, sub("free"));
    const statuses = await oneConnection([
      rawRequest("POST", "/v1/reserve", { ...browser, "idempotency-key": newKey() }, body),
      rawRequest("POST", "/v1/reserve", { authorization: "Bearer nope" }, body),
      rawRequest("PUT", "/v1/admin/discounts/bad%20code!", auth.admin(), '{"max_uses":1}'),
      rawRequest("GET", "/v1/usage", h),
    ]);
    assert.deepEqual(statuses, [403, 401, 400, 200]);
  });

  test("the refusal does not wait for a body that does not come", async () => {
    const { hostname, port } = new URL(w.url);
    const t0 = Date.now();
    const status = await new Promise((resolve) => {
      const sock = net.connect(Number(port), hostname);
      sock.on("error", () => {});
      sock.on("data", (d) => {
        resolve(Number(String(d).slice(9, 12)));
        sock.destroy();
      });
      // 1,000 bytes declared, none sent.
      sock.write("POST /v1/reserve HTTP/1.1\r\nhost: x\r\nauthorization: Bearer nope\r\ncontent-length: 1000\r\n\r\n");
    });
    assert.equal(status, 401);
    assert.ok(Date.now() - t0 < 900, `answered after ${Date.now() - t0} ms`);
  });
});

describe("duplicated keys in a body are refused (400, path names the key)", () => {
  const raw = (path, text, headers, method = "POST") =>
    w.json(path, { method, headers: { "content-type": "application/json", ...headers }, body: text });

  function assertDup(r, path, why) {
    assert.equal(r.status, 400, `${why}: ${r.status} ${r.text}`);
    assert.equal(r.body.code, "bad_request", why);
    assert.deepEqual(r.body.errors, [{ path, reason: "duplicate key" }], why);
  }

  test("attack: every API route reads one meaning only", async () => {
    const msg = JSON.stringify(freeMessage(10, 10)).slice(1, -1);
    const cases = [
      ["/v1/check", `{"type":"validate","files":[],${msg}}`, h, "type"],
      ["/v1/reserve", `{${msg},"input_tokens":1}`, { ...h, "idempotency-key": newKey() }, "input_tokens"],
      ["/v1/holds/h2/commit", `{"input_tokens":999,"output_tokens":0,"input_tokens":0}`, h, "input_tokens"],
      ["/v1/holds/h2/release", `{"a":1,"a":2}`, h, "a"],
      ["/v1/discounts/BODY-CODE/redeem", `{"x":{"y":1,"y":2}}`, { ...h, "idempotency-key": newKey() }, "x.y"],
      [`/v1/admin/users/${user}/reset`, `{"metrics":["tokens"],"metrics":[]}`, auth.admin(), "metrics"],
      ["/v1/admin/discounts/BODY-CODE", `{"max_uses":1,"max_uses":1000}`, auth.admin(), "max_uses", "PUT"],
      ["/v1/admin/config", `{"version":1,"plans":[{"id":"a","id":"b"}]}`, auth.admin(), "plans[0].id", "PUT"],
    ];
    for (const [path, text, headers, key, method] of cases) {
      assertDup(await raw(path, text, headers, method), key, path);
    }
    // Nothing changed: the code's cap, the config, the books.
    assert.equal((await api.getDiscount("BODY-CODE")).body.max_uses, 10);
    assert.equal((await api.getConfig()).body.revision, 0);
    await unchanged("duplicated keys");
  });

  test("attack: the gateway routes too (OpenAI error shape)", async () => {
    const gw = userAuth(user, sub("free"), { scope: "gateway" });
    const chat = await raw(
      "/v1/chat/completions",
      `{"model":"meta-llama/llama-3.3-8b-instruct:free","model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}]}`,
      gw,
    );
    assert.equal(chat.status, 400, chat.text);
    assert.equal(chat.body.error.code, "bad_request");
    assert.equal(chat.body.error.param, "model");
    const img = await raw("/v1/images/generations", `{"model":"openai/gpt-image-1","prompt":"a","n":1,"n":9}`, gw);
    assert.equal(img.status, 400, img.text);
    assert.equal(img.body.error.param, "n");
    await unchanged("gateway duplicated keys");
  });
});

describe("reset with an empty list (item 14)", () => {
  test("attack: {metrics: []} or {windows: []} → 400, nothing reset", async () => {
    for (const [body, path] of [
      [{ metrics: [] }, "metrics"],
      [{ windows: [] }, "windows"],
      [{ metrics: [], windows: ["day"] }, "metrics"],
    ]) {
      const r = await api.reset(user, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.body.code, "bad_request");
      assert.deepEqual(r.body.errors, [{ path, reason: "must not be empty" }]);
      await unchanged(JSON.stringify(body));
    }
  });

  test("attack (found by the fuzz loop): a window name ending inside a multi-byte character crashed the Worker", async () => {
    for (const win of ["٣", "1٣", "۲۴h"]) {
      const r = await api.reset(user, { windows: [win] });
      assert.equal(r.status, 400, `${win}: ${r.status} ${r.text}`);
      assert.equal(r.body.errors[0].path, "windows[0]");
      const cfg = await w.json("/v1/admin/config", {
        method: "PUT",
        headers: auth.admin(),
        body: { version: 1, models: [], plans: [{ id: "p", tier: 1, models: ["*"], limits: [{ metric: "messages", window: win, max: 1 }] }] },
      });
      assert.equal(cfg.status, 400, `${win}: ${cfg.status} ${cfg.text}`);
    }
    assert.equal((await w.json("/healthz")).status, 200);
    await unchanged("multi-byte window");
  });

  test("{} still resets every counter", async () => {
    const u = newUser("reset");
    const hu = userAuth(u, sub("free"));
    const r = await api.reserve(hu, freeMessage(10, 10));
    await api.commit(hu, r.body.hold.id, { input_tokens: 10, output_tokens: 10 });
    const ok = await api.reset(u, {});
    assert.equal(ok.status, 200, ok.text);
    const e = (await api.explain(u)).body;
    assert.ok(e.limits.every((l) => l.used === 0), JSON.stringify(e.limits));
  });
});
