// Authentication and isolation: user JWTs (HS256 only), the admin token, and
// one user never reading or changing another's books.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { start, stop, TEST_VARS } from "./harness.mjs";
import { auth, client, freeMessage, newUser, nowS, signJwt, stable, sub, userAuth } from "./util.mjs";

let w;
let api;
before(async () => {
  w = await start();
  api = client(w);
});
after(stop);

const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

function tokenWith(header, claims, secret = TEST_VARS.TOLLGATE_JWT_SECRET) {
  const h = b64(header);
  const p = b64(claims);
  const s = createHmac("sha256", secret).update(`${h}.${p}`).digest("base64url");
  return `${h}.${p}.${s}`;
}

const bearer = (t) => ({ authorization: `Bearer ${t}` });

/** Every user route, called with `headers`. */
function userRoutes(headers) {
  return [
    () => api.check(headers, freeMessage()),
    () => api.reserve(headers, freeMessage()),
    () => api.commit(headers, "h1", { input_tokens: 1, output_tokens: 1 }),
    () => api.release(headers, "h1"),
    () => api.usage(headers),
    () => api.redeem(headers, "ANY"),
  ];
}

async function assert401(calls, why) {
  for (const call of calls) {
    const r = await call();
    assert.equal(r.status, 401, `${why}: ${r.text}`);
    assert.equal(r.body.code, "unauthorized");
    assert.equal(typeof r.body.message, "string");
    assert.equal(r.headers.get("www-authenticate"), "Bearer");
  }
}

describe("user tokens", () => {
  test("missing, malformed or not Bearer → 401 on every user route", async () => {
    await assert401(userRoutes({}), "no header");
    await assert401(userRoutes({ authorization: "Basic dXNlcjpwYXNz" }), "basic");
    await assert401(userRoutes({ authorization: "Bearer " }), "empty");
    await assert401(userRoutes(bearer("not-a-jwt")), "garbage");
    await assert401(userRoutes(bearer("a.b.c")), "garbage parts");
    await assert401(userRoutes(bearer("x".repeat(9000))), "huge");
  });

  test("forged, expired, not yet valid, alg none / HS512 → 401", async () => {
    const claims = { sub: "mallory", exp: nowS() + 3600, subscription: sub("premium") };
    await assert401(userRoutes(auth.user(claims, "some-other-secret")), "forged");
    await assert401(userRoutes(auth.user({ ...claims, exp: nowS() - 60 })), "expired");
    await assert401(userRoutes(auth.user({ ...claims, exp: undefined })), "no exp");
    await assert401(userRoutes(auth.user({ ...claims, exp: "tomorrow" })), "exp not a number");
    await assert401(userRoutes(auth.user({ ...claims, nbf: nowS() + 600 })), "nbf in the future");
    // alg none: unsigned, and with an HMAC attached anyway.
    const none = `${b64({ alg: "none", typ: "JWT" })}.${b64(claims)}.`;
    await assert401(userRoutes(bearer(none)), "alg none");
    await assert401(userRoutes(bearer(tokenWith({ alg: "none" }, claims))), "alg none signed");
    await assert401(userRoutes(bearer(tokenWith({ alg: "HS512" }, claims))), "HS512");
    await assert401(userRoutes(bearer(tokenWith({ alg: "hs256" }, claims))), "lower-case alg");
    await assert401(userRoutes(bearer(tokenWith({ typ: "JWT" }, claims))), "no alg");
    // A valid token's payload swapped: the signature no longer matches.
    const good = signJwt(claims);
    const [h, , s] = good.split(".");
    await assert401(userRoutes(bearer(`${h}.${b64({ ...claims, sub: "admin" })}.${s}`)), "payload swapped");
  });

  test("leeway: 30 s after exp still accepted, nbf 30 s early accepted", async () => {
    const u = newUser();
    let r = await api.usage(auth.user({ sub: u, exp: nowS() - 10, subscription: sub() }));
    assert.equal(r.status, 200, r.text);
    r = await api.usage(auth.user({ sub: u, exp: nowS() + 600, nbf: nowS() + 10, subscription: sub() }));
    assert.equal(r.status, 200, r.text);
  });

  test("bad sub → 401", async () => {
    for (const s of ["", "a b", "a/b", "ü", "x".repeat(129), 42, null]) {
      await assert401([() => api.usage(auth.user({ sub: s, exp: nowS() + 60 }))], `sub ${JSON.stringify(s)}`);
    }
    const ok = await api.usage(auth.user({ sub: "a.b_c:d@e-f" + "x".repeat(117), exp: nowS() + 60 }));
    assert.equal(ok.status, 200, ok.text);
  });

  test("a malformed subscription claim → 401; none → subscription_missing", async () => {
    await assert401(
      [() => api.usage(auth.user({ sub: "u", exp: nowS() + 60, subscription: { plan: "free" } }))],
      "subscription without id",
    );
    const r = await api.check(userAuth(newUser(), null), freeMessage());
    assert.equal(r.status, 403);
    assert.equal(r.body.code, "subscription_missing");
  });

  test("the admin token is not a user token", async () => {
    await assert401(userRoutes(auth.admin()), "admin token on user routes");
  });
});

describe("admin token", () => {
  const adminCalls = (headers) => [
    () => w.json("/v1/admin/config", { headers }),
    () => w.json("/v1/admin/config", { method: "PUT", headers, body: {} }),
    () => w.json("/v1/admin/users/alice", { headers }),
    () => w.json("/v1/admin/users/alice/reset", { method: "POST", headers, body: {} }),
    () => w.json("/v1/admin/discounts/X", { method: "PUT", headers, body: { max_uses: 1 } }),
    () => w.json("/v1/admin/discounts/X", { headers }),
  ];

  test("admin routes refuse user tokens, wrong tokens and no token", async () => {
    await assert401(adminCalls({}), "none");
    await assert401(adminCalls(userAuth("alice", sub("premium"))), "user token");
    await assert401(adminCalls(auth.admin("wrong")), "wrong");
    await assert401(adminCalls(auth.admin(TEST_VARS.TOLLGATE_ADMIN_TOKEN + "x")), "longer");
    await assert401(adminCalls(auth.admin(TEST_VARS.TOLLGATE_ADMIN_TOKEN.slice(0, -1))), "prefix");
  });

  test("an unset admin token disables the admin API", async () => {
    const w2 = await start({ vars: { TOLLGATE_ADMIN_TOKEN: "" } });
    for (const t of ["", "x"]) {
      const r = await w2.json("/v1/admin/config", { headers: { authorization: `Bearer ${t}` } });
      assert.equal(r.status, 401);
    }
    await w2.stop();
  });
});

describe("isolation", () => {
  test("user A cannot read or change user B", async () => {
    const a = newUser("a");
    const b = newUser("b");
    const ha = userAuth(a, sub("free"));
    const hb = userAuth(b, sub("free"));
    const r = await api.reserve(hb, freeMessage(100, 100));
    assert.equal(r.body.hold.id, "h1");
    const before = stable((await api.explain(b)).body);

    // A's token addresses A's books only: B's hold id is unknown to A.
    const c = await api.commit(ha, "h1", { input_tokens: 1, output_tokens: 1 });
    assert.equal(c.status, 404);
    assert.equal(c.body.code, "hold_unknown");
    const rel = await api.release(ha, "h1");
    assert.equal(rel.status, 404);
    const ua = await api.usage(ha);
    assert.deepEqual(ua.body.holds, []);
    assert.ok(ua.body.limits.every((l) => l.used === 0));
    assert.deepEqual(stable((await api.explain(b)).body), before);

    // Even when A has an h1 of its own, A's commit touches only A's.
    await api.reserve(ha, freeMessage(5, 5));
    const c2 = await api.commit(ha, "h1", { input_tokens: 5, output_tokens: 0 });
    assert.equal(c2.status, 200);
    const afterB = stable((await api.explain(b)).body);
    assert.deepEqual(afterB.holds, before.holds);
    assert.deepEqual(afterB.limits, before.limits);
    // The user id comes only from `sub`: a user_id elsewhere changes nothing.
    const sneaky = await api.usage({ ...ha, "x-user-id": b });
    assert.notDeepEqual(sneaky.body.holds, before.holds);
  });
});
