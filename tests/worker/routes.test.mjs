// Every route of SPEC §5: happy paths, errors, headers, CORS, locale.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { ROOT, start, stop } from "./harness.mjs";
import { auth, client, freeMessage, newKey, newUser, onePlanConfig, sub, userAuth } from "./util.mjs";

const DEFAULT_CONFIG = JSON.parse(readFileSync(path.join(ROOT, "worker/default-config.json"), "utf8"));

let w;
let api;
before(async () => {
  w = await start();
  api = client(w);
});
after(stop);

/** Puts the default config back (tests that change it call this first). */
async function defaultConfig() {
  const r = await api.putConfig(DEFAULT_CONFIG);
  assert.equal(r.status, 200, r.text);
}

describe("health and routing", () => {
  test("GET /healthz", async () => {
    const r = await w.json("/healthz");
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body).sort(), ["ok", "tzdata"]);
    assert.equal(r.body.ok, true);
    // The bundled IANA release: one with the 2026 rules (tests/vectors/tzdata.json).
    assert.match(r.body.tzdata, /^\d{4}[a-z]$/);
    assert.ok(r.body.tzdata >= "2026a", r.body.tzdata);
  });

  test("unknown route 404, wrong method 405 with Allow", async () => {
    let r = await w.json("/v1/nope");
    assert.equal(r.status, 404);
    assert.equal(r.body.code, "not_found");
    r = await w.json("/v1/check", { method: "GET" });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get("allow"), "POST");
    assert.equal(r.body.code, "method_not_allowed");
    r = await w.json("/v1/usage", { method: "POST" });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get("allow"), "GET");
    r = await w.json("/v1/admin/config", { method: "DELETE" });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get("allow"), "GET, PUT");
    r = await w.json("/v1/check", { method: "PATCH" });
    assert.equal(r.status, 405);
  });

  test("CORS: preflight and exposed headers for allowed origins only", async () => {
    const origin = "http://127.0.0.1:8080";
    let res = await w.fetch("/v1/reserve", {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, idempotency-key" },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get("access-control-allow-origin"), origin);
    assert.match(res.headers.get("access-control-allow-methods"), /POST/);
    assert.match(res.headers.get("access-control-allow-headers"), /Idempotency-Key/);
    assert.match(res.headers.get("access-control-allow-headers"), /Authorization/);

    const u = newUser();
    const r = await api.check({ ...userAuth(u), origin }, freeMessage());
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("access-control-allow-origin"), origin);
    assert.equal(
      r.headers.get("access-control-expose-headers"),
      "Retry-After, RateLimit, RateLimit-Policy, WWW-Authenticate, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, " +
        "x-ratelimit-reset-requests, x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, x-ratelimit-reset-tokens",
    );

    const other = await api.check({ ...userAuth(u), origin: "http://evil.test" }, freeMessage());
    assert.equal(other.status, 200);
    assert.equal(other.headers.get("access-control-allow-origin"), null);
    const bench = await w.json("/bench/counter?user=cors", { method: "POST", headers: { origin } });
    assert.equal(bench.status, 200);
    assert.equal(bench.headers.get("access-control-allow-origin"), origin);
    // Errors carry CORS too, so a browser can read them.
    const e = await w.json("/v1/usage", { headers: { origin } });
    assert.equal(e.status, 401);
    assert.equal(e.headers.get("access-control-allow-origin"), origin);
  });

  test("CORS with * allows any origin", async () => {
    const w2 = await start({ vars: { TOLLGATE_ALLOWED_ORIGINS: "*" } });
    const r = await w2.json("/healthz", { headers: { origin: "http://any.test" } });
    assert.equal(r.headers.get("access-control-allow-origin"), "*");
    await w2.stop();
  });
});

describe("check and reserve", () => {
  test("POST /v1/check: decision, RateLimit headers, limits only with ?explain=1", async () => {
    await defaultConfig();
    const h = userAuth(newUser());
    let r = await api.check(h, freeMessage());
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.allowed, true);
    assert.equal(r.body.code, "ok");
    assert.deepEqual(r.body.limits, []);
    assert.equal(r.body.hold, undefined);
    assert.match(r.headers.get("content-type"), /^application\/json/);
    assert.equal(r.headers.get("ratelimit-policy"), '"messages-1h";q=10;w=3600');
    assert.equal(r.headers.get("ratelimit"), '"messages-1h";r=10');
    r = await api.check(h, freeMessage(), "?explain=1");
    assert.equal(r.status, 200);
    assert.ok(r.body.limits.length >= 6);
    assert.deepEqual(r.body.limits[0], {
      metric: "messages", scope: "all", window: "1h", limit: 10, used: 0, requested: 1, remaining: 10, resets_at: null,
    });
    // Nothing changed.
    const u = await api.usage(h);
    assert.ok(u.body.limits.every((l) => l.used === 0));
  });

  test("POST /v1/reserve: a hold, headers after the charge, Idempotency-Key required", async () => {
    await defaultConfig();
    const h = userAuth(newUser());
    let r = await api.reserve(h, freeMessage(), null);
    assert.equal(r.status, 400);
    assert.equal(r.body.code, "bad_request");
    assert.deepEqual(r.body.errors, [{ path: "Idempotency-Key", reason: "required" }]);

    r = await api.reserve(h, freeMessage());
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.allowed, true);
    assert.equal(r.body.hold.id, "h1");
    assert.match(r.body.hold.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(r.headers.get("ratelimit-policy"), '"messages-1h";q=10;w=3600');
    assert.match(r.headers.get("ratelimit"), /^"messages-1h";r=9;t=\d+$/);
    const u = await api.usage(h);
    assert.equal(u.body.holds.length, 1);
    assert.equal(u.body.holds[0].id, "h1");
    assert.equal(u.body.limits.find((l) => l.metric === "messages" && l.window === "1h").used, 1);
  });

  test("free plan: the 11th message in an hour is a Persian 429 with Retry-After", async () => {
    await defaultConfig();
    const h = userAuth(newUser());
    for (let i = 0; i < 10; i++) {
      const r = await api.reserve(h, freeMessage(10, 10));
      assert.equal(r.status, 200, r.text);
      const c = await api.commit(h, r.body.hold.id, { input_tokens: 10, output_tokens: 5 });
      assert.equal(c.status, 200, c.text);
    }
    const r = await api.reserve(h, freeMessage(10, 10));
    assert.equal(r.status, 429);
    assert.equal(r.body.allowed, false);
    assert.equal(r.body.code, "window_exceeded");
    assert.equal(r.body.message, "شما به حد مجاز پیام‌های ساعتی (۱۰ عدد) رسیده‌اید");
    assert.ok(r.body.retry_after_s > 0 && r.body.retry_after_s <= 3600 + 60);
    assert.equal(r.headers.get("retry-after"), String(r.body.retry_after_s));
    assert.match(r.headers.get("ratelimit"), /^"messages-1h";r=0;t=\d+$/);
    assert.equal(r.body.hold, undefined);
    // English on request: ?lang=en and Accept-Language.
    const en = await api.check(h, freeMessage(10, 10), "?lang=en");
    assert.equal(en.status, 429);
    assert.match(en.body.message, /hourly/i);
    assert.match(en.body.message, /10/);
    const al = await api.check({ ...h, "accept-language": "en-US,en;q=0.9" }, freeMessage(10, 10));
    assert.equal(al.body.message, en.body.message);
    const fa = await api.check({ ...h, "accept-language": "fa-IR" }, freeMessage(10, 10));
    assert.equal(fa.body.message, r.body.message);
  });

  test("access denials are 403 decisions without RateLimit headers", async () => {
    await defaultConfig();
    const u = newUser();
    let r = await api.check(userAuth(u, null), freeMessage());
    assert.equal(r.status, 403);
    assert.equal(r.body.code, "subscription_missing");
    assert.equal(r.headers.get("ratelimit"), null);
    r = await api.check(userAuth(u, sub("free")), { ...freeMessage(), model: "openai/gpt-4o" });
    assert.equal(r.status, 403);
    assert.equal(r.body.code, "model_not_allowed");
    const s = { ...sub("basic"), ends_at: Math.floor(Date.now() / 1000) - 10 };
    r = await api.check(userAuth(u, s), freeMessage());
    assert.equal(r.body.code, "subscription_expired");
  });

  test("upload checks: 415 type, 413 size", async () => {
    await defaultConfig();
    const h = userAuth(newUser(), sub("free"));
    let r = await api.check(h, { type: "upload", chat_id: "c1", files: [{ name: "x.exe", size: 10 }] });
    assert.equal(r.status, 415);
    assert.equal(r.body.code, "file_type_not_allowed");
    r = await api.check(h, { type: "upload", chat_id: "c1", files: [{ name: "x.pdf", size: 50 * 1024 * 1024 }] });
    assert.equal(r.status, 413);
    assert.equal(r.body.code, "file_too_large");
    r = await api.check(h, { type: "upload", chat_id: "c1", files: [{ name: "x.png", size: 10, head: "dGV4dA==" }] });
    assert.equal(r.status, 415);
    assert.equal(r.body.code, "file_type_mismatch");
  });
});

describe("holds", () => {
  test("commit: usage replaces the estimate; retried commit counted once", async () => {
    await defaultConfig();
    const h = userAuth(newUser());
    const r = await api.reserve(h, freeMessage(100, 900));
    assert.equal(r.status, 200);
    let c = await api.commit(h, "h1", { input_tokens: 100, output_tokens: 50 });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.body.committed, true);
    assert.equal(c.body.hold_id, "h1");
    assert.equal(c.body.late, false);
    assert.equal(c.body.duplicate, false);
    assert.deepEqual(c.body.usage, { messages: 1, tokens: 150, images: 0, files: 0, file_bytes: 0, cost_usd: 0 });
    // The same figures again: the first answer, as a duplicate.
    c = await api.commit(h, "h1", { input_tokens: 100, output_tokens: 50 });
    assert.equal(c.status, 200);
    assert.equal(c.body.duplicate, true);
    assert.equal(c.body.usage.tokens, 150);
    // Other figures: a conflict, nothing changes (SPEC §5).
    c = await api.commit(h, "h1", { input_tokens: 999, output_tokens: 999 });
    assert.equal(c.status, 409);
    assert.equal(c.body.code, "hold_committed");
    const u = await api.usage(h);
    assert.equal(u.body.limits.find((l) => l.metric === "tokens" && l.window === "1h").used, 150);
    assert.deepEqual(u.body.holds, []);
    // Release after commit changes nothing.
    const rel = await api.release(h, "h1");
    assert.equal(rel.status, 200);
    assert.deepEqual(rel.body, { hold_id: "h1", released: false, changed: false, committed: true });
    const u2 = await api.usage(h);
    assert.deepEqual(u2.body.limits, u.body.limits);
  });

  test("release: idempotent; commit after release is 409 hold_released; unknown 404", async () => {
    await defaultConfig();
    const h = userAuth(newUser());
    await api.reserve(h, freeMessage(100, 900));
    let rel = await api.release(h, "h1");
    assert.equal(rel.status, 200, rel.text);
    assert.deepEqual(rel.body, { hold_id: "h1", released: true, changed: true, committed: false });
    rel = await api.release(h, "h1");
    assert.deepEqual(rel.body, { hold_id: "h1", released: true, changed: false, committed: false });
    const c = await api.commit(h, "h1", { input_tokens: 1, output_tokens: 1 });
    assert.equal(c.status, 409);
    assert.equal(c.body.code, "hold_released");
    assert.equal(typeof c.body.message, "string");
    const u = await api.usage(h);
    assert.ok(u.body.limits.every((l) => l.used === 0), JSON.stringify(u.body.limits));
    for (const id of ["h99", "nope", "h%201", "x".repeat(200)]) {
      const a = await api.commit(h, id, { input_tokens: 1, output_tokens: 1 });
      assert.equal(a.status, 404, id);
      assert.equal(a.body.code, "hold_unknown");
      const b = await api.release(h, id);
      assert.equal(b.status, 404, id);
      assert.equal(b.body.code, "hold_unknown");
    }
  });

  test("a commit after the hold expired still records the usage: late", async () => {
    await defaultConfig();
    const h = userAuth(newUser());
    const t0 = Date.now();
    const r = await api.reserve({ ...h, "x-tollgate-now": String(t0) }, freeMessage(100, 900));
    assert.equal(r.status, 200);
    // 301 s later (hold_ttl_s 300): the hold has expired.
    const later = { ...h, "x-tollgate-now": String(t0 + 301_000) };
    let u = await w.json("/v1/usage", { headers: later });
    assert.deepEqual(u.body.holds, []);
    assert.equal(u.body.limits.find((l) => l.metric === "tokens" && l.window === "1h").used, 0);
    const c = await api.commit(later, "h1", { input_tokens: 100, output_tokens: 400 });
    assert.equal(c.status, 200, c.text);
    assert.equal(c.body.late, true);
    assert.equal(c.body.duplicate, false);
    u = await w.json("/v1/usage", { headers: later });
    assert.equal(u.body.limits.find((l) => l.metric === "tokens" && l.window === "1h").used, 500);
  });

  test("commit body is validated", async () => {
    await defaultConfig();
    const h = userAuth(newUser());
    await api.reserve(h, freeMessage());
    const r = await api.commit(h, "h1", { input_tokens: -1, output_tokens: "x", extra: 1 });
    assert.equal(r.status, 400);
    assert.equal(r.body.code, "bad_request");
    assert.deepEqual(r.body.errors.map((e) => e.path).sort(), ["extra", "input_tokens", "output_tokens"]);
    const u = await api.usage(h);
    assert.equal(u.body.holds.length, 1, "the hold is still open");
  });

  test("cost_usd in a commit is in dollars", async () => {
    await api.putConfig(onePlanConfig([{ metric: "cost_usd", window: "lifetime", max: 1 }]));
    const h = userAuth(newUser(), sub("p"));
    const r = await api.reserve(h, { type: "message", model: "paid/model", input_tokens: 1000, max_output_tokens: 1000 });
    assert.equal(r.status, 200, r.text);
    const c = await api.commit(h, r.body.hold.id, { input_tokens: 10, output_tokens: 10, cost_usd: 0.25 });
    assert.equal(c.body.usage.cost_usd, 0.25);
    const u = await api.usage(h);
    assert.deepEqual(
      u.body.limits.map((l) => [l.metric, l.used, l.remaining]),
      [["cost_usd", 0.25, 0.75]],
    );
  });
});

describe("usage", () => {
  test("GET /v1/usage: the snapshot", async () => {
    await defaultConfig();
    const s = sub("basic");
    const h = userAuth(newUser(), s);
    const r = await api.usage(h);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.subscription, s);
    assert.equal(r.body.plan, "basic");
    assert.match(r.body.as_of, /Z$/);
    assert.equal(r.body.limits.length, 10, "every limit but the chat one (no chat used)");
    assert.deepEqual(r.body.holds, []);
    for (const l of r.body.limits) {
      assert.deepEqual(Object.keys(l).sort(), ["limit", "metric", "remaining", "resets_at", "scope", "used", "window"]);
    }
  });
});

describe("discounts", () => {
  test("admin PUT creates (201) and changes (200); GET reads; bad rules listed", async () => {
    const code = `C${Date.now()}`;
    let r = await api.putDiscount(code, { max_uses: 2, max_uses_per_user: 1, expires_at: "2099-01-01T00:00:00Z", plans: ["basic"] });
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.body, {
      code, max_uses: 2, max_uses_per_user: 1, expires_at: "2099-01-01T00:00:00Z", plans: ["basic"], uses: 0, users: 0,
    });
    r = await api.putDiscount(code, { max_uses: 3, max_uses_per_user: 1, expires_at: "2099-01-01T00:00:00Z" });
    assert.equal(r.status, 200);
    assert.equal(r.body.max_uses, 3);
    assert.equal(r.body.plans, null);
    r = await api.getDiscount(code);
    assert.equal(r.status, 200);
    assert.equal(r.body.max_uses, 3);
    r = await api.getDiscount("NOPE-" + code);
    assert.equal(r.status, 404);
    assert.equal(r.body.code, "discount_unknown");
    r = await api.putDiscount(code, { max_uses: -1, expires_at: "soon", bogus: true });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body.errors.map((e) => e.path), ["bogus", "max_uses", "expires_at"]);
    r = await api.putDiscount("bad code!", { max_uses: 1 });
    assert.equal(r.status, 400);
  });

  test("redeem: {redeemed, code, uses, uses_by_user}; denials are 403 decisions; Idempotency-Key honoured", async () => {
    await defaultConfig();
    const code = `R${Date.now()}`;
    assert.equal((await api.putDiscount(code, { max_uses: 2, max_uses_per_user: 1, plans: ["basic"] })).status, 201);
    const a = userAuth(newUser(), sub("basic"));
    let r = await api.redeem(a, code, "key-1");
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { redeemed: true, code, uses: 1, uses_by_user: 1 });
    r = await api.redeem(a, code, "key-1");
    assert.deepEqual(r.body, { redeemed: true, code, uses: 1, uses_by_user: 1 }, "a retry is the same answer");
    r = await api.redeem(a, code, "key-2");
    assert.equal(r.status, 403);
    assert.equal(r.body.code, "discount_user_exhausted");
    assert.equal(r.body.allowed, false);
    r = await api.redeem(userAuth(newUser(), sub("free")), code);
    assert.equal(r.status, 403);
    assert.equal(r.body.code, "discount_not_applicable");
    r = await api.redeem(userAuth(newUser(), sub("basic")), code);
    assert.equal(r.status, 200);
    assert.equal(r.body.uses, 2);
    r = await api.redeem(userAuth(newUser(), sub("basic")), code);
    assert.equal(r.body.code, "discount_exhausted");
    r = await api.redeem(userAuth(newUser(), sub("basic")), "UNKNOWN" + code);
    assert.equal(r.status, 403);
    assert.equal(r.body.code, "discount_unknown");
    assert.equal(r.body.message, "کد تخفیف نامعتبر است");
    // A discount action in /v1/check consults the code's object.
    const chk = await api.check(userAuth(newUser(), sub("basic")), { type: "discount", code }, "?lang=en");
    assert.equal(chk.status, 403);
    assert.equal(chk.body.code, "discount_exhausted");
    assert.equal(chk.body.message, "This discount code has been used up");
    assert.equal((await api.getDiscount(code)).body.uses, 2);
  });
});

describe("admin", () => {
  test("config: GET serves the default at revision 0 until a PUT; PUT raises the revision", async () => {
    const w2 = await start();
    const a2 = client(w2);
    let r = await a2.getConfig();
    assert.equal(r.status, 200);
    assert.equal(r.body.revision, 0);
    assert.deepEqual(r.body.config, DEFAULT_CONFIG);
    const cfg = onePlanConfig([{ metric: "messages", window: "1h", max: 1 }]);
    r = await a2.putConfig(cfg);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.revision, 1);
    assert.deepEqual(r.body.config, cfg);
    r = await a2.getConfig();
    assert.deepEqual(r.body, { revision: 1, config: cfg });
    // The new config applies at once (TTL 0 in tests).
    const h = userAuth(newUser(), sub("p"));
    assert.equal((await a2.reserve(h, { type: "message", model: "free/model:free", input_tokens: 1, max_output_tokens: 1 })).status, 200);
    assert.equal((await a2.reserve(h, { type: "message", model: "free/model:free", input_tokens: 1, max_output_tokens: 1 })).status, 429);
    // Every problem listed; nothing applied.
    r = await a2.putConfig({ timezone: "Mars/Base", plans: [{ id: "x", limits: [{ metric: "beans", window: "2x", max: -1 }] }], extra: 1 });
    assert.equal(r.status, 400);
    assert.equal(r.body.code, "bad_request");
    const paths = r.body.errors.map((e) => e.path);
    for (const p of ["extra", "timezone", "plans[0].limits[0].metric", "plans[0].limits[0].window", "plans[0].limits[0].max"]) {
      assert.ok(paths.includes(p), `${p} in ${JSON.stringify(paths)}`);
    }
    assert.equal((await a2.getConfig()).body.revision, 1);
    r = await w2.json("/v1/admin/config", { method: "PUT", headers: auth.admin(), body: "[1,2" });
    assert.equal(r.status, 400);
    await w2.stop();
  });

  test("users/{id}: the full explanation with open holds and their charges", async () => {
    await defaultConfig();
    const u = newUser();
    const s = sub("basic");
    const h = userAuth(u, s);
    await api.reserve(h, { ...freeMessage(100, 200), chat_id: "c1" });
    const r2 = await api.reserve(h, { type: "message", model: "openai/gpt-4o-mini", input_tokens: 1000, max_output_tokens: 1000 });
    assert.equal(r2.status, 200, r2.text);
    await api.commit(h, "h1", { input_tokens: 100, output_tokens: 20 });
    const r = await api.explain(u);
    assert.equal(r.status, 200, r.text);
    const e = r.body;
    assert.equal(e.user, u);
    assert.deepEqual(e.subscription, s);
    assert.equal(e.plan, "basic");
    assert.equal(e.open_holds, 1);
    assert.equal(e.holds[0].id, "h2");
    assert.equal(e.holds[0].type, "message");
    assert.equal(e.holds[0].model, "openai/gpt-4o-mini");
    assert.equal(e.holds[0].expired, false);
    assert.equal(e.holds[0].estimate.tokens, 2000);
    assert.equal(e.holds[0].estimate.cost_usd, 0.00075);
    assert.ok(e.holds[0].charges.some((c) => c.limit === "tokens|all|1h" && c.amount === 2000));
    assert.ok(e.holds[0].charges.some((c) => c.metric === "cost_usd" && c.amount === 0.00075));
    assert.equal(e.closed_holds[0].id, "h1");
    assert.equal(e.closed_holds[0].end, "committed");
    assert.equal(e.closed_holds[0].usage.tokens, 120);
    const tok = e.limits.find((l) => l.metric === "tokens" && l.window === "1h");
    assert.equal(tok.used, 2120);
    assert.equal(tok.remaining, 20000 - 2120);
    assert.equal(typeof e.config_revision, "number");
    // A user never seen: empty books.
    const n = await api.explain(newUser());
    assert.equal(n.status, 200);
    assert.deepEqual(n.body.holds, []);
    assert.equal(n.body.subscription, null);
    assert.equal((await api.explain("bad id")).status, 400);
  });

  test("users/{id}/reset: {} resets all, {metrics, windows} a selection", async () => {
    await defaultConfig();
    const u = newUser();
    const h = userAuth(u, sub("free"));
    for (let i = 0; i < 2; i++) {
      const r = await api.reserve(h, freeMessage(10, 10));
      await api.commit(h, r.body.hold.id, { input_tokens: 10, output_tokens: 10 });
    }
    const used = async (metric, window) =>
      (await api.usage(h)).body.limits.find((l) => l.metric === metric && l.window === window).used;
    assert.equal(await used("messages", "1h"), 2);
    let r = await api.reset(u, { metrics: ["messages"], windows: ["1h"] });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.counters_reset, 1);
    assert.equal(await used("messages", "1h"), 0);
    assert.equal(await used("messages", "day"), 2);
    assert.equal(await used("tokens", "1h"), 40);
    r = await api.reset(u, {});
    assert.equal(r.status, 200);
    assert.equal(await used("messages", "day"), 0);
    assert.equal(await used("tokens", "1h"), 0);
    r = await api.reset(u, { metrics: ["beans"], windows: ["2x"], x: 1 });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body.errors.map((e) => e.path), ["x", "metrics[0]", "windows[0]"]);
    // An empty body is {}.
    r = await w.json(`/v1/admin/users/${u}/reset`, { method: "POST", headers: auth.admin() });
    assert.equal(r.status, 200);
  });
});

describe("clock", () => {
  test("x-tollgate-now is validated when the dev clock is on, ignored when off", async () => {
    const h = userAuth(newUser());
    let r = await w.json("/v1/usage", { headers: { ...h, "x-tollgate-now": "soon" } });
    assert.equal(r.status, 400);
    assert.equal(r.body.errors[0].path, "x-tollgate-now");
    r = await w.json("/v1/usage", { headers: { ...h, "x-tollgate-now": "1795461660000" } });
    assert.equal(r.body.as_of, "2026-11-23T19:21:00Z");

    const off = await start({ vars: { TOLLGATE_DEV_CLOCK: "0" } });
    r = await off.json("/v1/usage", { headers: { ...h, "x-tollgate-now": "1000" } });
    assert.equal(r.status, 200);
    assert.notEqual(r.body.as_of, "1970-01-01T00:00:01Z");
    const bench = await off.json("/bench/counter?user=a", { method: "POST" });
    assert.equal(bench.status, 200);
    await off.stop();
    const noBench = await start({ vars: { TOLLGATE_BENCH: "" } });
    assert.equal((await noBench.json("/bench/counter?user=a", { method: "POST" })).status, 404);
    await noBench.stop();
  });
});

describe("idempotency", () => {
  test("the same Idempotency-Key twice: one hold, the same answer (also concurrently)", async () => {
    await defaultConfig();
    const h = userAuth(newUser());
    const key = newKey();
    const a = await api.reserve(h, freeMessage(), key);
    const b = await api.reserve(h, freeMessage(), key);
    assert.equal(a.status, 200);
    assert.deepEqual(b.body, a.body);
    assert.equal(b.status, a.status);
    const u = await api.usage(h);
    assert.equal(u.body.holds.length, 1);

    const h2 = userAuth(newUser(), sub("premium"));
    const k2 = newKey();
    const many = await Promise.all(Array.from({ length: 8 }, () => api.reserve(h2, freeMessage(), k2)));
    for (const r of many) assert.deepEqual(r.body, many[0].body);
    assert.equal((await api.usage(h2)).body.holds.length, 1);
  });
});
