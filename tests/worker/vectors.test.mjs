// The shared vectors (tests/vectors/*.json) replayed through the HTTP API.
//
// The input is target/vectors-native.json (`cargo run --example
// replay_vectors`): every vector as the native side read it, with the native
// answer of each case. Each case runs as a fresh user (and fresh discount
// codes) against one Worker:
//
//   config        PUT /v1/admin/config (the file's, or the case's own)
//   reserve       POST /v1/reserve (Idempotency-Key = the event's key or a
//                 fresh one), then POST /v1/holds/{id}/commit if `commit`
//   commit        POST /v1/holds/{hold}/commit
//   release       POST /v1/holds/{hold}/release
//   expire        GET /v1/usage: the object's housekeeping (Engine::maintain)
//                 at that instant, as the native `expire` does
//   reset         POST /v1/admin/users/{user}/reset
//   discount_put  PUT /v1/admin/discounts/{code}
//   redeem        POST /v1/discounts/{code}/redeem as the event's user
//   final op      POST /v1/check | /v1/reserve | /v1/discounts/{code}/redeem
//
// Every request carries `x-tollgate-now` (the vector's clock; the harness
// turns TOLLGATE_DEV_CLOCK on) and a JWT with the case's current
// subscription. The answer must match the case's `expect` (subset) and equal
// the native answer field for field; for a malformed action, the HTTP 400
// body's {code, errors} and its status equal the native ones.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { ROOT, start, stop } from "./harness.mjs";
import { ALL_USER_SCOPES, auth, signJwt } from "./util.mjs";

const NATIVE = path.join(ROOT, "target/vectors-native.json");
const EXP = 4102444800; // 2100-01-01: tokens outlive every vector date

/** The vector format's `expect` rule (src/replay.rs `subset_mismatch`). */
function subsetMismatch(expected, actual, p = "") {
  const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (isObj(expected) && isObj(actual)) {
    for (const [k, ev] of Object.entries(expected)) {
      const q = p ? `${p}.${k}` : k;
      if (Object.hasOwn(actual, k)) {
        const m = subsetMismatch(ev, actual[k], q);
        if (m) return m;
      } else if (ev !== null) return `${q}: missing, expected ${JSON.stringify(ev)}`;
    }
    return null;
  }
  if (Array.isArray(expected) && Array.isArray(actual)) {
    if (expected.length !== actual.length) return `${p}: expected ${expected.length} elements, got ${actual.length}`;
    for (let i = 0; i < expected.length; i++) {
      const m = subsetMismatch(expected[i], actual[i], `${p}[${i}]`);
      if (m) return m;
    }
    return null;
  }
  if (typeof expected === "number" && typeof actual === "number") {
    return expected === actual ? null : `${p}: expected ${expected}, got ${actual}`;
  }
  return expected === actual ? null : `${p}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`;
}

const atMs = (at) => (typeof at === "number" ? at : Date.parse(at));

let w;
let lastConfig = null;
before(async () => {
  w = await start();
});
after(stop);

let caseSeq = 0;

/** Replays one case; returns the final answer `{status, body}` (codes mapped back). */
async function replay(config, c) {
  const n = caseSeq++;
  const userId = (u) => `v${n}-${u ?? "u1"}`;
  const codeId = (code) => `${code}-v${n}`;
  const unmapCode = (v) => {
    if (v && typeof v === "object" && typeof v.code === "string" && v.code.endsWith(`-v${n}`)) {
      return { ...v, code: v.code.slice(0, -`-v${n}`.length) };
    }
    return v;
  };
  const cfgText = JSON.stringify(config);
  if (cfgText !== lastConfig) {
    const r = await w.json("/v1/admin/config", { method: "PUT", headers: auth.admin(), body: config });
    assert.equal(r.status, 200, `config: ${r.text}`);
    lastConfig = cfgText;
  }
  let subscription = c.subscription ?? null;
  const owner = userId(c.user);
  const headers = (at, user = owner) => {
    const claims = { sub: user, exp: EXP, scope: ALL_USER_SCOPES };
    if (subscription !== null) claims.subscription = subscription;
    return { authorization: `Bearer ${signJwt(claims)}`, "x-tollgate-now": String(atMs(at)) };
  };
  const admin = (at) => ({ ...auth.admin(), "x-tollgate-now": String(atMs(at)) });
  let k = 0;
  const key = () => `vk-${n}-${k++}`;

  for (const [i, ev] of (c.events ?? []).entries()) {
    if (Object.hasOwn(ev, "subscription")) subscription = ev.subscription;
    const op = ev.op ?? "reserve";
    const where = `events[${i}] (${op})`;
    if (op === "reserve") {
      const r = await w.json("/v1/reserve", {
        method: "POST",
        headers: { ...headers(ev.at), "idempotency-key": ev.key ?? key() },
        body: ev.action,
      });
      assert.ok(r.status !== 400 && r.status < 500, `${where}: ${r.status} ${r.text}`);
      if (ev.expect_allowed !== undefined) assert.equal(r.body.allowed, ev.expect_allowed, `${where}: ${r.text}`);
      if (ev.commit && r.body.hold) {
        const cr = await w.json(`/v1/holds/${r.body.hold.id}/commit`, { method: "POST", headers: headers(ev.at), body: ev.commit });
        assert.equal(cr.status, 200, `${where} commit: ${cr.text}`);
      }
    } else if (op === "commit") {
      const r = await w.json(`/v1/holds/${ev.hold}/commit`, { method: "POST", headers: headers(ev.at), body: ev.usage ?? {} });
      assert.ok([200, 404, 409].includes(r.status), `${where}: ${r.status} ${r.text}`);
    } else if (op === "release") {
      const r = await w.json(`/v1/holds/${ev.hold}/release`, { method: "POST", headers: headers(ev.at) });
      assert.ok([200, 404].includes(r.status), `${where}: ${r.status} ${r.text}`);
    } else if (op === "expire") {
      const r = await w.json("/v1/usage", { headers: headers(ev.at) });
      assert.equal(r.status, 200, `${where}: ${r.text}`);
    } else if (op === "reset") {
      const body = {};
      for (const f of ["metrics", "windows"]) if (ev[f] !== undefined) body[f] = ev[f];
      const r = await w.json(`/v1/admin/users/${owner}/reset`, { method: "POST", headers: admin(ev.at), body });
      assert.equal(r.status, 200, `${where}: ${r.text}`);
    } else if (op === "discount_put") {
      const r = await w.json(`/v1/admin/discounts/${codeId(ev.code)}`, { method: "PUT", headers: admin(ev.at), body: ev.rule ?? {} });
      assert.ok([200, 201].includes(r.status), `${where}: ${r.text}`);
    } else if (op === "redeem") {
      const r = await w.json(`/v1/discounts/${codeId(ev.code)}/redeem`, { method: "POST", headers: headers(ev.at, userId(ev.user)) });
      assert.ok([200, 403].includes(r.status), `${where}: ${r.status} ${r.text}`);
    } else if (op === "grant") {
      const r = await w.json(`/v1/admin/users/${owner}/grants`, { method: "POST", headers: admin(ev.at), body: ev.grant });
      assert.ok([200, 201].includes(r.status), `${where}: ${r.status} ${r.text}`);
    } else if (op === "revoke") {
      const r = await w.json(`/v1/admin/users/${owner}/grants/${encodeURIComponent(ev.grant)}`, { method: "DELETE", headers: admin(ev.at) });
      assert.ok([200, 404].includes(r.status), `${where}: ${r.status} ${r.text}`);
    } else {
      assert.fail(`${where}: unknown op`);
    }
  }

  const q = new URLSearchParams();
  if (c.options?.explain) q.set("explain", "1");
  if (c.options?.locale) q.set("lang", c.options.locale);
  const qs = q.size ? `?${q}` : "";
  const op = c.op ?? "check";
  let r;
  if (op === "redeem") {
    r = await w.json(`/v1/discounts/${codeId(c.code)}/redeem${qs}`, { method: "POST", headers: headers(c.at) });
  } else if (op === "usage") {
    r = await w.json(`/v1/usage${qs}`, { headers: headers(c.at) });
  } else {
    let action = c.action;
    if (action && typeof action === "object" && action.type === "discount" && typeof action.code === "string") {
      action = { ...action, code: codeId(action.code) };
    }
    const h = headers(c.at);
    if (op === "reserve") h["idempotency-key"] = c.key ?? key();
    r = await w.json(`/v1/${op === "reserve" ? "reserve" : "check"}${qs}`, { method: "POST", headers: h, body: action });
  }
  return { status: r.status, body: unmapCode(r.body), text: r.text, retryAfter: r.headers.get("retry-after") };
}

const doc = existsSync(NATIVE) ? JSON.parse(readFileSync(NATIVE, "utf8")) : null;

describe("shared vectors over HTTP", { skip: doc ? false : `${NATIVE} missing: cargo run --example replay_vectors` }, () => {
  for (const file of doc?.files ?? []) {
    test(file.file, async () => {
      assert.equal(file.error, undefined, file.error);
      const failures = [];
      for (const [i, c] of file.vector.cases.entries()) {
        const native = file.native[i];
        const label = `case ${i} (${c.name})`;
        if (native.error) {
          failures.push(`${label}: native error ${native.error}`);
          continue;
        }
        const config = c.config ?? file.vector.config;
        let got;
        try {
          got = await replay(config, c);
        } catch (e) {
          failures.push(`${label}: ${e.message}`);
          continue;
        }
        const want = native.decision;
        if (want.code === "bad_request" && want.status === 400 && want.errors) {
          // A malformed action: HTTP 400 with the same problems (+ message).
          if (got.status !== 400) failures.push(`${label}: status ${got.status}, want 400: ${got.text}`);
          try {
            assert.deepEqual({ code: got.body?.code, errors: got.body?.errors }, { code: want.code, errors: want.errors });
          } catch (e) {
            failures.push(`${label}: ${e.message}`);
          }
          continue;
        }
        const m = subsetMismatch(c.expect ?? {}, got.body);
        if (m) failures.push(`${label}: expect: ${m}\n  got: ${got.text}`);
        try {
          assert.deepEqual(got.body, want);
        } catch (e) {
          failures.push(`${label}: differs from native: ${e.message.slice(0, 1500)}`);
        }
        const wantStatus = want.redeemed === true || c.op === "usage" ? 200 : want.status;
        if (got.status !== wantStatus) failures.push(`${label}: HTTP ${got.status}, decision status ${wantStatus}`);
        const wantRetry = want.allowed === false && want.retry_after_s != null ? String(want.retry_after_s) : null;
        if (got.retryAfter !== wantRetry) failures.push(`${label}: Retry-After ${got.retryAfter}, want ${wantRetry}`);
      }
      assert.deepEqual(failures, [], failures.join("\n"));
      assert.ok(file.vector.cases.length > 0);
    });
  }
});
