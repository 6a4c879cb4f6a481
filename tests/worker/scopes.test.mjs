// Scoped tokens (SPEC §5) and canonical tokens (issue 8, items 1 and 12).
//
// A user token carries `scope`: `usage` (read, pre-check), `reserve`,
// `settle`, `gateway`. The browser's token has none (so `usage` only); the
// backend's has `reserve settle`; a gateway client's has `gateway`. Each
// attack here was seen to succeed against the build before scopes and
// canonical base64url (the test failed), and is refused now.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { start, stop, TEST_VARS } from "./harness.mjs";
import { auth, browserAuth, client, freeMessage, newKey, newUser, nowS, sub, userAuth } from "./util.mjs";

let w;
let api;
before(async () => {
  w = await start();
  api = client(w);
  const r = await api.putDiscount("SCOPE-OPEN", { max_uses: 1000, max_uses_per_user: 5, expires_at: "2099-01-01T00:00:00Z" });
  assert.ok([200, 201].includes(r.status), r.text);
});
after(stop);

/** 403 insufficient_scope naming `scope`, in the API's shape, with WWW-Authenticate. */
function assertScope(r, scope, why = "") {
  assert.equal(r.status, 403, `${why} ${r.text}`);
  assert.equal(r.body.code, "insufficient_scope", why);
  assert.equal(r.body.required, scope, why);
  assert.equal(typeof r.body.message, "string", why);
  assert.equal(r.headers.get("www-authenticate"), `Bearer error="insufficient_scope", scope="${scope}"`, why);
}

/** The same, in OpenAI's error shape (gateway routes). */
function assertGatewayScope(r, why = "") {
  assert.equal(r.status, 403, `${why} ${r.text}`);
  assert.equal(r.body?.error?.code, "insufficient_scope", `${why} ${r.text}`);
  assert.equal(typeof r.body.error.message, "string", why);
  assert.equal(r.headers.get("www-authenticate"), `Bearer error="insufficient_scope", scope="gateway"`, why);
}

/** The user's tokens used, committed and held, from the admin view. */
async function tokensDay(user) {
  const e = (await api.explain(user)).body;
  return e.limits.find((l) => l.metric === "tokens" && l.window === "day").used;
}

describe("scopes", () => {
  test("attack (item 1): a browser token (no scope) zeroes or releases a hold the backend opened", async () => {
    const u = newUser("zero");
    const backend = userAuth(u, sub("free"), { scope: "reserve settle" });
    const browser = browserAuth(u, sub("free"));
    const r = await api.reserve(backend, freeMessage(100, 200));
    assert.equal(r.status, 200, r.text);
    const id = r.body.hold.id;
    assert.equal(await tokensDay(u), 300);

    assertScope(await api.commit(browser, id, { input_tokens: 0, output_tokens: 0 }), "settle", "browser commit");
    assertScope(await api.release(browser, id), "settle", "browser release");
    assert.equal(await tokensDay(u), 300, "the estimate is still held");

    // The backend's real commit counts in full.
    const c = await api.commit(backend, id, { input_tokens: 120, output_tokens: 180 });
    assert.equal(c.status, 200, c.text);
    assert.notEqual(c.body.duplicate, true);
    assert.equal(await tokensDay(u), 300);
  });

  test("attack (item 1): a gateway client's token cannot settle, reserve or redeem", async () => {
    const u = newUser("gwc");
    const backend = userAuth(u, sub("free"), { scope: "reserve settle" });
    const gw = userAuth(u, sub("free"), { scope: "gateway" });
    const id = (await api.reserve(backend, freeMessage(50, 50))).body.hold.id;
    assertScope(await api.commit(gw, id, { input_tokens: 0, output_tokens: 0 }), "settle", "gateway commit");
    assertScope(await api.release(gw, id), "settle", "gateway release");
    assertScope(await api.reserve(gw, freeMessage()), "reserve", "gateway reserve");
    assertScope(await api.redeem(gw, "SCOPE-OPEN", newKey()), "reserve", "gateway redeem");
    assertScope(await api.usage(gw), "usage", "gateway usage");
    assertScope(await api.check(gw, freeMessage()), "usage", "gateway check");
    assert.equal(await tokensDay(u), 100);
  });

  test("a token without scope reads and pre-checks, and nothing else", async () => {
    const u = newUser("ro");
    const browser = browserAuth(u, sub("free"));
    assert.equal((await api.usage(browser)).status, 200);
    const chk = await api.check(browser, freeMessage());
    assert.equal(chk.status, 200, chk.text);
    assert.equal(chk.body.allowed, true);
    // A discount pre-check is a check too.
    const dchk = await api.check(browser, { type: "discount", code: "SCOPE-OPEN" });
    assert.equal(dchk.status, 200, dchk.text);
    assertScope(await api.reserve(browser, freeMessage()), "reserve", "reserve");
    assertScope(await api.redeem(browser, "SCOPE-OPEN", newKey()), "reserve", "redeem");
    assertScope(await api.commit(browser, "h1", { input_tokens: 1, output_tokens: 1 }), "settle", "commit");
    assertScope(await api.release(browser, "h1"), "settle", "release");
    // `scope: null` is no claim.
    const nul = userAuth(u, sub("free"), { scope: null });
    assertScope(await api.reserve(nul, freeMessage()), "reserve", "null scope");
    assert.equal((await api.explain(u)).body.holds.length, 0);
    assert.equal((await api.getDiscount("SCOPE-OPEN")).body.uses, 0);
  });

  test("a usage-only token gets 403 insufficient_scope on every write and on the gateway", async () => {
    const u = newUser("usage");
    const h = userAuth(u, sub("free"), { scope: "usage" });
    assert.equal((await api.usage(h)).status, 200);
    assertScope(await api.reserve(h, freeMessage()), "reserve", "reserve");
    assertScope(await api.commit(h, "h1", { input_tokens: 0, output_tokens: 0 }), "settle", "commit");
    assertScope(await api.release(h, "h1"), "settle", "release");
    assertScope(await api.redeem(h, "SCOPE-OPEN", newKey()), "reserve", "redeem");
    const chat = await w.json("/v1/chat/completions", {
      method: "POST",
      headers: h,
      body: { model: "meta-llama/llama-3.3-8b-instruct:free", messages: [{ role: "user", content: "hi" }] },
    });
    assertGatewayScope(chat, "chat");
    const img = await w.json("/v1/images/generations", { method: "POST", headers: h, body: { model: "openai/gpt-image-1", prompt: "x" } });
    assertGatewayScope(img, "images");
    assertGatewayScope(await w.json("/v1/models", { headers: h }), "models");
    assert.equal((await api.explain(u)).body.holds.length, 0);
  });

  test("each scope opens its routes; unknown words are ignored; several scopes combine", async () => {
    const u = newUser("combo");
    const reserveOnly = userAuth(u, sub("free"), { scope: "reserve" });
    const settleOnly = userAuth(u, sub("free"), { scope: "admin  settle\tsuperuser" });
    const r = await api.reserve(reserveOnly, freeMessage(10, 10));
    assert.equal(r.status, 200, r.text);
    assertScope(await api.commit(reserveOnly, r.body.hold.id, { input_tokens: 1, output_tokens: 1 }), "settle");
    const c = await api.commit(settleOnly, r.body.hold.id, { input_tokens: 1, output_tokens: 1 });
    assert.equal(c.status, 200, c.text);
    assertScope(await api.reserve(settleOnly, freeMessage()), "reserve", "settle cannot reserve");
    const red = await api.redeem(reserveOnly, "SCOPE-OPEN", newKey());
    assert.equal(red.status, 200, red.text);
    // Unknown words only: nothing at all (not even usage).
    assertScope(await api.usage(userAuth(u, sub("free"), { scope: "admin root" })), "usage", "unknown only");
    const models = await w.json("/v1/models", { headers: userAuth(u, sub("free"), { scope: "gateway" }) });
    assert.equal(models.status, 200, models.text);
  });

  test("a scope claim that is not a string is refused (401)", async () => {
    for (const scope of [["usage", "reserve"], 1, { usage: true }, true]) {
      const r = await api.usage(userAuth(newUser(), sub("free"), { scope }));
      assert.equal(r.status, 401, `${JSON.stringify(scope)}: ${r.text}`);
    }
  });

  test("CORS exposes WWW-Authenticate", async () => {
    const origin = TEST_VARS.TOLLGATE_ALLOWED_ORIGINS.split(",")[0];
    const r = await w.json("/v1/reserve", {
      method: "POST",
      headers: { ...browserAuth(newUser()), origin, "idempotency-key": newKey() },
      body: freeMessage(),
    });
    assert.equal(r.status, 403);
    const exposed = (r.headers.get("access-control-expose-headers") ?? "").toLowerCase().split(/\s*,\s*/);
    assert.ok(exposed.includes("www-authenticate"), exposed.join(","));
  });
});

// ------------------------------------------------------------ canonical JWS

const b64 = (s) => Buffer.from(s).toString("base64url");
const mac = (input) => createHmac("sha256", TEST_VARS.TOLLGATE_JWT_SECRET).update(input).digest("base64url");
const HEADER = '{"alg":"HS256","typ":"JWT"}';
const claimsText = (u, extra = "") =>
  `{"sub":"${u}","exp":${nowS() + 3600},"scope":"usage reserve settle"${extra},"subscription":${JSON.stringify(sub("free"))}}`;

/** A token from raw header/payload parts, signed over exactly those parts. */
function signRaw(h, p) {
  return `${h}.${p}.${mac(`${h}.${p}`)}`;
}
const bearer = (t) => ({ authorization: `Bearer ${t}` });
const pad = (s) => s + "=".repeat((4 - (s.length % 4)) % 4);
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

async function assertRefused(token, why) {
  const r = await api.usage(bearer(token));
  assert.equal(r.status, 401, `${why}: accepted (${r.status}) ${r.text}`);
  assert.equal(r.body.code, "unauthorized");
}

describe("tokens are canonical (item 12)", () => {
  test("the canonical token is accepted (control)", async () => {
    const u = newUser("canon");
    const r = await api.usage(bearer(signRaw(b64(HEADER), b64(claimsText(u)))));
    assert.equal(r.status, 200, r.text);
  });

  test("attack: a signature with = padding", async () => {
    // A 32-byte MAC is 43 characters: one `=` pads it to 44.
    const t = signRaw(b64(HEADER), b64(claimsText(newUser())));
    await assertRefused(`${t}=`, "signature + '='");
  });

  test("attack: a signature in standard base64 (+ and /)", async () => {
    // Find a token whose MAC spells a `-` or `_` in base64url.
    let t;
    for (let i = 0; ; i++) {
      t = signRaw(b64(HEADER), b64(claimsText(newUser(), `,"n":${i}`)));
      if (/[-_]/.test(t.split(".")[2])) break;
    }
    const [h, p, s] = t.split(".");
    await assertRefused(`${h}.${p}.${s.replace(/-/g, "+").replace(/_/g, "/")}`, "standard base64 signature");
  });

  test("attack: the last character's unused low bits changed", async () => {
    const [h, p, s] = signRaw(b64(HEADER), b64(claimsText(newUser()))).split(".");
    // 43 characters carry 258 bits: the last character's 2 low bits are unused.
    const last = ALPHABET.indexOf(s.at(-1));
    const other = ALPHABET[last ^ 1];
    await assertRefused(`${h}.${p}.${s.slice(0, -1)}${other}`, "low bits changed");
  });

  test("attack: header and payload with padding (signed as sent)", async () => {
    // Lengths chosen so that both need padding (whitespace is still JSON).
    const u = newUser("pad");
    let header = HEADER;
    while (b64(header).length % 4 === 0) header = header.replace("}", " }");
    let text = claimsText(u);
    while (b64(text).length % 4 === 0) text = text.replace("}}", "} }");
    const p = b64(text);
    assert.equal((await api.usage(bearer(signRaw(b64(header), p)))).status, 200, "unpadded control");
    await assertRefused(signRaw(pad(b64(header)), p), "padded header");
    await assertRefused(signRaw(b64(header), pad(p)), "padded payload");
  });

  test("attack: a header with alg twice, a payload with sub twice", async () => {
    const u = newUser("dup");
    await assertRefused(signRaw(b64('{"alg":"none","alg":"HS256"}'), b64(claimsText(u))), "alg twice");
    const twice = `{"sub":"alice-${u}","sub":"${u}","exp":${nowS() + 3600},"scope":"usage"}`;
    await assertRefused(signRaw(b64(HEADER), b64(twice)), "sub twice");
    // The same key twice at depth, inside the subscription claim.
    const deep = claimsText(u).replace('"plan":"free"', '"plan":"free","plan":"premium"');
    await assertRefused(signRaw(b64(HEADER), b64(deep)), "subscription.plan twice");
  });
});
