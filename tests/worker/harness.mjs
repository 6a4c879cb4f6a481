// Test harness for the built Worker: runs worker/build/index.js in workerd via
// miniflare@4 on 127.0.0.1, with the Durable Objects from wrangler.toml
// (SQLite-backed), and gives tests a small fetch wrapper.
//
//   import { start, stop } from "./harness.mjs";
//   const w = await start();                 // fresh, in-memory state
//   const w = await start({ persistDir });   // state on disk (restart tests)
//   const r = await w.fetch("/healthz");     // real HTTP to 127.0.0.1:<port>
//   const { status, body, headers } = await w.json("/bench/counter?user=a", { method: "POST" });
//   await w.stop();                          // or stop() for every started worker
//
// Build the Worker first (`make worker`); the harness never builds.

import { Miniflare, Log, LogLevel } from "miniflare";
import { createHmac } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SCRIPT = path.join(ROOT, "worker/build/index.js");

/** Secrets and vars the Worker gets in tests (same names as .dev.vars.example). */
export const TEST_VARS = Object.freeze({
  TOLLGATE_JWT_SECRET: "test-jwt-secret-0123456789abcdef0123456789abcdef",
  TOLLGATE_ADMIN_TOKEN: "test-admin-token",
  TOLLGATE_ALLOWED_ORIGINS: "http://127.0.0.1:8080",
  UPSTREAM_URL: "http://127.0.0.1:9/v1/chat/completions",
  UPSTREAM_API_KEY: "test-upstream-key",
  // Tests only: the x-tollgate-now header sets the request clock (replaying
  // the shared vectors at their fixed dates). Off in wrangler.toml and
  // .dev.vars.example.
  TOLLGATE_DEV_CLOCK: "1",
  // Objects re-read the config revision on every request (default 2000 ms).
  TOLLGATE_CONFIG_TTL_MS: "0",
  // The /bench/counter baseline route.
  TOLLGATE_BENCH: "1",
});

/** compatibility_date and Durable Object bindings, read from wrangler.toml. */
export function wranglerConfig() {
  const toml = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");
  const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  const durableObjects = {};
  const block = /\[\[durable_objects\.bindings\]\]([\s\S]*?)(?=\n\[|$)/g;
  for (const m of toml.matchAll(block)) {
    const name = /^\s*name\s*=\s*"([^"]+)"/m.exec(m[1])?.[1];
    const className = /^\s*class_name\s*=\s*"([^"]+)"/m.exec(m[1])?.[1];
    if (name && className) durableObjects[name] = className;
  }
  if (!date || Object.keys(durableObjects).length === 0) {
    throw new Error("wrangler.toml: cannot read compatibility_date or durable_objects.bindings");
  }
  // [assets] directory: the admin console (scripts/build-admin.sh).
  const assets = /^\[assets\][^[]*?^directory\s*=\s*"([^"]+)"/m.exec(toml)?.[1];
  return { compatibilityDate: date, durableObjects, assets: assets && path.join(ROOT, assets) };
}

/** A new empty temp directory (removed by stop() when the harness made it). */
export function tempDir(prefix = "tollgate-mf-") {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

const running = new Set();

/**
 * Start the built Worker.
 * @param {object} [opts]
 * @param {string} [opts.persistDir] keep Durable Object state in this directory
 *   (pass the same one to a later start() to test restarts); default: in memory.
 * @param {Record<string,string>} [opts.vars] extra or overriding bindings.
 * @param {boolean} [opts.verbose] show workerd logs (console.log from the Worker).
 * @param {object} [opts.miniflare] extra Miniflare options, merged last.
 */
export async function start(opts = {}) {
  if (!existsSync(SCRIPT)) {
    throw new Error(`${SCRIPT} is missing: build the Worker first (make worker)`);
  }
  const { compatibilityDate, durableObjects, assets } = wranglerConfig();
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0, // any free port; the real one is in `url`
    modules: true,
    scriptPath: SCRIPT,
    modulesRoot: path.dirname(SCRIPT),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate,
    cf: false, // placeholder Request.cf; never fetch the real one (no internet)
    durableObjects: Object.fromEntries(
      Object.entries(durableObjects).map(([binding, className]) => [
        binding,
        { className, useSQLite: true },
      ]),
    ),
    bindings: { ...TEST_VARS, ...(opts.vars ?? {}) },
    // Static assets in front of the Worker, as wrangler serves them (a
    // request that matches no file reaches the Worker).
    ...(assets && existsSync(assets)
      ? { assets: { directory: assets, routerConfig: { has_user_worker: true } } }
      : {}),
    ...(opts.persistDir ? { defaultPersistRoot: opts.persistDir } : {}),
    log: new Log(opts.verbose || process.env.TOLLGATE_TEST_VERBOSE ? LogLevel.DEBUG : LogLevel.WARN),
    ...(opts.miniflare ?? {}),
  });
  const url = await mf.ready; // URL object, e.g. http://127.0.0.1:41234/
  const base = url.href.replace(/\/$/, "");

  const worker = {
    mf,
    url: base,
    persistDir: opts.persistDir,
    /** fetch(path or absolute URL, init) over real HTTP. */
    fetch(p, init) {
      return fetch(p.startsWith("http") ? p : base + p, init);
    },
    /** fetch and parse the JSON body: { status, headers, body, text }. */
    async json(p, init = {}) {
      const headers = new Headers(init.headers);
      if (init.body !== undefined && typeof init.body !== "string") {
        init = { ...init, body: JSON.stringify(init.body) };
        if (!headers.has("content-type")) headers.set("content-type", "application/json");
      }
      const res = await worker.fetch(p, { ...init, headers });
      const text = await res.text();
      let body;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined;
      }
      return { status: res.status, headers: res.headers, body, text };
    },
    async stop() {
      if (!running.has(worker)) return;
      running.delete(worker);
      await mf.dispose();
    },
  };
  running.add(worker);
  return worker;
}

/** Stop every Worker started by this process. */
export async function stop() {
  await Promise.all([...running].map((w) => w.stop()));
}

/** Remove a directory made by tempDir(). */
export function removeDir(dir) {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** An HS256 JWT for `claims`, signed with `secret` (default: the test secret). */
export function signJwt(claims, secret = TEST_VARS.TOLLGATE_JWT_SECRET) {
  const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
  const head = b64({ alg: "HS256", typ: "JWT" });
  const body = b64(claims);
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

/** Authorization headers for a user JWT or the admin token. */
export const auth = {
  user: (claims, secret) => ({ authorization: `Bearer ${signJwt(claims, secret)}` }),
  admin: (token = TEST_VARS.TOLLGATE_ADMIN_TOKEN) => ({ authorization: `Bearer ${token}` }),
};
