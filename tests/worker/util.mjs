// Helpers shared by the Worker HTTP tests (on top of harness.mjs).

import net from "node:net";
import { auth, signJwt, TEST_VARS } from "./harness.mjs";

export { auth, signJwt, TEST_VARS };

/** Unix seconds now. */
export const nowS = () => Math.floor(Date.now() / 1000);

/** A subscription claim on `plan`, started a day ago, ending in 30 days. */
export function sub(plan = "free", id = "s1") {
  const t = nowS();
  return { id, plan, active: true, starts_at: t - 86400, ends_at: t + 30 * 86400 };
}

/** The scopes most tests need: read, reserve and settle (SPEC §5). */
export const ALL_USER_SCOPES = "usage reserve settle";

/**
 * Authorization headers of a user token (valid for an hour unless `exp` is
 * given) with the scopes `usage reserve settle` unless `extra.scope` says
 * otherwise (`scope: null`: a token without the claim, which may only read).
 * `subscription` null: a token without the claim.
 */
export function userAuth(userId, subscription = sub(), extra = {}) {
  const claims = { sub: userId, exp: nowS() + 3600, scope: ALL_USER_SCOPES, ...extra };
  if (claims.scope === null) delete claims.scope;
  if (subscription !== null) claims.subscription = subscription;
  return auth.user(claims);
}

/** The token a browser holds: no `scope` claim, so `usage` only. */
export const browserAuth = (userId, subscription = sub()) => userAuth(userId, subscription, { scope: null });

/** A model call on the default config's free model. */
export function freeMessage(input = 100, output = 200) {
  return {
    type: "message",
    model: "meta-llama/llama-3.3-8b-instruct:free",
    input_tokens: input,
    max_output_tokens: output,
    kind: "send",
  };
}

let keySeq = 0;
/** A fresh Idempotency-Key. */
export const newKey = () => `k-${process.pid}-${Date.now()}-${keySeq++}`;

let userSeq = 0;
/** A fresh user id. */
export const newUser = (p = "u") => `${p}-${Date.now().toString(36)}-${userSeq++}`;

/** Small API client over a started worker (harness start()). */
export function client(w) {
  const post = (path, body, headers = {}) =>
    w.json(path, { method: "POST", headers, ...(body === undefined ? {} : { body }) });
  return {
    check: (h, action, q = "") => post(`/v1/check${q}`, action, h),
    reserve: (h, action, key = newKey(), q = "") =>
      post(`/v1/reserve${q}`, action, key == null ? h : { ...h, "idempotency-key": key }),
    commit: (h, id, usage) => post(`/v1/holds/${encodeURIComponent(id)}/commit`, usage, h),
    release: (h, id) => post(`/v1/holds/${encodeURIComponent(id)}/release`, undefined, h),
    usage: (h) => w.json("/v1/usage", { headers: h }),
    redeem: (h, code, key) =>
      post(`/v1/discounts/${encodeURIComponent(code)}/redeem`, undefined, key ? { ...h, "idempotency-key": key } : h),
    putConfig: (config) => w.json("/v1/admin/config", { method: "PUT", headers: auth.admin(), body: config }),
    getConfig: () => w.json("/v1/admin/config", { headers: auth.admin() }),
    explain: (user) => w.json(`/v1/admin/users/${encodeURIComponent(user)}`, { headers: auth.admin() }),
    reset: (user, body = {}) =>
      w.json(`/v1/admin/users/${encodeURIComponent(user)}/reset`, { method: "POST", headers: auth.admin(), body }),
    putDiscount: (code, rule) =>
      w.json(`/v1/admin/discounts/${encodeURIComponent(code)}`, { method: "PUT", headers: auth.admin(), body: rule }),
    getDiscount: (code) => w.json(`/v1/admin/discounts/${encodeURIComponent(code)}`, { headers: auth.admin() }),
  };
}

/** A config with one plan `p` (all models) and the given limits. */
export function onePlanConfig(limits, extra = {}, planExtra = {}) {
  return {
    version: 1,
    timezone: "Asia/Tehran",
    locale: "fa",
    models: [
      { id: "paid/model", free: false, input_usd_per_mtok: 1, output_usd_per_mtok: 2 },
      { id: "free/model:free", free: true },
    ],
    plans: [{ id: "p", active: true, tier: 1, models: ["*"], limits, ...planExtra }],
    ...extra,
  };
}

/** The explain body without the fields that move with time. */
export function stable(explainBody) {
  const { as_of, ...rest } = explainBody;
  return rest;
}

/**
 * POSTs a chunked body over a raw socket, writing `chunks` chunks of
 * `chunkBytes` every few ms without waiting for an answer, and resolves with
 * the answer's `{status, body, ms}` as soon as its head and body arrived
 * (or `{status: "timeout"}` after `ms`). A raw socket because the Worker
 * answers 413 while the client is still writing and then closes the
 * connection: `fetch` reports only the reset, a client that reads sees the 413.
 */
export function chunkedPost(w, path, headers, { chunkBytes = 16 * 1024, chunks = 64, ms = 5000 } = {}) {
  const { hostname, port } = new URL(w.url);
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(Number(port), hostname);
    let got = Buffer.alloc(0);
    let sent = 0;
    let done = false;
    const finish = (v) => {
      if (done) return;
      done = true;
      clearInterval(writer);
      clearTimeout(timer);
      sock.destroy();
      resolve({ ...v, ms: Date.now() - t0, sentBytes: sent * chunkBytes });
    };
    const timer = setTimeout(() => finish({ status: "timeout" }), ms);
    sock.on("error", () => {});
    sock.on("close", () => finish({ status: "closed", raw: got.toString() }));
    sock.on("data", (d) => {
      got = Buffer.concat([got, d]);
      const text = got.toString();
      const head = text.indexOf("\r\n\r\n");
      const len = /content-length:\s*(\d+)/i.exec(text);
      if (head >= 0 && len && got.length >= head + 4 + Number(len[1])) {
        const body = got.subarray(head + 4, head + 4 + Number(len[1])).toString();
        finish({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]), body: JSON.parse(body) });
      }
    });
    const lines = Object.entries({ host: hostname, "content-type": "application/json", ...headers })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    sock.write(`POST ${path} HTTP/1.1\r\n${lines}transfer-encoding: chunked\r\n\r\n`);
    const chunk = `${chunkBytes.toString(16)}\r\n${" ".repeat(chunkBytes)}\r\n`;
    const writer = setInterval(() => {
      if (sock.destroyed || done) return;
      if (sent++ < chunks) sock.write(chunk);
      else {
        clearInterval(writer);
        sock.write("0\r\n\r\n");
      }
    }, 2);
  });
}

/**
 * One HTTP/1.1 request over a raw socket, for bodies the server may refuse
 * before reading them (413): the server's early answer is read even when
 * it closes the connection while the body is still being written (which a
 * fetch client reports as ECONNRESET). Resolves `{status, body, text}`.
 */
export async function rawHttp(w, method, path, headers, body) {
  // workerd may reset such a connection before its answer is readable (the
  // unread body): that attempt says nothing, so it is made again (3 at most).
  let last;
  for (let i = 0; i < 3; i++) {
    try {
      return await rawHttpOnce(w, method, path, headers, body);
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

async function rawHttpOnce(w, method, path, headers, body) {
  const { default: net } = await import("node:net");
  const { hostname, port } = new URL(w.url);
  const payload = Buffer.from(body);
  const head = [`${method} ${path} HTTP/1.1`, `host: ${hostname}:${port}`, "connection: close",
    `content-length: ${payload.length}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), "", ""].join("\r\n");
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname);
    const chunks = [];
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no answer to ${method} ${path} in 10 s`)); }, 10_000);
    const done = () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString("utf8");
      const m = /^HTTP\/1\.1 (\d{3})/.exec(raw);
      if (!m) return reject(new Error(`no HTTP answer to ${method} ${path}: ${JSON.stringify(raw.slice(0, 200))}`));
      const text = raw.slice(raw.indexOf("\r\n\r\n") + 4);
      let parsed;
      try { parsed = JSON.parse(text); } catch { parsed = undefined; }
      resolve({ status: Number(m[1]), body: parsed, text });
    };
    sock.on("data", (d) => chunks.push(d));
    sock.on("end", done);
    sock.on("close", () => done());
    // The server may stop reading early: a failed write is expected, not an error.
    sock.on("error", () => {});
    sock.write(head);
    sock.write(payload);
  });
}
