// The browser never allows what the edge denies (SPEC §6): a user's real
// usage built through the Worker (miniflare, worker/build from `make
// worker`), its GET /v1/usage snapshot handed to this package, and every
// probe action decided both ways at the same instant: by the package on the
// snapshot and by the edge's POST /v1/check on the authoritative ledger.
// This user's usage was all made at one instant and probed 20 minutes later,
// so the rolling windows still hold all of it: the decisions must be equal,
// field for field.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { SCRIPT, start, stop } from "../worker/harness.mjs";
import { client, userAuth } from "../worker/util.mjs";
import { pkg, config } from "./fixtures.mjs";

const skip = existsSync(SCRIPT) ? false : "worker/build/index.js missing: `make worker` first (make test does)";
after(() => stop());

const T0 = Date.parse("2026-11-23T17:00:00Z"); // 20:30 in Tehran
const T1 = T0 + 20 * 60_000;
const at = (h, t) => ({ ...h, "x-tollgate-now": String(t) });
const msg = (model, input, output, chat_id) =>
  ({ type: "message", model, input_tokens: input, max_output_tokens: output, ...(chat_id ? { chat_id } : {}) });
const files = (n, size = 1000) =>
  Array.from({ length: n }, (_, i) => ({ name: `f${i}.pdf`, size, head: "JVBERi0xLjcK" }));

test("GET /v1/usage → Tollgate.check equals POST /v1/check", { skip }, async () => {
  const w = await start();
  const api = client(w);
  const put = await api.putConfig(config);
  assert.ok(put.status === 200 || put.status === 201, put.text);
  const tg = new pkg.Tollgate(config);
  const s0 = Math.floor(T0 / 1000);

  for (const [plan, history] of [
    ["premium", [
      msg("openai/gpt-4o-mini", 9000, 3000, "chat-1"),
      msg("anthropic/claude-3.5-sonnet", 4000, 2000, "chat-2"),
      msg("meta-llama/llama-3.3-8b-instruct:free", 500, 500),
      { type: "image", model: "openai/dall-e-3", count: 4 },
      { type: "upload", chat_id: "chat-1", files: files(4, 3_000_000) },
    ]],
    ["free", [
      msg("meta-llama/llama-3.3-8b-instruct:free", 8000, 4000, "c"),
      msg("deepseek/deepseek-chat-v3-0324:free", 9000, 2000, "c"),
      { type: "upload", chat_id: "c", files: files(2) },
      { type: "upload", chat_id: "d", files: files(2) },
    ]],
  ]) {
    const sub = { id: `sub-${plan}`, plan, active: true, starts_at: s0 - 86400, ends_at: s0 + 29 * 86400 };
    const h = userAuth(`edge-${plan}`, sub);
    for (const action of history) {
      const r = await api.reserve(at(h, T0), action);
      assert.equal(r.status, 200, `${plan}: history reserve: ${r.text}`);
      const c = await api.commit(at(h, T0), r.body.hold.id, { input_tokens: action.input_tokens ?? 0, output_tokens: action.max_output_tokens ?? 0 });
      assert.equal(c.status, 200, c.text);
    }
    const u = await api.usage(at(h, T1));
    assert.equal(u.status, 200, u.text);
    const snapshot = u.body;
    assert.ok(snapshot.limits.some((l) => l.used > 0));

    const probes = [
      msg("openai/gpt-4o-mini", 1000, 500), msg("openai/gpt-4o-mini", 4000, 4000), msg("openai/gpt-4o", 100, 100, "chat-1"),
      msg("meta-llama/llama-3.3-8b-instruct:free", 3000, 1000, "c"), msg("meta-llama/llama-3.3-8b-instruct:free", 20000, 9000),
      msg("anthropic/claude-3.5-sonnet", 200000, 100000),
      { type: "image", model: "openai/dall-e-3" }, { type: "image", model: "openai/dall-e-3", count: 7 },
      { type: "upload", chat_id: "chat-1", files: files(1) }, { type: "upload", chat_id: "chat-1", files: files(2) },
      { type: "upload", chat_id: "c", files: files(1) }, { type: "upload", chat_id: "new", files: files(2) },
      { type: "upload", chat_id: "new", files: [{ name: "x.png", size: 10, head: "JVBERi0xLjcK" }] },
      { type: "upload", chat_id: "new", files: files(1, 50_000_000) },
      { type: "validate", model: "openai/gpt-4o-mini", generate_image: true, uploaded_files_count: 3, chat_id: "chat-1" },
      { type: "upgrade", to_plan: "premium" },
    ];
    for (const action of probes) {
      for (const options of [{}, { explain: true, locale: "en" }]) {
        const q = options.explain ? "?explain=1&lang=en" : "";
        const edge = await api.check(at(h, T1), action, q);
        const browser = tg.check(snapshot, snapshot.subscription, action, T1, options);
        const what = `${plan} ${JSON.stringify(action).slice(0, 90)} ${JSON.stringify(options)}`;
        assert.ok(!(browser.allowed && !edge.body.allowed), `${what}: the browser allows what the edge denies`);
        assert.deepEqual(browser, edge.body, what);
      }
    }
  }
});
