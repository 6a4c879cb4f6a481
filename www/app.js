// Tollgate demo: every verdict on this page comes from the Rust core, compiled
// to wasm (../pkg/web), deciding in the browser before anything is sent.
// The page only gathers inputs and shows answers; it decides nothing itself.
import init, { Tollgate, sniffType } from "../pkg/web/tollgate.js";

// ---------------------------------------------------------------- strings
const T = {
  fa: {
    title: "تول‌گیت",
    subtitle: "پیش از ارسال، همین‌جا در مرورگر بررسی می‌شود: سهمیه‌ها، فایل‌ها و مدل‌ها.",
    account: "حساب و طرح", plan: "طرح اشتراک", connect: "اتصال به Worker (اختیاری)",
    workerUrl: "نشانی Worker", token: "توکن کاربر (JWT)", load: "خواندن مصرف از /v1/usage",
    useSample: "نمونهٔ محلی", quotas: "سهمیه‌ها", files: "بارگذاری فایل", chat: "گفتگو",
    drop: "فایل‌ها را این‌جا رها کنید یا برای انتخاب کلیک کنید", message: "پیام", model: "مدل",
    placeholder: "پیام خود را بنویسید…", maxOut: "حداکثر پاسخ (توکن)",
    advisory: "پاسخ مرورگر مشورتی است؛ تصمیم نهایی با لبه (Worker) است.",
    sample: "مصرف نمونه", live: "مصرف زنده از Worker",
    asOf: (t) => `وضعیت در ${t}`,
    of: (u, l) => `${u} از ${l}`, left: (r) => `${r} مانده`,
    resetsIn: (d) => `بازنشانی تا ${d} دیگر`, resetsNow: "همین حالا بازنشانی می‌شود",
    noReset: { subscription: "تا پایان اشتراک", lifetime: "بدون بازنشانی", chat: "برای هر گفتگو", rolling: "هنوز مصرفی نیست" },
    metrics: { messages: "پیام‌ها", tokens: "توکن‌ها", images: "تصاویر", files: "فایل‌ها", file_bytes: "حجم فایل‌ها", cost_usd: "هزینه (دلار)" },
    windows: { day: "روزانه", week: "هفتگی", month: "ماهانه", subscription: "کل اشتراک", lifetime: "همیشگی", chat: "هر گفتگو" },
    rolling: (n, u) => `${n} ${{ m: "دقیقهٔ", h: "ساعت", d: "روز" }[u]} اخیر`,
    scopes: { free: "مدل‌های رایگان", paid: "مدل‌های پولی" },
    chatName: (c) => `گفتگوی ${c}`,
    units: { d: "روز", h: "ساعت", m: "دقیقه", s: "ثانیه" }, and: " و ", lessThanMinute: "کمتر از یک دقیقه",
    bytes: ["بایت", "کیلوبایت", "مگابایت", "گیگابایت"],
    fileRules: (max, exts) => `حداکثر ${max} برای هر فایل؛ پسوندهای مجاز: ${exts}`,
    anyExt: "همه", noMax: "بدون سقف",
    detected: (t) => `نوع واقعی: ${t}`, unknownType: "نوع ناشناخته",
    allFilesOk: (n) => `هر ${n} فایل پیش از ارسال تأیید شد.`,
    estimate: (n) => `≈ ${n} توکن ورودی (هر ۳ نویسه ≈ ۱ توکن)`,
    canSend: "قابل ارسال است", free: "رایگان", unavailable: "در این طرح نیست",
    after: (r) => `پس از این پیام: ${r} مانده`,
    retry: (d) => `دوباره تلاش کنید: ${d} دیگر`, newSub: "فقط با اشتراک تازه یا ارتقا",
    loading: "در حال خواندن…", loaded: (p) => `مصرف طرح «${p}» از Worker خوانده شد.`,
    loadFailed: (e) => `خواندن ناموفق بود: ${e}`, unknownPlan: (p) => `طرح «${p}» در پیکربندی این صفحه نیست.`,
    needUrl: "نشانی و توکن را وارد کنید.",
    usd: (n) => `${n} دلار`,
    sep: "، ", chosen: (n) => `${n} فایل انتخاب شد`,
    planName: (p) => p.name || { free: "رایگان", basic: "پایه", premium: "ویژه" }[p.id] || p.id,
    credits: "اعتبار اضافه", noCredits: "اعتبار اضافه‌ای ندارید.",
    credit: (m, r, a) => `${m}: ${r} از ${a} مانده`,
    sources: { purchase: "خرید", promo: "هدیه", admin: "پشتیبانی", discount: "کد تخفیف" },
    until: (d) => `تا ${d}`, withCredits: (c) => `+ ${c} اعتبار`,
  },
  en: {
    title: "Tollgate",
    subtitle: "Checked right here in the browser before anything is sent: quotas, files and models.",
    account: "Account and plan", plan: "Plan", connect: "Connect to a Worker (optional)",
    workerUrl: "Worker URL", token: "User token (JWT)", load: "Read usage from /v1/usage",
    useSample: "Local sample", quotas: "Quotas", files: "Upload files", chat: "Chat",
    drop: "Drop files here or click to choose", message: "Message", model: "Model",
    placeholder: "Write your message…", maxOut: "Max reply (tokens)",
    advisory: "The browser's answer is advisory; the edge (Worker) decides.",
    sample: "sample usage", live: "live usage from the Worker",
    asOf: (t) => `as of ${t}`,
    of: (u, l) => `${u} of ${l}`, left: (r) => `${r} left`,
    resetsIn: (d) => `resets in ${d}`, resetsNow: "resets now",
    noReset: { subscription: "until the subscription ends", lifetime: "never resets", chat: "per chat", rolling: "nothing used yet" },
    metrics: { messages: "Messages", tokens: "Tokens", images: "Images", files: "Files", file_bytes: "File bytes", cost_usd: "Cost (USD)" },
    windows: { day: "daily", week: "weekly", month: "monthly", subscription: "whole subscription", lifetime: "lifetime", chat: "per chat" },
    rolling: (n, u) => `last ${n} ${{ m: "min", h: "h", d: "days" }[u]}`,
    scopes: { free: "free models", paid: "paid models" },
    chatName: (c) => c,
    units: { d: "d", h: "h", m: "min", s: "s" }, and: " ", lessThanMinute: "under a minute",
    bytes: ["B", "KB", "MB", "GB"],
    fileRules: (max, exts) => `up to ${max} per file · allowed: ${exts}`,
    anyExt: "any", noMax: "no limit",
    detected: (t) => `real type: ${t}`, unknownType: "unknown type",
    allFilesOk: (n) => `All ${n} files pass before upload.`,
    estimate: (n) => `≈ ${n} input tokens (about 3 characters per token)`,
    canSend: "Can be sent", free: "free", unavailable: "not in this plan",
    after: (r) => `after this message: ${r} left`,
    retry: (d) => `try again in ${d}`, newSub: "only a new subscription or an upgrade helps",
    loading: "Loading…", loaded: (p) => `Usage of plan "${p}" read from the Worker.`,
    loadFailed: (e) => `Could not read usage: ${e}`, unknownPlan: (p) => `Plan "${p}" is not in this page's config.`,
    needUrl: "Enter the URL and the token.",
    usd: (n) => `$${n}`,
    sep: " · ", chosen: (n) => `${n} file${n === "1" ? "" : "s"} chosen`,
    planName: (p) => p.id.charAt(0).toUpperCase() + p.id.slice(1),
    credits: "Extra credits", noCredits: "You have no extra credits.",
    credit: (m, r, a) => `${m}: ${r} of ${a} left`,
    sources: { purchase: "purchase", promo: "gift", admin: "support", discount: "discount code" },
    until: (d) => `until ${d}`, withCredits: (c) => `+ ${c} in credits`,
  },
};

// Display names for models the config lists without a `name` (the Worker's
// default config has none); anything else shows its id.
const MODEL_NAMES = {
  "meta-llama/llama-3.3-8b-instruct:free": "Llama 3.3 8B",
  "deepseek/deepseek-chat-v3-0324:free": "DeepSeek V3",
  "openai/gpt-4o-mini": "GPT-4o mini",
  "openai/gpt-4o": "GPT-4o",
  "anthropic/claude-3.5-sonnet": "Claude 3.5 Sonnet",
  "openai/gpt-image-1": "GPT Image 1",
};

const $ = (id) => document.getElementById(id);
const state = {
  lang: localStorage.getItem("tollgate-lang") === "en" ? "en" : "fa",
  config: null,
  tg: null,
  sub: null,
  snapshot: null,
  live: false,
  files: [],
};
const t = () => T[state.lang];

// ------------------------------------------------------------- formatting
const fmt = (n, digits = 0) =>
  new Intl.NumberFormat(state.lang === "fa" ? "fa-IR" : "en-US", { maximumFractionDigits: digits }).format(n);
const amount = (metric, n) =>
  metric === "cost_usd" ? t().usd(fmt(n, 2)) : metric === "file_bytes" ? bytes(n) : fmt(n);

function bytes(n) {
  let i = 0;
  while (n >= 1024 && i < 3) {
    n /= 1024;
    i++;
  }
  return `${fmt(n, i ? 1 : 0)} ${t().bytes[i]}`;
}

function duration(seconds) {
  const u = t().units;
  if (seconds < 60) return t().lessThanMinute;
  const parts = [];
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d) parts.push(`${fmt(d)} ${u.d}`);
  if (h) parts.push(`${fmt(h)} ${u.h}`);
  if (m && !d) parts.push(`${fmt(m)} ${u.m}`);
  return parts.slice(0, 2).join(t().and);
}

function dateTime(iso) {
  return new Intl.DateTimeFormat(state.lang === "fa" ? "fa-IR" : "en-GB", {
    dateStyle: "medium", timeStyle: "short", timeZone: state.config?.timezone || "Asia/Tehran",
  }).format(new Date(iso));
}

function windowLabel(w) {
  const m = /^(\d+)([mhd])$/.exec(w);
  if (m) return t().rolling(fmt(Number(m[1])), m[2]);
  return t().windows[w] || w;
}

function limitLabel(l) {
  const metric = t().metrics[l.metric] || l.metric;
  const scope = l.scope && l.scope !== "all" ? ` (${t().scopes[l.scope] || l.scope})` : "";
  const win = l.window === "chat" && l.chat_id ? t().chatName(l.chat_id) : windowLabel(l.window);
  return `${metric}${scope} — ${win}`;
}

function resetText(l, nowMs) {
  if (l.resets_at) {
    const s = Math.round((Date.parse(l.resets_at) - nowMs) / 1000);
    return s <= 0 ? t().resetsNow : t().resetsIn(duration(s));
  }
  if (/^\d+[mhd]$/.test(l.window)) return t().noReset.rolling;
  return t().noReset[l.window] || "";
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-") || k === "dir" || k === "lang" || k === "title") e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

// ------------------------------------------------------------ usage data
const WINDOW_SECS = { m: 60, h: 3600, d: 86400 };
// How full each kind of limit is in the sample (a user mid-way through a day);
// the plans and their limits are the Worker's own (config.json is
// worker/default-config.json), so any plan the Worker knows gets a sample.
const SAMPLE = { "tokens|1h": 0.62, "tokens|day": 0.45, "messages|1h": 0.6, "messages|3h": 0.6, "messages|day": 0.44, "files|day": 0.4, "images|day": 0.3, "cost_usd|subscription": 0.25 };

function isoSeconds(ms) {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** A plausible GET /v1/usage body for `sub`, built from the core's own status. */
function sampleSnapshot(sub, nowMs) {
  const base = state.tg.status(Tollgate.emptySnapshot(sub), sub, nowMs);
  // A snapshot lists chats with usage only: the sample's one is chat-1 (below).
  const limits = base.limits.filter((l) => l.window !== "chat").map((l) => {
    const f = SAMPLE[`${l.metric}|${l.window}`] ?? 0.3;
    const used = l.metric === "cost_usd" ? Math.round(l.limit * f * 100) / 100 : Math.floor(l.limit * f);
    const m = /^(\d+)([mhd])$/.exec(l.window);
    const resets_at = m ? isoSeconds(nowMs + Number(m[1]) * WINDOW_SECS[m[2]] * 1000 * 0.55) : l.resets_at;
    const remaining = l.metric === "cost_usd" ? Math.round((l.limit - used) * 1e6) / 1e6 : l.limit - used;
    return { ...l, used, remaining, resets_at };
  });
  const plan = state.config.plans.find((p) => p.id === sub.plan);
  const chatLimit = plan?.limits?.find((l) => l.metric === "files" && l.window === "chat");
  if (chatLimit) {
    limits.push({ metric: "files", scope: "all", window: "chat", chat_id: "chat-1", limit: chatLimit.max, used: 1, remaining: chatLimit.max - 1, resets_at: null });
  }
  // A promo grant of tokens (SPEC §9), as GET /v1/usage lists grants.
  const grants = [{ id: "g-welcome", metric: "tokens", scope: "all", amount: 50000, remaining: 32000, source: "promo",
    expires_at: isoSeconds(nowMs + 10 * 86400 * 1000) }];
  return { subscription: sub, plan: sub.plan, as_of: isoSeconds(nowMs), limits, holds: [], grants };
}

function sampleSubscription(plan, nowMs) {
  const now = Math.floor(nowMs / 1000);
  return { id: `demo-${plan}`, plan, active: true, starts_at: now - 10 * 86400, ends_at: now + 20 * 86400 };
}

function useSample(plan) {
  const now = Date.now();
  state.live = false;
  state.sub = sampleSubscription(plan, now);
  state.snapshot = sampleSnapshot(state.sub, now);
  $("plan").disabled = false;
  renderAll();
}

async function loadFromWorker() {
  const url = $("worker-url").value.trim().replace(/\/+$/, "");
  const token = $("worker-token").value.trim();
  const status = $("worker-status");
  if (!url || !token) {
    status.textContent = t().needUrl;
    return;
  }
  status.textContent = t().loading;
  try {
    const res = await fetch(`${url}/v1/usage`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.json();
    if (!res.ok) throw new Error(body.message || `HTTP ${res.status}`);
    if (!state.config.plans.some((p) => p.id === body.plan)) {
      status.textContent = t().unknownPlan(body.plan);
      return;
    }
    state.live = true;
    state.snapshot = body;
    state.sub = body.subscription;
    $("plan").value = body.plan;
    $("plan").disabled = true;
    status.textContent = t().loaded(body.plan);
    localStorage.setItem("tollgate-worker-url", url);
    renderAll();
  } catch (e) {
    status.textContent = t().loadFailed(e.message || String(e));
  }
}

// ---------------------------------------------------------------- render
function renderStatic() {
  document.documentElement.lang = state.lang;
  document.documentElement.dir = state.lang === "fa" ? "rtl" : "ltr";
  document.title = state.lang === "fa" ? "تول‌گیت — پیش‌بررسی سهمیه در مرورگر" : "Tollgate — quota pre-checks in the browser";
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t()[e.dataset.i18n];
  for (const e of document.querySelectorAll("[data-i18n-placeholder]")) e.placeholder = t()[e.dataset.i18nPlaceholder];
  const other = state.lang === "fa" ? "en" : "fa";
  $("lang").textContent = other === "en" ? "English" : "فارسی";
  $("lang").lang = other;
  $("lang").dir = other === "en" ? "ltr" : "rtl";

  const planSel = $("plan");
  const current = planSel.value || state.sub?.plan;
  planSel.replaceChildren(...state.config.plans.map((p) =>
    el("option", { value: p.id, textContent: t().planName(p) })));
  planSel.value = current;

  const plan = state.config.plans.find((p) => p.id === state.sub.plan);
  const rules = plan?.files || {};
  const exts = Array.isArray(rules.allowed_extensions) ? rules.allowed_extensions.join("، ") : rules.allowed_extensions || t().anyExt;
  $("file-rules").textContent = t().fileRules(rules.max_file_bytes ? bytes(rules.max_file_bytes) : t().noMax,
    state.lang === "fa" ? exts : exts.replaceAll("، ", ", "));
}

function renderMeters() {
  const now = Date.now();
  // Chat limits for the chat the page uploads to (SPEC §6: status lists every limit).
  const status = state.tg.status(state.snapshot, state.sub, now, { chatId: $("chat").value || "chat-1" });
  $("source").textContent = state.live ? t().live : t().sample;
  $("source").className = `pill ${state.live ? "live" : ""}`;
  $("as-of").textContent = t().asOf(dateTime(status.as_of));
  $("meters").replaceChildren(...status.limits.map((l) => {
    const pct = l.limit > 0 ? Math.min(100, (100 * l.used) / l.limit) : 100;
    const level = pct >= 100 ? "full" : pct >= 75 ? "warn" : "ok";
    return el("li", { class: `meter ${level}`, "data-metric": l.metric, "data-window": l.window },
      el("div", { class: "label" }, limitLabel(l)),
      el("div", { class: "bar", role: "progressbar", "aria-valuenow": String(Math.round(pct)) },
        el("span", { style: `inline-size:${pct}%` })),
      el("div", { class: "figures" },
        el("span", {}, t().of(amount(l.metric, l.used), amount(l.metric, l.limit))),
        el("span", { class: "muted" }, t().left(amount(l.metric, l.remaining))),
        l.credits ? el("span", { class: "muted" }, t().withCredits(amount(l.metric, l.credits))) : null),
      el("div", { class: "reset muted" }, resetText(l, now)));
  }));
}

function renderCredits() {
  const grants = (state.snapshot?.grants ?? []).filter((g) => g.remaining > 0 || g.amount > 0);
  $("credits").replaceChildren(...(grants.length ? grants.map((g) =>
    el("li", { "data-grant": g.id },
      t().credit(t().metrics[g.metric] || g.metric, amount(g.metric, g.remaining), amount(g.metric, g.amount)),
      el("small", { class: "muted" }, [t().sources[g.source] || g.source, g.expires_at ? t().until(dateTime(g.expires_at)) : null]
        .filter(Boolean).map((x) => `${t().sep}${x}`).join("")))) : [el("li", { class: "muted" }, t().noCredits)]));
}

function renderModels() {
  const sel = $("model");
  const current = sel.value;
  const models = state.config.models.filter((m) => !(m.image_usd && !m.input_usd_per_mtok));
  const now = Date.now();
  const allowed = [];
  sel.replaceChildren(...models.map((m) => {
    // The core says whether this plan may use the model (a `validate` action changes nothing).
    const d = state.tg.check(state.snapshot, state.sub, { type: "validate", model: m.id }, now, { locale: state.lang });
    if (d.code !== "model_not_allowed") allowed.push(m.id);
    const tags = [m.free ? t().free : null, d.code === "model_not_allowed" ? t().unavailable : null].filter(Boolean);
    return el("option", { value: m.id, textContent: `${m.name || MODEL_NAMES[m.id] || m.id}${tags.length ? ` — ${tags.join("، ")}` : ""}` });
  }));
  // Keep the user's choice; on first render, the first model the plan allows.
  if (current && models.some((m) => m.id === current)) sel.value = current;
  else if (allowed.length) sel.value = allowed[0];
}

function violationItem(v) {
  const li = el("li", { "data-code": v.code }, v.message);
  if (v.retry_after_s != null) li.append(el("small", { class: "muted" }, `${t().sep}${t().retry(duration(v.retry_after_s))}`));
  return li;
}

function renderSend() {
  const text = $("text").value;
  const tokens = Math.ceil([...text].length / 3);
  const maxOut = Math.max(1, Math.floor(Number($("max-out").value) || 1));
  $("estimate").textContent = t().estimate(fmt(tokens));
  const action = { type: "message", model: $("model").value, input_tokens: tokens, max_output_tokens: maxOut, chat_id: $("chat").value || null };
  const out = $("send-verdict");
  const details = $("send-details");
  let d;
  try {
    d = state.tg.check(state.snapshot, state.sub, action, Date.now(), { locale: state.lang, explain: true });
  } catch (e) {
    out.className = "verdict deny";
    out.textContent = e.message;
    details.replaceChildren();
    return;
  }
  out.dataset.code = d.code;
  if (d.allowed) {
    out.className = "verdict allow";
    out.textContent = `✓ ${t().canSend}`;
    // Warnings before the wall (SPEC §10): a threshold this message would pass.
    const warnings = (d.warnings ?? []).map((x) => el("li", { class: "warning", "data-threshold": String(x.threshold) }, `⚠ ${x.message}`));
    details.replaceChildren(...warnings, ...d.limits.map((l) =>
      el("li", {}, `${limitLabel(l)}: ${t().after(amount(l.metric, Math.max(0, l.remaining - (l.requested ?? 0))))}`)));
  } else {
    out.className = "verdict deny";
    out.textContent = `✗ ${d.message}`;
    const items = d.violations.map(violationItem);
    if (d.status === 429 && d.retry_after_s == null) items.push(el("li", { class: "muted" }, t().newSub));
    details.replaceChildren(...items);
  }
}

async function headType(file) {
  const s = sniffType(new Uint8Array(await file.slice(0, 4096).arrayBuffer()));
  return s ? `${s.mime} (.${s.ext})` : t().unknownType;
}

let fileRender = 0;

async function renderFiles() {
  const list = $("file-list");
  const batch = $("batch");
  const files = state.files;
  // Reading files is asynchronous: only the latest render may paint.
  const gen = ++fileRender;
  $("drop-count").textContent = files.length ? t().chosen(fmt(files.length)) : "";
  if (!files.length) {
    list.replaceChildren();
    batch.hidden = true;
    list.dataset.gen = gen;
    return;
  }
  const r = await state.tg.checkFiles(state.snapshot, state.sub, $("chat").value || "chat-1", files, Date.now(), { locale: state.lang });
  const types = await Promise.all(files.map(headType));
  if (gen !== fileRender) return;
  list.replaceChildren(...r.files.map((f, i) => {
    const d = f.decision;
    return el("li", { class: `file ${d.allowed ? "allow" : "deny"}`, "data-code": d.code, "data-status": String(d.status) },
      el("span", { class: "icon", "aria-hidden": "true" }, d.allowed ? "✓" : "✗"),
      el("div", { class: "body" },
        el("div", { class: "name" }, el("bdi", {}, f.name),
          el("small", { class: "muted" }, `${t().sep}${bytes(files[i].size)}${t().sep}`, t().detected(""), el("bdi", { dir: "ltr" }, types[i]))),
        el("div", { class: "msg" }, d.message)));
  }));
  batch.hidden = false;
  batch.dataset.code = r.decision.code;
  if (r.allowed) {
    batch.className = "verdict allow";
    batch.textContent = `✓ ${t().allFilesOk(fmt(files.length))}`;
  } else {
    batch.className = "verdict deny";
    batch.textContent = `✗ ${r.decision.message}`;
  }
  list.dataset.gen = gen;
}

function renderAll() {
  renderStatic();
  renderMeters();
  renderCredits();
  renderModels();
  renderSend();
  renderFiles();
}

// ------------------------------------------------------------------ start
async function main() {
  await init();
  // www/config.json is a symlink to worker/default-config.json: the plans the
  // Worker serves until an admin PUTs another config.
  state.config = await (await fetch("config.json")).json();
  state.tg = new Tollgate(state.config);
  $("worker-url").value = localStorage.getItem("tollgate-worker-url") || "";

  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "fa" ? "en" : "fa";
    localStorage.setItem("tollgate-lang", state.lang);
    renderAll();
  });
  $("plan").addEventListener("change", (e) => useSample(e.target.value));
  $("worker-load").addEventListener("click", loadFromWorker);
  $("worker-clear").addEventListener("click", () => {
    $("worker-status").textContent = "";
    useSample($("plan").value);
  });
  for (const id of ["text", "model", "max-out"]) $(id).addEventListener("input", renderSend);
  $("chat").addEventListener("input", () => { renderSend(); renderFiles(); });
  $("file-input").addEventListener("change", (e) => {
    state.files = [...e.target.files];
    renderFiles();
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    state.files = [...e.dataTransfer.files];
    renderFiles();
  });
  setInterval(renderMeters, 30_000);

  const first = state.config.plans[0].id;
  $("plan").value = first;
  useSample(first);
  window.__tollgate = { ready: true, state };
}

main().catch((e) => {
  document.body.prepend(el("pre", { class: "fatal" }, String(e && e.stack || e)));
  window.__tollgate = { ready: false, error: String(e) };
});
