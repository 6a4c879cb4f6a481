// Tollgate's admin console, served by the Worker itself (Workers static
// assets at /admin/). It calls the same Worker's admin API with the token
// the operator types in (kept in this page's memory only: no cookie, no
// storage), and checks every config edit with the Rust core compiled to
// wasm (the npm package, ./pkg/) before anything is sent: the page gathers
// inputs and shows answers; it decides nothing itself.
import init, { Tollgate } from "./pkg/tollgate.js";

// ---------------------------------------------------------------- strings
const T = {
  fa: {
    title: "پیشخوان مدیریت تول‌گیت",
    subtitle: "پیکربندی، تاریخچه، کاربران و کدهای تخفیف همین Worker.",
    adminToken: "توکن مدیر", connect: "ورود",
    tokenNote: "توکن فقط در حافظهٔ همین صفحه می‌ماند (نه کوکی، نه ذخیره‌سازی).",
    config: "پیکربندی",
    configNote: "هر تغییر همین‌جا با هستهٔ تول‌گیت (بستهٔ npm، wasm) بررسی می‌شود؛ پیکربندی نادرست فرستاده نمی‌شود.",
    reload: "بارگذاری دوباره", showDiff: "تفاوت با نسخهٔ جاری", note: "یادداشت", push: "اعمال",
    history: "تاریخچه", noRevisions: "هنوز نسخه‌ای ذخیره نشده است؛ Worker پیکربندی پیش‌فرض خود (نسخهٔ ۰) را به کار می‌برد.", hRevision: "نسخه", hAt: "زمان", hSize: "اندازه", hNote: "یادداشت",
    user: "کاربر", userId: "شناسهٔ کاربر", find: "جست‌وجو",
    hLimit: "محدودیت", hUsed: "مصرف از سقف", of: (u, l) => `${u} از ${l}`, hRemaining: "مانده", hResets: "تا بازنشانی",
    resetSelected: "بازنشانی موارد انتخاب‌شده", resetAll: "بازنشانی همه",
    holds: "درخواست‌های باز", grants: "اعتبارها", recent: "آخرین درخواست‌ها",
    import: "ورود مصرف از سامانهٔ قبلی", importGo: "افزودن به دورهٔ جاری",
    discounts: "کدهای تخفیف", code: "کد", load: "خواندن", maxUses: "سقف کل", maxPerUser: "سقف هر کاربر",
    expires: "انقضا (RFC 3339)", plans: "طرح‌ها (با ویرگول)", save: "ذخیره",
    grant: "اعتبار هر استفاده (JSON)", pending: (n) => `${num(n)} اعتبار هنوز به کاربر نرسیده`,
    footer: "این صفحه را خود Worker سرو می‌کند؛ همهٔ تصمیم‌ها با همان هستهٔ Rust گرفته می‌شوند.",
    revision: (n) => `نسخهٔ ${n}`,
    valid: "پیکربندی معتبر است.", unchanged: "پیکربندی معتبر است و با نسخهٔ جاری فرقی ندارد.",
    invalid: (n) => `${num(n)} مشکل؛ تا رفع نشود فرستاده نمی‌شود.`,
    notJson: (m) => `JSON نیست: ${m}`, whole: "کل سند",
    connecting: "در حال ورود…", connected: "وارد شدید.", badToken: "توکن مدیر پذیرفته نشد.",
    failed: (s, m) => `ناموفق (${s}): ${m}`, offline: (m) => `Worker در دسترس نیست: ${m}`,
    pushed: (n) => `نسخهٔ ${n} اعمال شد.`, rolledBack: (n, to) => `نسخهٔ ${to} دوباره جاری شد (نسخهٔ ${n}).`,
    view: "نمایش", rollback: "بازگشت به این نسخه", current: "جاری",
    confirmRollback: (n) => `نسخهٔ ${n} دوباره جاری شود؟`, confirmResetAll: (u) => `همهٔ شمارنده‌های «${u}» صفر شوند؟`,
    noDiff: "تفاوتی نیست.",
    summary: (u) => `کاربر ${iso(u.user)} · طرح ${iso(u.plan ?? "—")} · اشتراک ${iso(u.subscription?.id ?? "—")} · نسخهٔ پیکربندی ${num(u.config_revision)}`,
    noSub: "هنوز درخواستی از این کاربر دیده نشده است؛ طرح او معلوم نیست.",
    none: "—", noLimits: "محدودیتی نیست.",
    resetDone: (n) => `${num(n)} شمارنده بازنشانی شد.`, selectSome: "محدودیتی انتخاب نشده است.",
    imported: (n) => `${num(n)} مورد افزوده شد.`,
    saved: (c) => `کد «${c}» ذخیره شد.`, loaded: (c, u) => `کد «${c}»: ${num(u)} بار استفاده شده.`,
    unknownCode: "این کد وجود ندارد؛ با «ذخیره» ساخته می‌شود.",
    units: { d: "روز", h: "ساعت", m: "دقیقه", s: "ثانیه" },
    holdLine: (h) => `${iso(h.id)} · ${iso(h.type)}${h.model ? " · " + iso(h.model) : ""} · تا ${iso(h.expires_at)}`,
    closedLine: (c) => `${iso(c.id)} · ${iso(c.kind ?? c.type ?? "")}${c.model ? " · " + iso(c.model) : ""} · ${{ committed: "ثبت شد", released: "رها شد", expired: "منقضی شد" }[c.end] ?? c.end}${c.late ? " (دیرهنگام)" : ""} · ${iso(c.closed_at)}`,
    grantLine: (g) => `${iso(g.id)} · ${iso(g.metric)} · ${num(g.remaining ?? g.amount)} از ${num(g.amount)} · ${iso(g.source)}`,
  },
  en: {
    title: "Tollgate admin console",
    subtitle: "This Worker's config, history, users and discount codes.",
    adminToken: "Admin token", connect: "Sign in",
    tokenNote: "The token stays in this page's memory only (no cookie, no storage).",
    config: "Config",
    configNote: "Every edit is checked right here by Tollgate's core (the npm package, wasm); an invalid config is never sent.",
    reload: "Reload", showDiff: "Diff against current", note: "Note", push: "Push",
    history: "History", noRevisions: "No revision stored yet: the Worker runs its built-in default config (revision 0).", hRevision: "Revision", hAt: "At", hSize: "Size", hNote: "Note",
    user: "User", userId: "User id", find: "Find",
    hLimit: "Limit", hUsed: "Used / limit", of: (u, l) => `${u} / ${l}`, hRemaining: "Left", hResets: "Resets in",
    resetSelected: "Reset selected", resetAll: "Reset all",
    holds: "Open holds", grants: "Credits", recent: "Recent requests",
    import: "Import usage from the old system", importGo: "Add to the current periods",
    discounts: "Discount codes", code: "Code", load: "Load", maxUses: "Total cap", maxPerUser: "Per-user cap",
    expires: "Expires (RFC 3339)", plans: "Plans (comma-separated)", save: "Save",
    grant: "Credits per redemption (JSON)", pending: (n) => `${n} grant${n === 1 ? "" : "s"} not yet with the user`,
    footer: "Served by the Worker itself; every decision is made by the same Rust core.",
    revision: (n) => `revision ${n}`,
    valid: "The config is valid.", unchanged: "The config is valid and the same as the current one.",
    invalid: (n) => `${n} problem${n === 1 ? "" : "s"}; nothing is sent until they are fixed.`,
    notJson: (m) => `not JSON: ${m}`, whole: "the document",
    connecting: "Signing in…", connected: "Signed in.", badToken: "The admin token was refused.",
    failed: (s, m) => `Failed (${s}): ${m}`, offline: (m) => `The Worker cannot be reached: ${m}`,
    pushed: (n) => `Revision ${n} is live.`, rolledBack: (n, to) => `Revision ${to} is current again (as revision ${n}).`,
    view: "View", rollback: "Roll back to this", current: "current",
    confirmRollback: (n) => `Make revision ${n} current again?`, confirmResetAll: (u) => `Reset every counter of "${u}"?`,
    noDiff: "No differences.",
    summary: (u) => `user ${u.user} · plan ${u.plan ?? "—"} · subscription ${u.subscription?.id ?? "—"} · config revision ${num(u.config_revision)}`,
    noSub: "No request from this user seen yet: their plan is not known.",
    none: "—", noLimits: "No limits.",
    resetDone: (n) => `${num(n)} counter${n === 1 ? "" : "s"} reset.`, selectSome: "No limit selected.",
    imported: (n) => `${num(n)} entr${n === 1 ? "y" : "ies"} added.`,
    saved: (c) => `Code "${c}" saved.`, loaded: (c, u) => `Code "${c}": used ${num(u)} times.`,
    unknownCode: "No such code yet: Save creates it.",
    units: { d: "d", h: "h", m: "m", s: "s" },
    holdLine: (h) => `${h.id} · ${h.type}${h.model ? " · " + h.model : ""} · until ${h.expires_at}`,
    closedLine: (c) => `${c.id} · ${c.kind ?? c.type ?? ""}${c.model ? " · " + c.model : ""} · ${c.end}${c.late ? " (late)" : ""} · ${c.closed_at}`,
    grantLine: (g) => `${g.id} · ${g.metric} · ${num(g.remaining ?? g.amount)} of ${num(g.amount)} · ${g.source}`,
  },
};

/** Left-to-right text (ids, model names, times) isolated inside a line of either direction. */
const iso = (s) => `\u2066${s}\u2069`;

const state = {
  lang: "fa",
  token: null, // memory only
  current: null, // {revision, config}
  check: { ok: false, problems: [] },
  user: null, // the last GET /v1/admin/users/{id}
};
const $ = (s) => document.querySelector(s);
const t = (k, ...a) => {
  const v = T[state.lang][k];
  return typeof v === "function" ? v(...a) : v;
};
function num(n) {
  if (n === null || n === undefined) return "—";
  return new Intl.NumberFormat(state.lang === "fa" ? "fa-IR" : "en-US", { maximumFractionDigits: 6 }).format(n);
}
function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids) e.append(k);
  return e;
}
function status(msg, kind = "") {
  const s = $("#status");
  s.textContent = msg;
  s.dataset.kind = kind;
}

// ---------------------------------------------------------------- the API
async function api(method, path, body, headers = {}) {
  const h = { authorization: `Bearer ${state.token}`, ...headers };
  if (body !== undefined) h["content-type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    return { status: 0, ok: false, body: { message: t("offline", e.message) } };
  }
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { message: text.slice(0, 200) };
  }
  return { status: res.status, ok: res.ok, body: json };
}
const failure = (r) => (r.status === 0 ? r.body.message : t("failed", r.status, r.body?.message ?? r.body?.code ?? ""));
/** The problems of a 400 answer, or one line for any other failure. */
const problemsOf = (r) => r.body?.errors?.length ? r.body.errors : [{ path: "", reason: failure(r) }];

// ---------------------------------------------------------------- config check (the core, in wasm)
/** Keys sorted at every level: the same document always prints the same. */
function canonical(v) {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
  }
  return v;
}
const pretty = (v) => JSON.stringify(canonical(v), null, 2);

function check(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { ok: false, problems: [{ path: "", reason: t("notJson", e.message) }] };
  }
  try {
    new Tollgate(value).free();
    return { ok: true, problems: [], value };
  } catch (e) {
    return { ok: false, problems: e.problems ?? [{ path: "", reason: String(e.message ?? e) }] };
  }
}

function renderProblems(list, problems) {
  list.replaceChildren(
    ...problems.map((p) => el("li", { "data-path": p.path },
      el("code", { dir: "ltr", text: p.path || t("whole") }), " ", el("span", { dir: "auto", text: p.reason }))),
  );
}

function recheck() {
  const text = $("#editor").value;
  state.check = check(text);
  renderProblems($("#problems"), state.check.problems);
  const same = state.check.ok && state.current && pretty(state.check.value) === pretty(state.current.config);
  const v = $("#verdict");
  v.dataset.kind = state.check.ok ? "ok" : "deny";
  v.textContent = state.check.ok ? (same ? t("unchanged") : t("valid")) : t("invalid", state.check.problems.length);
  $("#push").disabled = !state.check.ok || same;
  $("#editor").setAttribute("aria-invalid", String(!state.check.ok));
}

// ---------------------------------------------------------------- diff
/** Line diff (longest common subsequence); changed lines with 2 of context. */
function diff(a, b) {
  const x = a.split("\n");
  const y = b.split("\n");
  const n = x.length;
  const m = y.length;
  const L = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) out.push([" ", x[i++], j++]);
    else if (j < m && (i >= n || L[i][j + 1] >= L[i + 1][j])) out.push(["+", y[j++]]);
    else out.push(["-", x[i++]]);
  }
  const keep = out.map((o, k) => o[0] !== " " || out.slice(Math.max(0, k - 2), k + 3).some((p) => p[0] !== " "));
  const lines = [];
  out.forEach((o, k) => {
    if (keep[k]) lines.push({ kind: o[0], text: `${o[0]} ${o[1]}` });
    else if (keep[k - 1]) lines.push({ kind: "gap", text: "  …" });
  });
  return lines;
}

function showDiff() {
  const box = $("#diff");
  box.hidden = false;
  if (!state.check.ok) {
    box.textContent = t("invalid", state.check.problems.length);
    return;
  }
  const lines = diff(pretty(state.current.config), pretty(state.check.value));
  if (!lines.some((l) => l.kind === "+" || l.kind === "-")) {
    box.textContent = t("noDiff");
    return;
  }
  box.replaceChildren(...lines.map((l) => el("span", { class: `d-${l.kind === "gap" ? "gap" : { "+": "add", "-": "del", " ": "ctx" }[l.kind]}`, text: l.text + "\n" })));
}

// ---------------------------------------------------------------- config, history
async function loadConfig() {
  const r = await api("GET", "/v1/admin/config");
  if (!r.ok) return status(failure(r), "deny");
  state.current = r.body;
  $("#revision").textContent = t("revision", num(r.body.revision));
  $("#editor").value = pretty(r.body.config);
  $("#diff").hidden = true;
  recheck();
}

async function loadHistory() {
  const r = await api("GET", "/v1/admin/config/revisions?limit=100");
  if (!r.ok) return status(failure(r), "deny");
  const cur = state.current?.revision;
  $("#no-revisions").hidden = r.body.revisions.length > 0;
  $("#revisions").replaceChildren(
    ...r.body.revisions.map((v) =>
      el("tr", { "data-revision": v.revision },
        el("td", { text: num(v.revision) }),
        el("td", { dir: "ltr", text: v.at }),
        el("td", { text: num(v.size) }),
        el("td", { dir: "auto", text: v.note ?? "" }),
        el("td", {},
          el("button", { type: "button", class: "ghost view", onclick: () => viewRevision(v.revision), text: t("view") }),
          v.revision === cur
            ? el("span", { class: "pill", text: t("current") })
            : el("button", { type: "button", class: "ghost rollback", onclick: () => rollback(v.revision), text: t("rollback") }),
        ))),
  );
}

async function viewRevision(n) {
  const r = await api("GET", `/v1/admin/config?revision=${n}`);
  const box = $("#revision-view");
  box.hidden = false;
  box.textContent = r.ok ? pretty(r.body.config) : failure(r);
}

async function push() {
  recheck();
  if (!state.check.ok) return; // never sent
  const note = $("#note").value.trim();
  const r = await api("PUT", "/v1/admin/config" + (note ? `?note=${encodeURIComponent(note)}` : ""), state.check.value);
  if (!r.ok) {
    renderProblems($("#problems"), problemsOf(r));
    return status(failure(r), "deny");
  }
  $("#note").value = "";
  await loadConfig();
  await loadHistory();
  status(t("pushed", num(r.body.revision)), "ok");
}

async function rollback(n) {
  if (!confirm(t("confirmRollback", num(n)))) return;
  const r = await api("POST", "/v1/admin/config/rollback", { revision: n });
  if (!r.ok) return status(failure(r), "deny");
  await loadConfig();
  await loadHistory();
  status(t("rolledBack", num(r.body.revision), num(n)), "ok");
}

// ---------------------------------------------------------------- users
function span(secs) {
  const u = T[state.lang].units;
  const s = Math.max(0, Math.round(secs));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts = d ? [[d, u.d], [h, u.h]] : h ? [[h, u.h], [m, u.m]] : m ? [[m, u.m]] : [[s, u.s]];
  return parts.filter(([n], i) => i === 0 || n > 0).map(([n, w]) => `${num(n)}${state.lang === "fa" ? " " : ""}${w}`).join(" ");
}

function renderUser() {
  const u = state.user;
  if (!u) return;
  $("#user-view").hidden = false;
  $("#user-summary").textContent = u.subscription ? t("summary", u) : t("noSub");
  const asOf = Date.parse(u.as_of);
  const money = (m, v) => (m === "cost_usd" ? `$${num(v)}` : num(v));
  $("#meters").replaceChildren(
    ...(u.limits ?? []).map((l) => {
      const id = `m-${l.metric}-${l.scope}-${l.window}-${l.chat_id ?? ""}`.replace(/[^A-Za-z0-9_-]/g, "_");
      const resets = l.resets_at ? span((Date.parse(l.resets_at) - asOf) / 1000) : t("none");
      return el("tr", { "data-metric": l.metric, "data-scope": l.scope, "data-window": l.window, "data-chat": l.chat_id ?? "" },
        el("td", {}, el("input", { type: "checkbox", id, "data-metric": l.metric, "data-window": l.window })),
        el("td", {}, el("label", { for: id, dir: "ltr", text: `${l.metric} · ${l.scope} · ${l.window}${l.chat_id ? ` (${l.chat_id})` : ""}` })),
        el("td", { class: "used", text: t("of", money(l.metric, l.used), money(l.metric, l.limit)) }),
        el("td", { class: "remaining", text: money(l.metric, l.remaining) }),
        el("td", { class: "resets", text: resets }),
      );
    }),
  );
  if (!(u.limits ?? []).length) $("#meters").replaceChildren(el("tr", {}, el("td", { colspan: 5, text: t("noLimits") })));
  const list = (sel, items, line) =>
    $(sel).replaceChildren(...(items?.length ? items.map((x) => el("li", { dir: "auto", text: line(x) })) : [el("li", { text: t("none") })]));
  list("#holds", u.holds, (h) => t("holdLine", h));
  list("#grants", u.grants, (g) => t("grantLine", g));
  list("#recent", u.closed_holds, (c) => t("closedLine", c));
}

async function findUser(id) {
  const r = await api("GET", `/v1/admin/users/${encodeURIComponent(id)}`);
  if (!r.ok) {
    $("#user-view").hidden = true;
    return status(failure(r), "deny");
  }
  state.user = r.body;
  renderUser();
}

async function reset(body) {
  const id = state.user.user;
  const r = await api("POST", `/v1/admin/users/${encodeURIComponent(id)}/reset`, body);
  if (!r.ok) return status(failure(r), "deny"), 0;
  return r.body.counters_reset;
}

async function resetSelected() {
  const picked = [...document.querySelectorAll("#meters input:checked")].map((c) => [c.dataset.metric, c.dataset.window]);
  if (!picked.length) return status(t("selectSome"), "deny");
  // One call per metric · window: the reset API takes lists, whose product it resets.
  const pairs = [...new Set(picked.map((p) => p.join("|")))].map((p) => p.split("|"));
  let n = 0;
  for (const [m, w] of pairs) n += await reset({ metrics: [m], windows: [w] });
  await findUser(state.user.user);
  status(t("resetDone", n), "ok");
}

async function resetAll() {
  if (!confirm(t("confirmResetAll", state.user.user))) return;
  const n = await reset({});
  await findUser(state.user.user);
  status(t("resetDone", n), "ok");
}

async function importUsage() {
  const id = $("#user-id").value.trim();
  const text = $("#import-body").value;
  let body;
  try {
    body = JSON.parse(text);
  } catch (e) {
    return renderProblems($("#import-problems"), [{ path: "", reason: t("notJson", e.message) }]);
  }
  // The same user and body give the same key: importing twice adds once.
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${id}\n${JSON.stringify(body)}`));
  const key = "import-" + [...new Uint8Array(digest)].slice(0, 16).map((b) => b.toString(16).padStart(2, "0")).join("");
  const r = await api("POST", `/v1/admin/users/${encodeURIComponent(id)}/usage`, body, { "idempotency-key": key });
  if (!r.ok) {
    renderProblems($("#import-problems"), problemsOf(r));
    return status(failure(r), "deny");
  }
  renderProblems($("#import-problems"), []);
  await findUser(id);
  status(t("imported", r.body.imported), "ok");
}

// ---------------------------------------------------------------- discount codes
async function loadCode() {
  const code = $("#d-code").value.trim();
  const r = await api("GET", `/v1/admin/discounts/${encodeURIComponent(code)}`);
  if (r.status === 404) return ($("#d-status").textContent = t("unknownCode"));
  if (!r.ok) return ($("#d-status").textContent = failure(r));
  $("#d-max").value = r.body.max_uses ?? "";
  $("#d-per-user").value = r.body.max_uses_per_user ?? "";
  $("#d-expires").value = r.body.expires_at ?? "";
  $("#d-plans").value = (r.body.plans ?? []).join(", ");
  // The code's grant (SPEC §9) goes back unchanged on save, so saving
  // another field never drops it.
  $("#d-grant").value = r.body.grant ? JSON.stringify(r.body.grant) : "";
  const pending = r.body.handovers_pending ? ` · ${t("pending", r.body.handovers_pending)}` : "";
  $("#d-status").textContent = t("loaded", r.body.code, r.body.uses) + pending;
}

async function saveCode() {
  const code = $("#d-code").value.trim();
  const n = (s) => ($(s).value === "" ? null : Number($(s).value));
  const plans = $("#d-plans").value.split(",").map((p) => p.trim()).filter(Boolean);
  const rule = { max_uses: n("#d-max"), max_uses_per_user: n("#d-per-user"), expires_at: $("#d-expires").value.trim() || null };
  if (plans.length) rule.plans = plans;
  const grant = $("#d-grant").value.trim();
  if (grant) {
    try {
      rule.grant = JSON.parse(grant);
    } catch (e) {
      renderProblems($("#d-problems"), [{ path: "grant", reason: t("notJson", e.message) }]);
      return ($("#d-status").textContent = "");
    }
  }
  const r = await api("PUT", `/v1/admin/discounts/${encodeURIComponent(code)}`, rule);
  if (!r.ok) {
    renderProblems($("#d-problems"), problemsOf(r));
    return ($("#d-status").textContent = failure(r));
  }
  renderProblems($("#d-problems"), []);
  $("#d-status").textContent = t("saved", r.body.code);
}

// ---------------------------------------------------------------- language, start
function applyLang() {
  // Messages of the other language are not translated after the fact.
  status("");
  $("#d-status").textContent = "";
  document.documentElement.lang = state.lang;
  document.documentElement.dir = state.lang === "fa" ? "rtl" : "ltr";
  document.title = t("title");
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  const other = state.lang === "fa" ? "en" : "fa";
  $("#lang").textContent = other === "en" ? "English" : "فارسی";
  $("#lang").lang = other;
  $("#lang").dir = other === "en" ? "ltr" : "rtl";
  if (state.current) {
    $("#revision").textContent = t("revision", num(state.current.revision));
    recheck();
    loadHistory();
  }
  renderUser();
}

async function signIn(e) {
  e.preventDefault();
  state.token = $("#token").value;
  status(t("connecting"));
  const r = await api("GET", "/v1/admin/config");
  if (!r.ok) {
    state.token = null;
    return status(r.status === 401 ? t("badToken") : failure(r), "deny");
  }
  $("#token").value = ""; // kept in `state` only
  for (const s of ["#config", "#history", "#user", "#discounts"]) $(s).hidden = false;
  await loadConfig();
  await loadHistory();
  status(t("connected"), "ok");
}

async function main() {
  await init();
  $("#login-form").addEventListener("submit", signIn);
  $("#lang").addEventListener("click", () => {
    state.lang = state.lang === "fa" ? "en" : "fa";
    applyLang();
  });
  $("#editor").addEventListener("input", () => {
    recheck();
    if (!$("#diff").hidden) showDiff();
  });
  $("#reload").addEventListener("click", loadConfig);
  $("#show-diff").addEventListener("click", showDiff);
  $("#push").addEventListener("click", push);
  $("#user-form").addEventListener("submit", (e) => {
    e.preventDefault();
    findUser($("#user-id").value.trim());
  });
  $("#reset-selected").addEventListener("click", resetSelected);
  $("#reset-all").addEventListener("click", resetAll);
  $("#import-go").addEventListener("click", importUsage);
  $("#d-load").addEventListener("click", loadCode);
  $("#discount-form").addEventListener("submit", (e) => {
    e.preventDefault();
    saveCode();
  });
  applyLang();
}

window.__admin = { ready: false, state };
main().then(
  () => (window.__admin.ready = true),
  (e) => (window.__admin.error = String(e?.stack ?? e)),
);
