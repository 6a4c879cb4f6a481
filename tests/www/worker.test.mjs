// The demo page against a real Worker (worker/build in miniflare, as the
// Worker tests run it) with its default config (no PUT): the page's
// config.json is that same worker/default-config.json, so the snapshot the
// page fetches from GET /v1/usage (cross-origin, the user's token, CORS from
// TOLLGATE_ALLOWED_ORIGINS) lines up with the page's plans; the page shows it
// in the meters and pre-checks with it.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { serve } from "../../scripts/pkg-serve.mjs";
import { launch, missingBrowser } from "../pkg/browser.mjs";
import { SCRIPT, start, stop, signJwt } from "../worker/harness.mjs";
import { client, userAuth, newKey } from "../worker/util.mjs";

// Skipped without a built Worker (make test builds it first) or, by choice,
// without chromium (TOLLGATE_SKIP_APT=1); a missing browser otherwise fails.
const noBrowser = missingBrowser();
const skip = !existsSync(SCRIPT) ? "worker/build/index.js missing: `make worker` first (make test does)"
  : noBrowser && process.env.TOLLGATE_SKIP_APT === "1" ? noBrowser : false;
let srv, browser;
after(async () => {
  await browser?.close();
  await srv?.close();
  await stop();
});

test("Worker mode: live usage from GET /v1/usage of a running Worker", { skip }, async () => {
  assert.equal(noBrowser, null, noBrowser);
  srv = await serve({ port: 0 });
  const w = await start({ vars: { TOLLGATE_ALLOWED_ORIGINS: srv.url, TOLLGATE_DEV_CLOCK: "0" } });
  const api = client(w);
  // The Worker serves its default config (revision 0), which is the page's.
  const served = await api.getConfig();
  assert.equal(served.status, 200, served.text);
  assert.equal(served.body.revision, 0);
  const pageConfig = await (await fetch(`${srv.url}/www/config.json`)).json();
  assert.deepEqual(pageConfig, JSON.parse(readFileSync(new URL("../../worker/default-config.json", import.meta.url), "utf8")));
  assert.deepEqual(served.body.config, pageConfig);

  const now = Math.floor(Date.now() / 1000);
  const sub = { id: "sub-live", plan: "premium", active: true, starts_at: now - 86400, ends_at: now + 29 * 86400 };
  const claims = { sub: "demo-user", exp: now + 3600, subscription: sub };
  const h = userAuth("demo-user", sub);
  const r = await api.reserve(h, { type: "image", model: "openai/gpt-image-1", count: 3 }, newKey());
  assert.equal(r.status, 200, r.text);
  await api.commit(h, r.body.hold.id, { input_tokens: 0, output_tokens: 0, images: 3 });

  browser = await launch();
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${srv.url}/www/`);
  await page.waitForFunction(() => window.__tollgate?.ready === true);
  await page.click("#worker summary");
  await page.fill("#worker-url", w.url);
  await page.fill("#worker-token", signJwt(claims));
  await page.click("#worker-load");
  await page.waitForFunction(() => document.querySelector("#source").classList.contains("live") ||
    /ناموفق|Could not/.test(document.querySelector("#worker-status").textContent), null, { timeout: 15_000 });
  assert.equal(await page.textContent("#worker-status"), "مصرف طرح «premium» از Worker خوانده شد.");
  assert.equal(await page.$eval("#plan", (s) => s.value), "premium");
  const images = await page.$eval('#meters li.meter[data-metric="images"][data-window="day"]', (li) => li.textContent);
  assert.match(images, /۳ از ۱۰/);
  // Every limit in the Worker's snapshot is one of the page's premium limits, same max.
  const live = await page.evaluate(() => window.__tollgate.state.snapshot);
  const plan = pageConfig.plans.find((p) => p.id === "premium");
  assert.ok(live.limits.length > 0);
  for (const l of live.limits) {
    const mine = plan.limits.find((c) => c.metric === l.metric && c.window === l.window && (c.scope || "all") === l.scope);
    assert.ok(mine, `${l.metric}/${l.scope}/${l.window} in the page's premium plan`);
    assert.equal(l.limit, mine.max, `${l.metric}/${l.scope}/${l.window}`);
  }
  await page.selectOption("#model", "openai/gpt-4o-mini");
  await page.fill("#text", "سلام");
  assert.equal(await page.$eval("#send-verdict", (e) => e.dataset.code), "ok");
  assert.deepEqual(errors, []);
});
