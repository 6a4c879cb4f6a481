// The demo page against a real Worker (worker/build in miniflare, as the
// Worker tests run it): the page fetches GET /v1/usage cross-origin with the
// user's token (CORS from TOLLGATE_ALLOWED_ORIGINS), shows that usage in the
// meters, and pre-checks with it.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { serve } from "../../scripts/pkg-serve.mjs";
import { launch, missingBrowser } from "../pkg/browser.mjs";
import { SCRIPT, start, stop, signJwt } from "../worker/harness.mjs";
import { client, userAuth, newKey } from "../worker/util.mjs";
import { config } from "../pkg/fixtures.mjs";

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
  const put = await api.putConfig(config);
  assert.ok(put.status === 200 || put.status === 201, put.text);

  const now = Math.floor(Date.now() / 1000);
  const sub = { id: "sub-live", plan: "premium", active: true, starts_at: now - 86400, ends_at: now + 29 * 86400 };
  const claims = { sub: "demo-user", exp: now + 3600, subscription: sub };
  const h = userAuth("demo-user", sub);
  const r = await api.reserve(h, { type: "image", model: "openai/dall-e-3", count: 3 }, newKey());
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
  await page.selectOption("#model", "openai/gpt-4o-mini");
  await page.fill("#text", "سلام");
  assert.equal(await page.$eval("#send-verdict", (e) => e.dataset.code), "ok");
  assert.deepEqual(errors, []);
});
