// Helpers shared by the Worker HTTP tests (on top of harness.mjs).

import net from "node:net";
import { auth, signJwt, TEST_VARS } from "./harness.mjs";

export { auth, signJwt, TEST_VARS };

/** Resolves after `ms` milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `f` every 100 ms until it answers something truthy (returned), or
 * fails the test after `ms` naming `what`: for work an alarm does later.
 */
export async function until(what, f, ms = 15000) {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

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
 * Sends a request over a raw socket and resolves with the answer's
 * `{status, body, ms, sentBytes}` as soon as its head and body arrived (or
 * `{status: "timeout"}` after `ms`, `{status: "closed"}` without an answer).
 * `write(sock, done)` writes the request (and may go on writing until
 * `done()` is true). A raw socket because the Worker may answer 413 while the
 * client is still writing and then close the connection: `fetch` reports
 * only the reset, a client that reads sees the 413.
 */
function rawExchange(w, write, ms) {
  const { hostname, port } = new URL(w.url);
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(Number(port), hostname);
    let got = Buffer.alloc(0);
    let done = false;
    const state = { sentBytes: 0 };
    const finish = (v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ ...v, ms: Date.now() - t0, sentBytes: state.sentBytes });
    };
    const timer = setTimeout(() => finish({ status: "timeout" }), ms);
    sock.on("error", () => {});
    sock.on("close", () => finish({ status: "closed", raw: got.toString() }));
    sock.on("data", (d) => {
      got = Buffer.concat([got, d]);
      const head = got.indexOf("\r\n\r\n");
      if (head < 0) return;
      const len = /content-length:\s*(\d+)/i.exec(got.subarray(0, head).toString());
      if (len && got.length >= head + 4 + Number(len[1])) {
        const body = got.subarray(head + 4, head + 4 + Number(len[1])).toString();
        finish({ status: Number(got.subarray(9, 12).toString()), body: JSON.parse(body) });
      }
    });
    write(sock, () => done, state);
  });
}

const headerLines = (hostname, headers) =>
  Object.entries({ host: hostname, "content-type": "application/json", ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");

/**
 * POSTs (or `method`s) `body` over a raw socket with its Content-Length, or
 * with `headers["content-length"]` when given (then more than is sent: the
 * connection stays open, waiting): see rawExchange.
 */
export function declaredPost(w, path, headers, body, { method = "POST", ms = 5000 } = {}) {
  const { hostname } = new URL(w.url);
  const bytes = Buffer.from(body);
  const { "content-length": declared = String(bytes.length), ...rest } = headers;
  return rawExchange(
    w,
    (sock, _done, state) => {
      sock.write(`${method} ${path} HTTP/1.1\r\n${headerLines(hostname, rest)}content-length: ${declared}\r\n\r\n`);
      sock.write(bytes);
      state.sentBytes = bytes.length;
    },
    ms,
  );
}

/**
 * POSTs a chunked body over a raw socket, writing `chunks` chunks of
 * `chunkBytes` every few ms without waiting for an answer (see rawExchange).
 */
export function chunkedPost(w, path, headers, { chunkBytes = 16 * 1024, chunks = 64, ms = 5000 } = {}) {
  const { hostname } = new URL(w.url);
  return rawExchange(
    w,
    (sock, done, state) => {
      sock.write(`POST ${path} HTTP/1.1\r\n${headerLines(hostname, headers)}transfer-encoding: chunked\r\n\r\n`);
      const chunk = `${chunkBytes.toString(16)}\r\n${" ".repeat(chunkBytes)}\r\n`;
      let sent = 0;
      const writer = setInterval(() => {
        if (sock.destroyed || done()) return clearInterval(writer);
        if (sent++ < chunks) {
          sock.write(chunk);
          state.sentBytes += chunkBytes;
        } else {
          clearInterval(writer);
          sock.write("0\r\n\r\n");
        }
      }, 2);
    },
    ms,
  );
}
