// The demo page (www/) in headless Chromium: Persian and right-to-left by
// default, quota meters, instant file verdicts before upload, a pre-checked
// message, and the English toggle. Screenshots go to test-output/ (git-ignored).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { serve } from "../../scripts/pkg-serve.mjs";
import { launch, missingBrowser } from "../pkg/browser.mjs";

const OUT = new URL("../../test-output/", import.meta.url).pathname;
// The page's config is the Worker's default (www/config.json links to it).
const DEFAULT = JSON.parse(readFileSync(new URL("../../worker/default-config.json", import.meta.url), "utf8"));
const limitOf = (plan, metric, window) =>
  DEFAULT.plans.find((p) => p.id === plan).limits.find((l) => l.metric === metric && l.window === window && !l.scope).max;
const PDF = Buffer.from("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "latin1");
const PERSIAN = /[\u0600-\u06FF]/;
const PERSIAN_DIGIT = /[۰-۹]/;

const missing = missingBrowser();
const skip = missing && process.env.TOLLGATE_SKIP_APT === "1" ? missing : false;
let srv, browser, page;
const errors = [];

before(async () => {
  if (skip) return;
  assert.equal(missing, null, missing);
  mkdirSync(OUT, { recursive: true });
  srv = await serve({ port: 0 });
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: "fa-IR" });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(`${srv.url}/www/`);
  await page.waitForFunction(() => window.__tollgate !== undefined, null, { timeout: 60_000 });
  const ready = await page.evaluate(() => window.__tollgate.ready || window.__tollgate.error);
  assert.equal(ready, true, `page failed to start: ${ready}`);
});
after(async () => {
  await browser?.close();
  await srv?.close();
});

const fileCodes = () => page.$$eval("#file-list li.file", (lis) =>
  lis.map((li) => ({ code: li.dataset.code, status: li.dataset.status, text: li.querySelector(".msg").textContent })));

// Each render of the file list bumps #file-list[data-gen] when it is done.
const fileGen = () => page.$eval("#file-list", (e) => Number(e.dataset.gen || 0));
const nextFileRender = (before) =>
  page.waitForFunction((b) => Number(document.querySelector("#file-list").dataset.gen || 0) > b, before);

async function pick(files) {
  const before = await fileGen();
  await page.setInputFiles("#file-input", files);
  await nextFileRender(before);
  return fileCodes();
}

test("the plans are the Worker's default config (worker/default-config.json)", { skip }, async () => {
  assert.deepEqual(await page.evaluate(() => window.__tollgate.state.config), DEFAULT);
  const options = await page.$$eval("#plan option", (os) => os.map((o) => ({ id: o.value, name: o.textContent })));
  assert.deepEqual(options.map((o) => o.id), DEFAULT.plans.map((p) => p.id));
  assert.deepEqual(options.map((o) => o.id), ["free", "basic", "premium"]);
  for (const o of options) assert.match(o.name, PERSIAN, `Persian name for plan ${o.id}`);
  // The free plan's rules as the page shows them: 5 MB, pdf/txt/png/jpg/jpeg.
  const rules = await page.textContent("#file-rules");
  assert.match(rules, /۵ مگابایت/);
  for (const ext of ["pdf", "txt", "png", "jpg", "jpeg"]) assert.ok(rules.includes(ext), `${ext} in "${rules}"`);
  // One meter per limit of the free plan (no chat usage but chat-1's sample upload).
  const meters = await page.$$eval("#meters li.meter", (lis) => lis.map((li) => `${li.dataset.metric}|${li.dataset.window}`));
  assert.deepEqual(meters.sort(), DEFAULT.plans[0].limits.map((l) => `${l.metric}|${l.window}`).sort());
  const hourly = await page.$eval('#meters li.meter[data-metric="messages"][data-window="1h"]', (li) => li.textContent);
  assert.match(hourly, /۶ از ۱۰/, "messages in the last hour: 6 of the free plan's 10");
});

test("Persian and right-to-left by default, quota meters for every limit", { skip }, async () => {
  assert.equal(await page.getAttribute("html", "lang"), "fa");
  assert.equal(await page.getAttribute("html", "dir"), "rtl");
  const expected = await page.evaluate(() => {
    const { tg, snapshot, sub } = window.__tollgate.state;
    return tg.status(snapshot, sub, Date.now(), { chatId: document.getElementById("chat").value || "chat-1" }).limits.length;
  });
  const meters = await page.$$eval("#meters li.meter", (lis) => lis.map((li) => li.textContent));
  assert.ok(expected > 0);
  assert.equal(meters.length, expected);
  for (const m of meters) {
    assert.match(m, PERSIAN_DIGIT, `Persian digits in "${m}"`);
  }
  assert.ok(meters.some((m) => /دیگر/.test(m)), "time until reset shown");
});

test("files get an instant verdict before upload", { skip }, async () => {
  const plan = await page.$eval("#plan", (s) => s.value);
  assert.equal(plan, "free");
  // A valid file: accepted.
  let [f] = await pick([{ name: "notes.pdf", mimeType: "application/pdf", buffer: PDF }]);
  assert.equal(f.code, "ok");
  assert.equal(await page.$eval("#batch", (b) => b.dataset.code), "ok");
  // A .png whose bytes are a PDF: a mismatch, in Persian.
  [f] = await pick([{ name: "photo.png", mimeType: "image/png", buffer: PDF }]);
  assert.equal(f.code, "file_type_mismatch");
  assert.equal(f.status, "415");
  assert.match(f.text, PERSIAN);
  // Over the free plan's 5 MB.
  const big = Buffer.alloc(6 * 1024 * 1024, 0x20);
  PDF.copy(big);
  [f] = await pick([{ name: "scan.pdf", mimeType: "application/pdf", buffer: big }]);
  assert.equal(f.code, "file_too_large");
  assert.equal(f.status, "413");
  assert.match(f.text, PERSIAN);
  // An extension the plan does not allow.
  [f] = await pick([{ name: "tool.exe", mimeType: "application/octet-stream", buffer: Buffer.from("MZ") }]);
  assert.equal(f.code, "file_type_not_allowed");
  // Too many for this chat (the sample has 1 of 3 used in chat-1).
  const three = ["a.txt", "b.txt", "c.txt"].map((name) => ({ name, mimeType: "text/plain", buffer: Buffer.from("hello") }));
  const each = await pick(three);
  assert.deepEqual(each.map((x) => x.code), ["ok", "ok", "ok"]);
  const batch = await page.$eval("#batch", (b) => ({ code: b.dataset.code, text: b.textContent }));
  assert.ok(["window_exceeded", "insufficient_budget"].includes(batch.code), batch.code);
  assert.match(batch.text, PERSIAN);
  // All together, for the screenshot.
  const all = await pick([
    { name: "notes.pdf", mimeType: "application/pdf", buffer: PDF },
    { name: "photo.png", mimeType: "image/png", buffer: PDF },
    { name: "scan.pdf", mimeType: "application/pdf", buffer: big },
  ]);
  assert.deepEqual(all.map((x) => x.code), ["ok", "file_type_mismatch", "file_too_large"]);
});

test("a message is pre-checked and a denial explained", { skip }, async () => {
  await page.fill("#text", "سلام! لطفاً این گزارش را در سه بند خلاصه کن و نکات مهمش را بگو.");
  const free = await page.$$eval("#model option", (os) => os.find((o) => o.value.endsWith(":free")).value);
  await page.selectOption("#model", free);
  assert.equal(await page.$eval("#send-verdict", (e) => e.dataset.code), "ok");
  assert.match(await page.textContent("#estimate"), PERSIAN_DIGIT);
  await page.selectOption("#model", "openai/gpt-4o");
  const denied = await page.$eval("#send-verdict", (e) => ({ code: e.dataset.code, text: e.textContent }));
  assert.equal(denied.code, "model_not_allowed");
  assert.match(denied.text, PERSIAN);
  await page.selectOption("#model", free);
  await page.fill("#max-out", "40000");
  const budget = await page.$eval("#send-verdict", (e) => e.dataset.code);
  assert.ok(["window_exceeded", "insufficient_budget"].includes(budget), budget);
  // A message that takes the hour's tokens past 80 % of the limit: allowed,
  // with the warning in Persian before the wall (SPEC §10).
  await page.fill("#max-out", "5000");
  const warned = await page.$eval("#send-verdict", (e) => e.dataset.code);
  assert.equal(warned, "ok");
  const warnings = await page.$$eval("#send-details li.warning", (lis) => lis.map((li) => li.textContent));
  assert.ok(warnings.length > 0, "a warning is shown");
  for (const w of warnings) {
    assert.match(w, PERSIAN);
    assert.match(w, /٪/, `a percentage in "${w}"`);
  }
  // Credits beside the meters: the sample's promo grant, in Persian digits.
  const credits = await page.$$eval("#credits li[data-grant]", (lis) => lis.map((li) => li.textContent));
  assert.equal(credits.length, 1);
  assert.match(credits[0], PERSIAN_DIGIT);
  assert.match(credits[0], /هدیه/);
  await page.screenshot({ path: `${OUT}www-fa.png`, fullPage: true });
  await page.fill("#max-out", "800");
  assert.deepEqual(await page.$$eval("#send-details li.warning", (lis) => lis.length), 0);
});

test("usage from a Worker's GET /v1/usage (URL + token)", { skip }, async () => {
  let auth = null;
  const now = Math.floor(Date.now() / 1000);
  const sub = { id: "sub-live", plan: "premium", active: true, starts_at: now - 86400, ends_at: now + 86400 * 29 };
  const iso = (s) => new Date(s * 1000).toISOString().replace(".000Z", "Z");
  // What the Worker answers with its default config: the premium plan's limits.
  const tokens1h = limitOf("premium", "tokens", "1h");
  const imagesDay = limitOf("premium", "images", "day");
  assert.equal(tokens1h, 200000);
  assert.equal(imagesDay, 10);
  const snapshot = {
    subscription: sub, plan: "premium", as_of: iso(now),
    limits: [
      { metric: "tokens", scope: "all", window: "1h", limit: tokens1h, used: tokens1h, remaining: 0, resets_at: iso(now + 1500) },
      { metric: "images", scope: "all", window: "day", limit: imagesDay, used: 3, remaining: 7, resets_at: null },
    ],
    holds: [],
  };
  await page.route("http://worker.test/v1/usage", (route) => {
    auth = route.request().headers().authorization;
    route.fulfill({ status: 200, contentType: "application/json", headers: { "access-control-allow-origin": "*" }, body: JSON.stringify(snapshot) });
  });
  await page.click("#worker summary");
  await page.fill("#worker-url", "http://worker.test/");
  await page.fill("#worker-token", "eyJ.test.token");
  await page.click("#worker-load");
  await page.waitForFunction(() => document.querySelector("#source").classList.contains("live"));
  assert.equal(auth, "Bearer eyJ.test.token");
  assert.equal(await page.$eval("#plan", (s) => s.value), "premium");
  assert.equal(await page.$eval("#plan", (s) => s.disabled), true);
  const tokens = await page.$eval('#meters li.meter[data-metric="tokens"][data-window="1h"]', (li) => li.textContent);
  assert.match(tokens, /۲۰۰٬۰۰۰ از ۲۰۰٬۰۰۰/);
  const images = await page.$eval('#meters li.meter[data-metric="images"][data-window="day"]', (li) => li.textContent);
  assert.match(images, /۳ از ۱۰/);
  await page.selectOption("#model", "openai/gpt-4o-mini");
  await page.fill("#text", "یک پیام کوتاه");
  const d = await page.$eval("#send-verdict", (e) => ({ code: e.dataset.code, text: e.textContent }));
  assert.equal(d.code, "window_exceeded");
  assert.match(d.text, /توکن/);
  // Back to the local sample.
  await page.click("#worker-clear");
  assert.equal(await page.$eval("#plan", (s) => s.disabled), false);
  await page.selectOption("#plan", "free");
  await page.selectOption("#model", "meta-llama/llama-3.3-8b-instruct:free");
  await page.fill("#text", "سلام! لطفاً این گزارش را در سه بند خلاصه کن و نکات مهمش را بگو.");
  await page.click("#worker summary");
});

test("English toggle", { skip }, async () => {
  const before = await fileGen();
  await page.click("#lang");
  await nextFileRender(before);
  assert.equal(await page.getAttribute("html", "lang"), "en");
  assert.equal(await page.getAttribute("html", "dir"), "ltr");
  const meters = await page.$$eval("#meters li.meter", (lis) => lis.map((li) => li.textContent).join("\n"));
  assert.doesNotMatch(meters, PERSIAN_DIGIT);
  const files = await fileCodes();
  assert.equal(files[1].code, "file_type_mismatch");
  assert.doesNotMatch(files[1].text, PERSIAN);
  await page.screenshot({ path: `${OUT}www-en.png`, fullPage: true });
  const again = await fileGen();
  await page.click("#lang");
  await nextFileRender(again);
  assert.equal(await page.getAttribute("html", "dir"), "rtl");
  assert.deepEqual(errors, []);
});
