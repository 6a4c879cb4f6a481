#!/usr/bin/env node
// Prints a development JWT (HS256) for the local Worker, signed with
// TOLLGATE_JWT_SECRET from .dev.vars (or .dev.vars.example).
//
//   node scripts/token.mjs --user alice --plan basic        # 30-day subscription
//   make -s token USER=alice PLAN=basic                     # the backend's token
//   make -s token USER=alice SCOPE=usage                    # the browser's token
//   make -s token USER=alice SCOPE=gateway                  # a gateway client's key
//   TOKEN=$(make -s token USER=alice PLAN=free)
//
// Options: --user (required), --plan (default basic), --scope (the `scope`
// claim, SPEC §5; default "reserve settle", what the platform's backend
// holds; "usage" for a browser, which may only read and pre-check; "gateway"
// for a client of the OpenAI-compatible routes; "" for a token without the
// claim, which the Worker reads as "usage"), --days (subscription length,
// default 30), --hours (token lifetime, default 24), --sub-id (default
// dev-<user>: stable, so re-minted tokens keep counting the same subscription
// window), --no-subscription (a token without the claim), --inactive,
// --vars FILE.

import { createHmac } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const { values: a } = parseArgs({
  options: {
    user: { type: "string" },
    plan: { type: "string", default: "basic" },
    scope: { type: "string", default: "reserve settle" },
    days: { type: "string", default: "30" },
    hours: { type: "string", default: "24" },
    "sub-id": { type: "string" },
    "no-subscription": { type: "boolean", default: false },
    inactive: { type: "boolean", default: false },
    vars: { type: "string" },
  },
});

function die(msg) {
  console.error(`token.mjs: ${msg}`);
  process.exit(2);
}

if (!a.user) die("--user is required (make token USER=alice PLAN=basic)");
if (!/^[A-Za-z0-9._:@-]{1,128}$/.test(a.user)) die("user: 1-128 characters of A-Z a-z 0-9 . _ : @ -");
const days = Number(a.days);
const hours = Number(a.hours);
if (!(days > 0) || !(hours > 0)) die("--days and --hours must be positive");

/** Reads KEY="value" / KEY=value lines of a .dev.vars file. */
function readVars(file) {
  const out = {};
  for (const line of readFileSync(file, "utf8").split(/\r?\n/)) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m || line.trim().startsWith("#")) continue;
    let v = m[2];
    if (/^".*"$/.test(v) || /^'.*'$/.test(v)) v = v.slice(1, -1);
    out[m[1]] = v;
  }
  return out;
}

const file =
  a.vars ?? [".dev.vars", ".dev.vars.example"].map((f) => path.join(ROOT, f)).find((f) => existsSync(f));
if (!file || !existsSync(file)) die("no .dev.vars (run make dev once, or cp .dev.vars.example .dev.vars)");
const secret = process.env.TOLLGATE_JWT_SECRET || readVars(file).TOLLGATE_JWT_SECRET;
if (!secret) die(`TOLLGATE_JWT_SECRET is not set in ${file}`);

const now = Math.floor(Date.now() / 1000);
const claims = { sub: a.user, iat: now, exp: now + Math.round(hours * 3600) };
const scope = a.scope.trim().split(/\s+/).filter(Boolean);
const KNOWN = ["usage", "reserve", "settle", "gateway"];
const unknown = scope.filter((s) => !KNOWN.includes(s));
if (unknown.length) die(`unknown scope ${unknown.join(" ")} (known: ${KNOWN.join(" ")})`);
if (scope.length) claims.scope = scope.join(" ");
if (!a["no-subscription"]) {
  claims.subscription = {
    id: a["sub-id"] ?? `dev-${a.user}`,
    plan: a.plan,
    active: !a.inactive,
    starts_at: now - 60,
    ends_at: now + Math.round(days * 86400),
  };
}

const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
const head = b64({ alg: "HS256", typ: "JWT" });
const body = b64(claims);
const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
console.log(`${head}.${body}.${sig}`);
