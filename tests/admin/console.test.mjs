// The admin console (admin/, served by the Worker at /admin/ as static
// assets) in headless Chromium against the real Worker in workerd: a bad
// config shows its problems inline and is never sent; a good one is pushed
// and a user's decisions follow it; a rollback restores the previous answer;
// a user is found, reset and given imported usage, and the meters change;
// a discount code is saved; Persian RTL with an English toggle; the token
// stays out of cookies and storage. Screenshots go to test-output/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { launch, missingBrowser } from "../pkg/browser.mjs";
import { ROOT, SCRIPT, TEST_VARS, start, stop } from "../worker/harness.mjs";
import { client, newKey, newUser, sub, userAuth } from "../worker/util.mjs";

const OUT = new URL("../../test-output/", import.meta.url).pathname;
const ASSETS = `${ROOT}/worker/build/assets/admin/index.html`;
const DEFAULT = JSON.parse(readFileSync(new URL("../../worker/default-config.json", import.meta.url), "utf8"));
const missing = missingBrowser();
const skip = !existsSync(SCRIPT) || !existsSync(ASSETS) ? "the Worker and its assets are not built: `make worker` first (make test does)"
  : missing && process.env.TOLLGATE_SKIP_APT === "1" ? missing : false;

/** The default config with the free plan's hourly messages set to `max` and no concurrency limit. */
function config(max) {
  const c = structuredClone(DEFAULT);
  const free = c.plans.find((p) => p.id === "free");
  delete free.max_concurrent;
  free.limits.find((l) => l.metric === "messages" && l.window === "1h").max = max;
  return c;
}
const pretty = (v) => JSON.stringify(v, null, 2);
const msg = { type: "message", model: "meta-llama/llama-3.3-8b-instruct:free", input_tokens: 10, max_output_tokens: 10 };

let w, api, browser, page;
let user; // the user whose decisions follow the pushed configs
const errors = [];
const puts = [];

before(async () => {
  if (skip) return;
  assert.equal(missing, null, missing);
  mkdirSync(OUT, { recursive: true });
  w = await start();
  api = client(w);
  browser = await launch();
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, locale: "fa-IR" });
  page.on("pageerror", (e) => errors.push(String(e)));
  // The 4xx answers the tests provoke are logged by Chromium as failed loads: not page errors.
  page.on("console", (m) => m.type() === "error" && !/^Failed to load resource/.test(m.text()) && errors.push(m.text()));
  page.on("dialog", (d) => d.accept());
  page.on("request", (r) => r.method() === "PUT" && r.url().includes("/v1/admin/config") && puts.push(r.url()));
  await page.goto(`${w.url}/admin/`);
  await page.waitForFunction(() => window.__admin?.ready || window.__admin?.error, null, { timeout: 60_000 });
  assert.equal(await page.evaluate(() => window.__admin.error ?? null), null);
});
after(async () => {
  await browser?.close();
  await stop();
});

const shot = (name) => page.screenshot({ path: `${OUT}admin-${name}.png`, fullPage: true });
const text = (sel) => page.textContent(sel);
const statusIs = (re) => page.waitForFunction((s) => new RegExp(s).test(document.querySelector("#status").textContent), re.source);

test("served by the Worker: Persian, right to left, sign-in with the admin token", { skip }, async () => {
  assert.equal(await page.getAttribute("html", "dir"), "rtl");
  assert.equal(await page.getAttribute("html", "lang"), "fa");
  assert.equal(await text("h1"), "پیشخوان مدیریت تول‌گیت");
  const head = await fetch(`${w.url}/admin/`);
  assert.match(head.headers.get("content-security-policy"), /script-src 'self' 'wasm-unsafe-eval'/);
  assert.equal(await page.isHidden("#config"), true);
  await page.fill("#token", "wrong");
  await page.click("#connect");
  await statusIs(/پذیرفته نشد/);
  assert.equal(await page.isHidden("#config"), true);
  await shot("1-sign-in");
  await page.fill("#token", TEST_VARS.TOLLGATE_ADMIN_TOKEN);
  await page.click("#connect");
  await statusIs(/وارد شدید/);
  assert.equal(await page.isVisible("#config"), true);
  assert.equal(await text("#revision"), "نسخهٔ ۰");
  assert.deepEqual(JSON.parse(await page.inputValue("#editor")), DEFAULT);
  assert.equal(await page.inputValue("#token"), "", "the token field is cleared");
  assert.equal(await page.isDisabled("#push"), true, "nothing to push: the same as the current config");
  assert.equal(await page.isVisible("#no-revisions"), true);
});

test("a bad config shows every problem inline, with its path, and is never sent", { skip }, async () => {
  const bad = config(5);
  bad.timezone = "Mars/Olympus";
  bad.plans[0].limits[1].window = "1w";
  bad.discounts = [{ code: "bad code", max_uses: 1 }];
  await page.fill("#editor", pretty(bad));
  await page.waitForSelector('#problems li[data-path="timezone"]');
  const paths = await page.$$eval("#problems li", (li) => li.map((e) => e.dataset.path));
  assert.deepEqual(paths.sort(), ["discounts[0].code", "plans[0].limits[1].window", "timezone"]);
  assert.match(await text("#verdict"), /۳ مشکل/);
  assert.equal(await page.isDisabled("#push"), true);
  await page.click("#push", { force: true }).catch(() => {});
  await shot("2-bad-config");
  // Not JSON at all.
  await page.fill("#editor", "{ not json");
  await page.waitForFunction(() => /JSON نیست/.test(document.querySelector("#problems").textContent));
  assert.equal(await page.isDisabled("#push"), true);
  assert.deepEqual(puts, [], "no PUT left the page");
  assert.equal((await api.getConfig()).body.revision, 0);
});

test("a good config is pushed with a note, its diff shown, and a user's decisions follow it", { skip }, async () => {
  // Revision 1: five messages an hour.
  await page.fill("#editor", pretty(config(5)));
  await page.waitForFunction(() => document.querySelector("#verdict").dataset.kind === "ok");
  await page.click("#show-diff");
  const lines = (sel) => page.$$eval(sel, (s) => s.map((e) => e.textContent.replace(/\s+/g, " ").trim()));
  const added = await lines("#diff .d-add");
  const removed = await lines("#diff .d-del");
  assert.ok(added.includes('+ "max": 5,'), JSON.stringify(added));
  assert.ok(removed.includes('- "max": 10,'), JSON.stringify(removed));
  assert.ok(removed.some((l) => l.includes('"max_concurrent": 1')), JSON.stringify(removed));
  await page.fill("#note", "پنج پیام در ساعت");
  await shot("3-diff");
  await page.click("#push");
  await statusIs(/نسخهٔ ۱ اعمال شد/);
  assert.equal(await text("#revision"), "نسخهٔ ۱");
  await page.waitForSelector('#revisions tr[data-revision="1"]');
  assert.match(await text('#revisions tr[data-revision="1"]'), /پنج پیام در ساعت/);
  // Revision 2: two an hour.
  await page.fill("#editor", pretty(config(2)));
  await page.waitForFunction(() => !document.querySelector("#push").disabled);
  await page.click("#push");
  await statusIs(/نسخهٔ ۲ اعمال شد/);
  assert.equal(puts.length, 2);
  const served = await api.getConfig();
  assert.equal(served.body.revision, 2);
  assert.deepEqual(served.body.config, config(2));
  // The user's decisions follow it: two messages, then 429.
  user = newUser("console");
  const h = userAuth(user, sub("free"));
  for (let i = 0; i < 2; i++) {
    const r = await api.reserve(h, msg, newKey());
    assert.equal(r.status, 200, r.text);
    await api.commit(h, r.body.hold.id, { input_tokens: 10, output_tokens: 10 });
  }
  const denied = await api.check(h, msg);
  assert.equal(denied.status, 429);
  assert.equal(denied.body.violations[0].window, "1h");
  await shot("4-pushed");
});

test("a rollback from the history restores the previous answer", { skip }, async () => {
  const h = userAuth(user, sub("free"));
  assert.equal((await api.check(h, msg)).status, 429);
  await page.click('#revisions tr[data-revision="1"] button.rollback');
  await statusIs(/نسخهٔ ۱ دوباره جاری شد \(نسخهٔ ۳\)/);
  assert.equal(await text("#revision"), "نسخهٔ ۳");
  assert.deepEqual(JSON.parse(await page.inputValue("#editor")), config(5));
  await page.waitForSelector('#revisions tr[data-revision="3"]');
  assert.match(await text('#revisions tr[data-revision="3"]'), /rollback to revision 1/);
  assert.equal((await api.check(h, msg)).status, 200, "five an hour again");
  await page.click('#revisions tr[data-revision="2"] button.view');
  await page.waitForFunction(() => /"max": 2/.test(document.querySelector("#revision-view").textContent));
  await shot("5-rollback");
});

test("a user is found, reset and given imported usage; the meters change", { skip }, async () => {
  await page.fill("#user-id", user);
  await page.press("#user-id", "Enter");
  const row = `#meters tr[data-metric="messages"][data-scope="all"][data-window="1h"]`;
  await page.waitForSelector(row);
  assert.equal(await text(`${row} td.used`), "۲ از ۵");
  assert.equal(await text(`${row} td.remaining`), "۳");
  assert.match(await text("#user-summary"), /طرح \u2066free\u2069/);
  assert.match(await text("#recent"), /\u2066h1\u2069 · \u2066message\u2069/);
  await shot("6-user");
  // Reset the hourly messages only.
  await page.check(`${row} input[type=checkbox]`);
  await page.click("#reset-selected");
  await statusIs(/شمارنده بازنشانی شد/);
  await page.waitForFunction((r) => document.querySelector(`${r} td.used`)?.textContent === "۰ از ۵", row);
  const tokensDay = `#meters tr[data-metric="tokens"][data-scope="all"][data-window="day"] td.used`;
  assert.equal(await text(tokensDay), "۴۰ از ۱۰۰٬۰۰۰", "other limits keep their count");
  // Import: a bad entry is listed with its path and nothing is added; then a good one.
  await page.click("#import summary");
  const body = (entries) => JSON.stringify({ subscription: sub("free"), entries });
  await page.fill("#import-body", body([{ metric: "messages", window: "1h", used: 1 }, { metric: "messages", window: "1w", used: 1 }]));
  await page.click("#import-go");
  await page.waitForSelector('#import-problems li[data-path="entries[1].window"]');
  assert.equal(await text(`${row} td.used`), "۰ از ۵");
  await page.fill("#import-body", body([{ metric: "messages", window: "1h", used: 4 }]));
  await page.click("#import-go");
  await page.waitForFunction((r) => document.querySelector(`${r} td.used`)?.textContent === "۴ از ۵", row);
  assert.equal(await page.$$eval("#import-problems li", (l) => l.length), 0);
  // The same import again adds nothing (the key comes from the user and the body).
  await page.click("#import-go");
  await statusIs(/۱ مورد افزوده شد/);
  assert.equal(await text(`${row} td.used`), "۴ از ۵");
  const h = userAuth(user, sub("free"));
  const r = await api.check(h, msg);
  assert.equal(r.status, 200);
  await api.reserve(h, msg, newKey());
  assert.equal((await api.check(h, msg)).status, 429, "the imported usage counts");
  await shot("7-reset-import");
});

test("discount codes are saved and read back", { skip }, async () => {
  await page.fill("#d-code", "SPRING");
  await page.click("#d-load");
  await page.waitForFunction(() => /وجود ندارد/.test(document.querySelector("#d-status").textContent));
  await page.fill("#d-max", "5");
  await page.fill("#d-per-user", "1");
  await page.fill("#d-expires", "2030-01-01T00:00:00Z");
  await page.fill("#d-plans", "basic, premium");
  await page.click("#d-save");
  await page.waitForFunction(() => /ذخیره شد/.test(document.querySelector("#d-status").textContent));
  const got = await api.getDiscount("SPRING");
  assert.equal(got.status, 200);
  assert.deepEqual([got.body.max_uses, got.body.max_uses_per_user, got.body.expires_at, got.body.plans],
    [5, 1, "2030-01-01T00:00:00Z", ["basic", "premium"]]);
  await page.fill("#d-expires", "soon");
  await page.click("#d-save");
  await page.waitForSelector('#d-problems li[data-path="expires_at"]');
  await page.fill("#d-code", "SPRING");
  await page.click("#d-load");
  await page.waitForFunction(() => /۰ بار/.test(document.querySelector("#d-status").textContent));
  assert.equal(await page.inputValue("#d-expires"), "2030-01-01T00:00:00Z");
  // A code's grant: set as JSON, read back, and kept when another field is saved.
  await page.fill("#d-grant", '{"metric":"tokens","amount":20000,"expires_in_days":30}');
  await page.click("#d-save");
  await page.waitForFunction(() => /ذخیره شد/.test(document.querySelector("#d-status").textContent));
  const gift = { metric: "tokens", amount: 20000, expires_in_days: 30 };
  assert.deepEqual((await api.getDiscount("SPRING")).body.grant, gift);
  await page.fill("#d-code", "SPRING");
  await page.click("#d-load");
  await page.waitForFunction(() => /بار/.test(document.querySelector("#d-status").textContent));
  assert.deepEqual(JSON.parse(await page.inputValue("#d-grant")), gift);
  await page.fill("#d-max", "6");
  await page.click("#d-save");
  await page.waitForFunction(() => /ذخیره شد/.test(document.querySelector("#d-status").textContent));
  const kept = (await api.getDiscount("SPRING")).body;
  assert.deepEqual([kept.max_uses, kept.grant], [6, gift], "saving another field keeps the grant");
  // A grant the books would refuse: its path, nothing stored.
  await page.fill("#d-grant", '{"metric":"tokens","amount":0}');
  await page.click("#d-save");
  await page.waitForSelector('#d-problems li[data-path="grant.amount"]');
  await page.fill("#d-grant", "{nope");
  await page.click("#d-save");
  await page.waitForSelector('#d-problems li[data-path="grant"]');
  assert.deepEqual((await api.getDiscount("SPRING")).body.grant, gift);
  await page.fill("#d-grant", "");
  await shot("7b-discount-grant");
});

test("English toggle, and the token is never stored", { skip }, async () => {
  await page.click("#lang");
  assert.equal(await page.getAttribute("html", "dir"), "ltr");
  assert.equal(await page.getAttribute("html", "lang"), "en");
  assert.equal(await text("h1"), "Tollgate admin console");
  assert.equal(await text("#revision"), "revision 3");
  const row = `#meters tr[data-metric="messages"][data-scope="all"][data-window="1h"]`;
  assert.equal(await text(`${row} td.used`), "4 / 5", "as the last lookup found it");
  await shot("8-english");
  await page.click("#lang");
  assert.equal(await page.getAttribute("html", "dir"), "rtl");
  const stored = await page.evaluate(() => ({
    cookie: document.cookie,
    local: Object.keys(localStorage).length,
    session: Object.keys(sessionStorage).length,
  }));
  assert.deepEqual(stored, { cookie: "", local: 0, session: 0 });
  assert.deepEqual((await page.context().cookies()).length, 0);
  assert.deepEqual(errors, []);
});
