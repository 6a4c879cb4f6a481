// Same answers everywhere (Chromium) and the JS API on real browser File
// objects: the web build (pkg/web) in headless Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { serve } from "../../scripts/pkg-serve.mjs";
import { launch, missingBrowser } from "./browser.mjs";

const missing = missingBrowser();
// TOLLGATE_SKIP_APT=1 (no chromium by choice) skips; otherwise a missing browser fails.
const skip = missing && process.env.TOLLGATE_SKIP_APT === "1" ? missing : false;
let srv, browser;

before(async () => {
  if (skip) return;
  assert.equal(missing, null, missing);
  srv = await serve({ port: 0 });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await srv?.close();
});

test("shared vectors: wasm (Chromium) = native, field for field", { skip }, async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${srv.url}/tests/pkg/browser-vectors.html`);
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 60_000 });
  const r = await page.evaluate(() => window.__result);
  assert.equal(r.error, undefined, r.error);
  console.log(`chromium: ${r.cases} cases in ${r.files} vector files compared with native (init ${r.initMs.toFixed(1)} ms; ${r.userAgent})`);
  assert.ok(r.cases > 0);
  assert.deepEqual(r.failures, []);
  assert.deepEqual(errors, []);
  await page.close();
});

test("the API on browser File objects", { skip }, async () => {
  const page = await browser.newPage();
  await page.goto(`${srv.url}/tests/pkg/browser-vectors.html`);
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 60_000 });
  const r = await page.evaluate(async () => {
    // The shipped web build (the vectors page loaded the test build).
    const { default: init, Tollgate, sniffType } = await import("/pkg/web/tollgate.js");
    await init();
    const config = await (await fetch("/tests/pkg/config.json")).json();
    const tg = new Tollgate(config);
    const sub = { id: "s", plan: "premium", active: true, starts_at: 0, ends_at: null };
    const now = Date.parse("2026-11-23T18:40:00Z");
    const pdf = new TextEncoder().encode("%PDF-1.7\n");
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const big = new Uint8Array(11 << 20);
    big.set(pdf);
    const files = [new File([pdf], "brief.pdf"), new File([pdf], "photo.png"), new File([big], "big.pdf")];
    const res = await tg.checkFiles(Tollgate.emptySnapshot(sub), sub, "c", files, now);
    let problems = null;
    try { new Tollgate({ plans: [{ id: "x" }], timezone: "Nowhere/Else" }); } catch (e) { problems = e.problems; }
    return {
      codes: res.files.map((f) => f.decision.code),
      mismatchMessage: res.files[1].decision.message,
      sniff: sniffType(png),
      status: tg.status(null, sub, now).limits.length,
      problems,
    };
  });
  assert.deepEqual(r.codes, ["ok", "file_type_mismatch", "file_too_large"]);
  assert.match(r.mismatchMessage, /[\u0600-\u06FF]/);
  assert.deepEqual(r.sniff, { mime: "image/png", ext: "png" });
  assert.ok(r.status > 0);
  assert.ok(r.problems.length >= 2, JSON.stringify(r.problems));
  await page.close();
});
