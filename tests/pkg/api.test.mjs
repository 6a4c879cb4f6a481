// The JS API of the npm package (SPEC §6) under Node 24, on realistic inputs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { pkg, conformance, config, NOW, premium, free, PNG, JPEG, PDF, TEXT, PERSIAN } from "./fixtures.mjs";

const { Tollgate, sniffType } = pkg;
const { replayCase } = conformance;
const tg = new Tollgate(config);
const msg = (model = "openai/gpt-4o-mini", input = 1000, output = 200) =>
  ({ type: "message", model, input_tokens: input, max_output_tokens: output });

test("exports the SPEC §6 names", () => {
  assert.equal(typeof Tollgate, "function");
  for (const m of ["check", "checkFiles", "status"]) assert.equal(typeof tg[m], "function", m);
  assert.equal(typeof Tollgate.emptySnapshot, "function");
  assert.equal(typeof sniffType, "function");
  // The conformance helper is only in the test build (target/pkg-test/).
  assert.equal(pkg.replayCase, undefined);
  assert.equal(typeof replayCase, "function");
});

test("a bad config throws an Error listing every problem", () => {
  const bad = {
    version: 2,
    timezone: "Mars/Olympus_Mons",
    week_start: "someday",
    models: [{ id: "m", free: "yes" }],
    plans: [{ id: "p", models: ["*"], limits: [{ metric: "bogus", window: "7x", max: -1 }], colour: "red" }],
  };
  let err;
  try {
    new Tollgate(bad);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Error, "an Error");
  assert.ok(Array.isArray(err.problems), "err.problems");
  const paths = err.problems.map((p) => p.path);
  for (const p of ["version", "timezone", "week_start", "models[0].free", "plans[0].limits[0].metric",
    "plans[0].limits[0].window", "plans[0].limits[0].max", "plans[0].colour"]) {
    assert.ok(paths.includes(p), `problem at ${p}: ${JSON.stringify(err.problems)}`);
  }
  for (const { path, reason } of err.problems) {
    assert.equal(typeof reason, "string");
    assert.ok(err.message.includes(`${path}: ${reason}`), `message lists ${path}`);
  }
  assert.throws(() => new Tollgate(null), /config/);
  assert.throws(() => new Tollgate({}), (e) => e.problems.some((p) => p.path === "plans"));
});

test("check: allowed on an empty snapshot", () => {
  const d = tg.check(Tollgate.emptySnapshot(premium), premium, msg(), NOW);
  assert.deepEqual(d, {
    allowed: true, status: 200, code: "ok", message: d.message, retry_after_s: null, violations: [], limits: [],
    warnings: [],
  });
  assert.match(d.message, PERSIAN);
  // null snapshot = no usage.
  assert.deepEqual(tg.check(null, premium, msg(), NOW), d);
});

test("check: a snapshot at a limit → 429 window_exceeded, Persian by default, English on request", () => {
  const snapshot = {
    subscription: premium, plan: "premium", as_of: "2026-11-23T18:39:00Z",
    limits: [{ metric: "tokens", scope: "all", window: "1h", limit: 20000, used: 20000, remaining: 0,
      resets_at: "2026-11-23T19:22:00Z" }],
    holds: [],
  };
  const d = tg.check(snapshot, premium, msg(), NOW);
  assert.equal(d.allowed, false);
  assert.equal(d.status, 429);
  assert.equal(d.code, "window_exceeded");
  assert.equal(d.retry_after_s, 42 * 60);
  assert.equal(d.message, "شما به حد مجاز توکن‌های ساعتی (۲۰٬۰۰۰ عدد) رسیده‌اید");
  assert.equal(d.violations.length, 1);
  assert.deepEqual(
    { ...d.violations[0], message: undefined },
    { code: "window_exceeded", status: 429, metric: "tokens", scope: "all", window: "1h", limit: 20000,
      used: 20000, requested: 1200, remaining: 0, resets_at: "2026-11-23T19:22:00Z", retry_after_s: 2520,
      message: undefined },
  );
  const en = tg.check(snapshot, premium, msg(), NOW, { locale: "en" });
  assert.equal(en.code, "window_exceeded");
  assert.doesNotMatch(en.message, PERSIAN);
  assert.match(en.message, /20,000/);
  const explained = tg.check(snapshot, premium, msg(), NOW, { explain: true });
  assert.ok(explained.limits.length >= 3, "explain lists every limit that applied");
  assert.ok(explained.limits.every((l) => "used" in l && "remaining" in l && "limit" in l));
});

test("check: access and budgets", () => {
  assert.equal(tg.check(null, null, msg(), NOW).code, "subscription_missing");
  assert.equal(tg.check(null, free, msg(), NOW).code, "model_not_allowed");
  assert.equal(tg.check(null, free, msg(), NOW).status, 403);
  assert.equal(tg.check(null, free, msg("meta-llama/llama-3.3-8b-instruct:free"), NOW).allowed, true);
  const d = tg.check(null, premium, msg("openai/gpt-4o", 15000, 8000), NOW);
  assert.equal(d.code, "insufficient_budget");
  assert.equal(d.violations[0].remaining, 20000);
  assert.equal(tg.check(null, premium, { type: "upgrade", to_plan: "free" }, NOW).code, "upgrade_not_allowed");
});

test("check: a malformed action throws listing every problem", () => {
  assert.throws(
    () => tg.check(null, premium, { type: "message", model: 5, input_tokens: -1, extra: true }, NOW),
    (e) => {
      const paths = e.problems.map((p) => p.path).sort();
      assert.deepEqual(paths, ["extra", "input_tokens", "max_output_tokens", "model"]);
      assert.match(e.message, /model/);
      assert.match(e.message, /max_output_tokens: required/);
      return e instanceof Error;
    },
  );
  assert.throws(() => tg.check(null, premium, { type: "teleport" }, NOW), /type/);
  assert.throws(() => tg.check(null, premium, msg(), NaN), /nowMs/);
  assert.throws(() => tg.check(null, premium, msg(), NOW, { locale: "de" }), /options.locale/);
  assert.throws(() => tg.check(null, { plan: "premium" }, msg(), NOW), (e) =>
    e.problems.some((p) => p.path === "subscription.id") && e.problems.some((p) => p.path === "subscription.starts_at"));
});

test("checkFiles: File objects get instant verdicts (mismatch 415 in Persian, oversize 413, valid accepted)", async () => {
  const big = new Uint8Array(11 * 1024 * 1024);
  big.set(PDF);
  const files = [
    new File([PNG], "cat.txt", { type: "text/plain" }),
    new File([big], "report.pdf", { type: "application/pdf" }),
    new File([PDF], "notes.pdf", { type: "application/pdf" }),
    new File([TEXT], "setup.exe"),
  ];
  const r = await tg.checkFiles(Tollgate.emptySnapshot(premium), premium, "chat-1", files, NOW);
  assert.equal(r.allowed, false);
  assert.equal(r.decision.allowed, false);
  assert.equal(r.files.length, 4);
  const [mismatch, large, ok, exe] = r.files;
  assert.equal(mismatch.name, "cat.txt");
  assert.equal(mismatch.decision.status, 415);
  assert.equal(mismatch.decision.code, "file_type_mismatch");
  assert.match(mismatch.decision.message, PERSIAN);
  assert.equal(large.decision.status, 413);
  assert.equal(large.decision.code, "file_too_large");
  assert.match(large.decision.message, PERSIAN);
  assert.equal(large.decision.violations[0].limit, 10485760);
  assert.equal(ok.decision.allowed, true);
  assert.equal(ok.decision.code, "ok");
  assert.equal(exe.decision.code, "file_type_not_allowed");
  // The batch: type problems (415) come before size (413).
  assert.equal(r.decision.status, 415);
  assert.deepEqual(r.decision.violations.map((v) => v.file), ["cat.txt", "setup.exe", "report.pdf"]);
});

test("checkFiles: plain descriptors with head as Uint8Array, byte list or base64 agree", async () => {
  const b64 = Buffer.from(PNG).toString("base64");
  for (const head of [PNG, Array.from(PNG), b64, PNG.buffer]) {
    const r = await tg.checkFiles(null, premium, "c", [{ name: "cat.txt", size: PNG.length, head }], NOW);
    assert.equal(r.files[0].decision.code, "file_type_mismatch", `head as ${head.constructor.name}`);
  }
  const ok = await tg.checkFiles(null, premium, "c", [{ name: "cat.png", size: 2048, type: "image/png", head: PNG }], NOW);
  assert.equal(ok.allowed, true);
  // No head: the extension alone decides.
  const nohead = await tg.checkFiles(null, premium, "c", [{ name: "cat.png", size: 2048 }], NOW);
  assert.equal(nohead.allowed, true);
  // A single File (not in a list) is accepted too.
  const single = await tg.checkFiles(null, premium, "c", new File([JPEG], "photo.jpeg"), NOW);
  assert.equal(single.allowed, true);
});

test("checkFiles: reads only the first 4096 bytes of a Blob", async () => {
  const calls = [];
  const blobLike = {
    name: "huge.pdf", size: 9 * 1024 * 1024, type: "application/pdf",
    slice(start, end) {
      calls.push([start, end]);
      return { arrayBuffer: async () => PDF.buffer.slice(0) };
    },
    arrayBuffer() {
      throw new Error("must not read the whole file");
    },
  };
  const r = await tg.checkFiles(null, premium, "c", [blobLike], NOW);
  assert.deepEqual(calls, [[0, 4096]]);
  assert.equal(r.allowed, true);
});

test("checkFiles: too many files for this chat or for today → 429", async () => {
  const snapshot = {
    subscription: free, plan: "free", as_of: "2026-11-23T18:00:00Z",
    limits: [
      { metric: "files", scope: "all", window: "chat", chat_id: "c-full", limit: 3, used: 3, remaining: 0, resets_at: null },
      { metric: "files", scope: "all", window: "day", limit: 5, used: 4, remaining: 1, resets_at: "2026-11-23T20:30:00Z" },
    ],
    holds: [],
  };
  const one = [{ name: "a.txt", size: 10, head: TEXT }];
  const chat = await tg.checkFiles(snapshot, free, "c-full", one, NOW);
  assert.equal(chat.allowed, false);
  assert.equal(chat.decision.status, 429);
  assert.equal(chat.decision.violations[0].window, "chat");
  assert.equal(chat.decision.retry_after_s, null);
  const two = [{ name: "a.txt", size: 10 }, { name: "b.txt", size: 10 }];
  const day = await tg.checkFiles(snapshot, free, "other-chat", two, NOW);
  assert.equal(day.allowed, false);
  assert.equal(day.decision.code, "insufficient_budget");
  assert.equal(day.decision.violations[0].window, "day");
  // Each file alone still fits today.
  assert.ok(day.files.every((f) => f.decision.allowed));
});

test("checkFiles: malformed input rejects the Promise listing every problem", async () => {
  await assert.rejects(
    tg.checkFiles(null, premium, "c", [{ name: 5 }, { size: -1 }], NOW),
    (e) => {
      const paths = e.problems.map((p) => p.path);
      for (const p of ["files[0].name", "files[0].size", "files[1].name", "files[1].size"]) assert.ok(paths.includes(p), p);
      return e instanceof Error;
    },
  );
  await assert.rejects(tg.checkFiles(null, premium, "c", [], NOW), /files/);
  await assert.rejects(tg.checkFiles(null, premium, "c", [], NOW, { explain: "yes" }), /options.explain/);
});

test("status: every limit with used / limit / remaining / resets_at", () => {
  const s = tg.status(Tollgate.emptySnapshot(premium), premium, NOW);
  assert.equal(s.as_of, "2026-11-23T18:40:00Z");
  const plan = config.plans.find((p) => p.id === "premium");
  // Every limit of the plan, chat limits included (SPEC §6, revision 2):
  // without chats in the snapshot, once with chat_id null (what a new chat may use).
  assert.equal(s.limits.length, plan.limits.length);
  const chatLimits = s.limits.filter((l) => l.window === "chat");
  assert.ok(chatLimits.length > 0, "the plan has a chat limit");
  for (const c of chatLimits) {
    assert.equal(c.chat_id, null);
    assert.equal(c.remaining, c.limit);
  }
  for (const l of s.limits) {
    for (const k of ["metric", "scope", "window", "limit", "used", "remaining", "resets_at"]) assert.ok(k in l, k);
    assert.equal(l.used, 0);
  }
  // options.chatId: that chat's entry, even before its first upload.
  const forChat = tg.status(Tollgate.emptySnapshot(premium), premium, NOW, { chatId: "new-chat" });
  assert.deepEqual(forChat.limits.filter((l) => l.window === "chat").map((l) => [l.chat_id, l.used]), [["new-chat", 0]]);
  assert.throws(() => tg.status(null, premium, NOW, { chatId: 5 }), /options.chatId/);
  const day = s.limits.find((l) => l.metric === "tokens" && l.window === "day");
  // Midnight in Tehran (UTC+3:30).
  assert.equal(day.resets_at, "2026-11-23T20:30:00Z");
  const cost = s.limits.find((l) => l.metric === "cost_usd");
  assert.equal(cost.limit, 5);
  const used = tg.status({ ...Tollgate.emptySnapshot(premium), limits: [
    { metric: "tokens", scope: "all", window: "day", limit: 100000, used: 64000, remaining: 36000, resets_at: "2026-11-23T20:30:00Z" },
    { metric: "files", scope: "all", window: "chat", chat_id: "c9", limit: 5, used: 2, remaining: 3, resets_at: null },
  ] }, premium, NOW);
  assert.equal(used.limits.find((l) => l.metric === "tokens" && l.window === "day").remaining, 36000);
  // The chat in the snapshot, and the one a new chat would use.
  assert.deepEqual(used.limits.filter((l) => l.window === "chat").map((l) => [l.chat_id, l.used]), [[null, 0], ["c9", 2]]);
  assert.deepEqual(tg.status(null, null, NOW).limits, []);
});

test("sniffType: magic bytes → {mime, ext} or null", () => {
  assert.deepEqual(sniffType(PNG), { mime: "image/png", ext: "png" });
  assert.deepEqual(sniffType(JPEG), { mime: "image/jpeg", ext: "jpg" });
  assert.deepEqual(sniffType(PDF), { mime: "application/pdf", ext: "pdf" });
  assert.deepEqual(sniffType(PDF.buffer.slice(PDF.byteOffset, PDF.byteOffset + PDF.length)), { mime: "application/pdf", ext: "pdf" });
  assert.deepEqual(sniffType(Array.from(PNG)), { mime: "image/png", ext: "png" });
  assert.equal(sniffType(new Uint8Array([1, 2, 3, 4])), null);
  assert.equal(sniffType(new Uint8Array()), null);
  assert.throws(() => sniffType("not bytes"), /bytes/);
  // A large buffer: only the head matters.
  const big = new Uint8Array(1 << 20);
  big.set(PNG);
  assert.deepEqual(sniffType(big), { mime: "image/png", ext: "png" });
});

test("emptySnapshot: the snapshot of a user with no usage", () => {
  const s = Tollgate.emptySnapshot(premium);
  assert.deepEqual(s, { subscription: premium, plan: "premium", as_of: "1970-01-01T00:00:00Z", limits: [], holds: [], grants: [] });
  assert.equal(Object.getPrototypeOf(s), Object.prototype, "a plain object, not a Map");
  assert.deepEqual(Tollgate.emptySnapshot(null).plan, null);
  assert.deepEqual(Tollgate.emptySnapshot().subscription, null);
});

test("replayCase (test build): the conformance helper returns the decision", () => {
  const d = replayCase(config, {
    subscription: premium,
    events: [{ at: "2026-11-23T18:21:00Z", op: "reserve", action: msg("openai/gpt-4o-mini", 10000, 10000),
      commit: { input_tokens: 10000, output_tokens: 10000 } }],
    at: "2026-11-23T18:40:00Z",
    action: msg(),
  });
  assert.equal(d.code, "window_exceeded");
  // The 18:21:00 usage leaves the hour at 19:21:00 (SPEC §1: never later than the window).
  assert.equal(d.retry_after_s, 2460);
  assert.throws(() => replayCase(config, { at: "yesterday" }), /RFC 3339/);
});

test("a snapshot changed in place is read again (no stale answers)", () => {
  const t2 = new Tollgate(config);
  const snapshot = {
    subscription: premium, plan: "premium", as_of: "2026-11-23T18:39:00Z",
    limits: [{ metric: "tokens", scope: "all", window: "1h", limit: 20000, used: 0, remaining: 20000, resets_at: null }],
    holds: [],
  };
  assert.equal(t2.check(snapshot, premium, msg(), NOW).allowed, true);
  snapshot.limits[0].used = 20000;
  snapshot.limits[0].remaining = 0;
  snapshot.limits[0].resets_at = "2026-11-23T19:22:00Z";
  assert.equal(t2.check(snapshot, premium, msg(), NOW).code, "window_exceeded");
  const sub = { ...premium };
  assert.equal(t2.check(null, sub, msg(), NOW).allowed, true);
  sub.active = false;
  assert.equal(t2.check(null, sub, msg(), NOW).code, "subscription_inactive");
});
