//! The npm package's bindings (feature `wasm`, built into `pkg/` by
//! scripts/pkg-build.sh): SPEC §6.
//!
//! This layer converts types and nothing else. Every JS input becomes the
//! JSON value the Worker reads from the same document's text ([`values`]
//! carries plain data across typed; anything else goes as `JSON.stringify`'s
//! text) and is read by the core's own strict readers
//! ([`Config::from_value`], [`Action::from_value`],
//! [`Subscription::from_value`]; a snapshot, the edge's own answer handed
//! back, by [`Snapshot::from_value`]); every answer is the core's own serde
//! output as JSON text, made into plain JS objects by `JSON.parse` (a plain
//! decision as the same object literal). No
//! decision is taken here, so a decision in the browser is the decision
//! native Rust gives for the same input. In a build without the bundled time
//! zone database the host's `Intl` supplies zone offsets ([`host`]), data
//! only: the calendar's rules stay in the core.
//!
//! Errors are JS `Error`s whose message lists every problem; the problems are
//! also attached as `err.problems` (`[{path, reason}]`).

use crate::action::{base64_encode, Action, FileInfo, MAX_HEAD};
use crate::config::Config;
use crate::engine::{Engine, Options};
use crate::json::{Problem, Problems};
use crate::messages::Locale;
use crate::snapshot::Snapshot;
use crate::subscription::Subscription;
use crate::time::{rfc3339, secs};
use js_sys::{Array, ArrayBuffer, Function, Promise, Reflect, Uint8Array};
use serde::Serialize;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

mod values;
use values::Encoded;

// ------------------------------------------------------------------ types

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A limit's metric (SPEC §1). `cost_usd` figures are US dollars. */
export type Metric = "messages" | "tokens" | "images" | "files" | "file_bytes" | "cost_usd";
/** `all` (default), `free`, `paid`, or a model glob such as `"openai/gpt-4o*"`. */
export type Scope = "all" | "free" | "paid" | (string & {});
/** Rolling `"<n>m" | "<n>h" | "<n>d"`, or a calendar / other window. */
export type Window =
  | `${number}m` | `${number}h` | `${number}d`
  | "day" | "week" | "month" | "subscription" | "lifetime" | "chat";
export type Locale = "fa" | "en";
export type Weekday = "monday" | "tuesday" | "wednesday" | "thursday" | "friday" | "saturday" | "sunday";

/** A denial code (SPEC §4); `"ok"` when allowed. */
export type Code =
  | "ok" | "subscription_missing" | "subscription_inactive" | "subscription_expired"
  | "plan_inactive" | "model_not_allowed" | "window_exceeded" | "insufficient_budget"
  | "concurrency_exceeded" | "file_name_invalid" | "file_too_large" | "file_type_not_allowed"
  | "file_type_mismatch" | "discount_unknown" | "discount_expired" | "discount_exhausted"
  | "discount_user_exhausted" | "discount_not_applicable" | "upgrade_not_allowed" | "bad_request";

export interface Model {
  id: string;
  free?: boolean;
  input_usd_per_mtok?: number;
  output_usd_per_mtok?: number;
  image_usd?: number;
  name?: string;
}

export interface Limit {
  metric: Metric;
  scope?: Scope;
  window: Window;
  /** `0` is not "unlimited": leave the limit out instead. */
  max: number;
}

export interface FileRules {
  max_file_bytes?: number | null;
  allowed_extensions?: string[] | string | null;
}

export interface Plan {
  id: string;
  name?: string;
  description?: string;
  active?: boolean;
  tier?: number;
  /** Globs of allowed model ids; `"*"` = all. */
  models?: string[];
  limits?: Limit[];
  files?: FileRules;
  max_concurrent?: number | null;
}

/** A plan written with the seed platform's flat field names (SPEC §7); `0` means unlimited. */
export interface SeedPlan {
  name: string;
  [field: string]: unknown;
}

/** The OpenAI-compatible gateway's rules (SPEC §8; docs/gateway.md). */
export interface GatewayConfig {
  /** Request fields forwarded besides the gateway's own allowlist (e.g. OpenRouter's `provider`). */
  allow_fields?: string[];
  /** `{"answer-model-id": "config-model-id"}`: answers naming the key are the value's. */
  model_aliases?: Record<string, string>;
  /** The model of an image request without `model`; unset: `model` is required. */
  default_image_model?: string | null;
}

export interface Config {
  version?: 1;
  timezone?: string;
  locale?: Locale;
  week_start?: Weekday;
  calendar?: "gregorian" | "persian";
  hold_ttl_s?: number;
  hold_max_ttl_s?: number;
  on_hold_expiry?: "release" | "charge";
  models?: Model[];
  plans: (Plan | SeedPlan)[];
  /** `messages.<locale>.<code>`: template overrides. */
  messages?: Partial<Record<Locale, Partial<Record<Code, string>>>>;
  gateway?: GatewayConfig;
}

export interface Subscription {
  id: string | number;
  plan: string;
  active?: boolean;
  /** Unix seconds. */
  starts_at: number;
  /** Unix seconds; `null`: never ends. */
  ends_at?: number | null;
}

/** The first bytes of a file: a Uint8Array, a list of byte values, or base64. */
export type FileHead = Uint8Array | ArrayBuffer | number[] | string;

/** A file described before upload. */
export interface FileDescriptor {
  name: string;
  size: number;
  type?: string | null;
  head?: FileHead | null;
}

/** Anything `Blob`-shaped: browser `File`/`Blob` objects (only the first 4096 bytes are read). */
export interface BlobLike {
  readonly size: number;
  readonly type: string;
  readonly name?: string;
  slice(start?: number, end?: number): { arrayBuffer(): Promise<ArrayBuffer> };
}

/** What `checkFiles` accepts per file. */
export type FileLike = BlobLike | FileDescriptor;

export type MessageAction = {
  type: "message"; model: string; input_tokens: number; max_output_tokens: number;
  chat_id?: string | null; kind?: "send" | "regenerate" | "edit";
};
export type TitleAction = { type: "title"; model: string; input_tokens: number; max_output_tokens: number };
export type ImageAction = { type: "image"; model?: string | null; count?: number };
export type AnalyzeImageAction = {
  type: "analyze_image"; model: string; input_tokens: number; max_output_tokens: number;
  file?: FileDescriptor | null;
};
export type UploadAction = { type: "upload"; chat_id: string; files: FileDescriptor[] };
export type DiscountAction = { type: "discount"; code: string };
export type UpgradeAction = { type: "upgrade"; to_plan: string };
export type ValidateAction = {
  type: "validate"; model?: string | null; input_tokens?: number; generate_image?: boolean;
  uploaded_files_count?: number | null; chat_id?: string | null;
};
/** What the user asks to do (SPEC §3), by `type`. */
export type Action =
  | MessageAction | TitleAction | ImageAction | AnalyzeImageAction
  | UploadAction | DiscountAction | UpgradeAction | ValidateAction;

/** One limit as it stands: quota meters, `violations`, `limits`. */
export interface LimitState {
  metric: Metric;
  scope: Scope;
  window: Window | "file";
  /** `chat` windows only: the chat, or `null` for a chat with no usage yet. */
  chat_id?: string | null;
  limit: number;
  /** Includes open holds. */
  used: number;
  requested?: number;
  remaining: number;
  /** RFC 3339, or `null` when waiting never frees room. */
  resets_at: string | null;
  /** Credits this limit may draw on (only on limits with `"overflow": "credits"`). */
  credits?: number;
  /** What this request draws from credits on this limit. */
  from_credits?: number;
}

/** One reason an action is refused. Quota violations carry the limit's fields. */
export interface Violation extends Partial<LimitState> {
  code: Code;
  status: number;
  file?: string;
  model?: string;
  retry_after_s?: number;
  message: string;
}

export interface HoldRef { id: string; expires_at: string }

/** The verdict (SPEC §4). */
export interface Decision {
  allowed: boolean;
  /** 200 when allowed; 400, 403, 413, 415 or 429 when not. */
  status: number;
  code: Code;
  message: string;
  /** Seconds until the action would fit; `null` when waiting does not help. */
  retry_after_s: number | null;
  violations: Violation[];
  /** Every limit that applied, when `explain` was asked for. */
  limits: LimitState[];
  hold?: HoldRef;
  /** What an allowed request draws from credits, per metric. */
  from_credits?: Partial<Record<Metric, number>>;
  /** Thresholds (`warn_at`) this action takes a limit past; often empty. */
  warnings: Warning[];
  /** Allowed for the plan's fallback model (SPEC §11): that model… */
  model?: string;
  /** …and the model asked for. */
  fallback_from?: string;
}

/** A limit taken past a `warn_at` threshold (SPEC §10). */
export interface Warning {
  metric: Metric;
  scope: Scope;
  window: Window;
  chat_id?: string;
  /** The fraction of `limit` passed, e.g. 0.8. */
  threshold: number;
  used: number;
  limit: number;
  remaining: number;
  resets_at: string | null;
  message: string;
}

/** A grant (SPEC §9) as `GET /v1/usage` lists it. */
export interface GrantInfo {
  id: string;
  metric: Metric;
  scope: Scope;
  amount: number;
  remaining: number;
  source: "purchase" | "promo" | "admin" | "discount";
  starts_at?: string;
  expires_at: string | null;
  revoked_at?: string;
}

export interface HoldInfo {
  id: string;
  type: string;
  model?: string;
  created_at: string;
  expires_at: string;
}

/** The body of `GET /v1/usage`. */
export interface Snapshot {
  subscription: Subscription | null;
  plan: string | null;
  as_of: string;
  limits?: LimitState[];
  holds?: HoldInfo[];
  /** Credits: every grant not expired and not revoked. */
  grants?: GrantInfo[];
}

export interface CheckOptions {
  /** Fill `limits` with every limit that applied. */
  explain?: boolean;
  /** Overrides the config's locale. */
  locale?: Locale;
}

export interface StatusOptions {
  /** The chat whose `chat` limits to show (default: a chat with no usage yet, `chat_id: null`). */
  chatId?: string | null;
}

export interface FileVerdict { name: string; decision: Decision }

/** `checkFiles`: one decision for the batch and one per file (each as if uploaded alone). */
export interface CheckFilesResult {
  allowed: boolean;
  decision: Decision;
  files: FileVerdict[];
}

/** `status`: every limit of the plan with used / limit / remaining / resets_at. */
export interface Status {
  as_of: string;
  limits: LimitState[];
}

/** A file's real type, from its first bytes. */
export interface Sniffed { mime: string; ext: string }

/** One problem of a rejected input. */
export interface Problem { path: string; reason: string }

/** The errors this package throws carry every problem. */
export interface TollgateError extends Error { problems: Problem[] }

/** `timeZoneData()`: the IANA release compiled in, and where other zones come from. */
export interface TimeZoneData { tzdata: string; source: string }

/** One case of a shared test vector (tests/vectors/*.json). */
export interface VectorCase { [field: string]: unknown }
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "Config")]
    pub type JsConfig;
    #[wasm_bindgen(typescript_type = "Snapshot")]
    pub type JsSnapshot;
    #[wasm_bindgen(typescript_type = "Subscription")]
    pub type JsSubscription;
    #[wasm_bindgen(typescript_type = "Action")]
    pub type JsAction;
    #[wasm_bindgen(typescript_type = "CheckOptions")]
    pub type JsCheckOptions;
    #[wasm_bindgen(typescript_type = "StatusOptions")]
    pub type JsStatusOptions;
    #[wasm_bindgen(typescript_type = "Decision")]
    pub type JsDecision;
    #[wasm_bindgen(typescript_type = "Status")]
    pub type JsStatus;
    #[wasm_bindgen(typescript_type = "FileLike[] | ArrayLike<FileLike> | FileLike")]
    pub type JsFiles;
    #[wasm_bindgen(typescript_type = "Promise<CheckFilesResult>")]
    pub type JsFilesPromise;
    #[wasm_bindgen(typescript_type = "Uint8Array | ArrayBuffer | number[]")]
    pub type JsBytes;
    #[wasm_bindgen(typescript_type = "Sniffed | null")]
    pub type JsSniffed;
    #[wasm_bindgen(typescript_type = "VectorCase")]
    pub type JsVectorCase;
    #[wasm_bindgen(typescript_type = "Decision | Record<string, unknown>")]
    pub type JsReplayed;
    #[wasm_bindgen(typescript_type = "TimeZoneData")]
    pub type JsTimeZoneData;
}

/// The package's allocator: talc instead of Rust's default dlmalloc on
/// wasm32, about 4 KB smaller (gzipped) and faster at the many small
/// allocations of reading JSON (BENCHMARKS.md, "Browser package").
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

// ------------------------------------------------------------- conversion

// Plain data crosses typed ([`values`]) into the same JSON value the
// Worker reads from the document's text; anything else crosses as that
// text (`JSON.stringify`). Answers go out as JSON text for `JSON.parse`,
// a plain decision as the object literal it would give.

/// A JS value as JSON; `what` names it in the error. Plain data crosses
/// typed ([`values`]); anything else as `JSON.stringify`'s text.
fn json(v: &JsValue, what: &str) -> Result<Value, JsValue> {
    match Encoded::value_of(v) {
        Some(value) => Ok(value),
        None => text_json(v, what),
    }
}

/// A JS value as JSON by its `JSON.stringify` text.
fn text_json(v: &JsValue, what: &str) -> Result<Value, JsValue> {
    parse(&json_text(v, what)?, what)
}

/// A file description (`{name, size, type?, head?}`) whose `head` may be a
/// `Uint8Array` or an `ArrayBuffer`, which have no JSON form: a shallow copy
/// with the bytes as base64, the form the core also reads over HTTP.
fn with_base64_head(file: &JsValue) -> JsValue {
    if has_to_json(file) {
        return file.clone();
    }
    let head = get(file, "head");
    let bytes = if let Some(a) = head.dyn_ref::<Uint8Array>() {
        a.to_vec()
    } else if head.is_instance_of::<ArrayBuffer>() {
        Uint8Array::new(&head).to_vec()
    } else {
        return file.clone();
    };
    let copy = js_sys::Object::assign(&js_sys::Object::new(), file.unchecked_ref());
    let _ = Reflect::set(&copy, &"head".into(), &base64_encode(&bytes).into());
    copy.into()
}

/// An action whose files may carry their first bytes (`upload`'s `files`,
/// `analyze_image`'s `file`) as JSON.
fn json_with_heads(v: &JsValue, what: &str) -> Result<Value, JsValue> {
    let files = get(v, "files");
    let file = get(v, "file");
    if (!Array::is_array(&files) && !file.is_object()) || has_to_json(v) {
        // `action` walked it already: only its text is left to try.
        return text_json(v, what);
    }
    let copy = js_sys::Object::assign(&js_sys::Object::new(), v.unchecked_ref());
    if Array::is_array(&files) {
        let list = Array::new();
        for f in Array::from(&files).iter() {
            list.push(&with_base64_head(&f));
        }
        let _ = Reflect::set(&copy, &"files".into(), &list);
    }
    if file.is_object() {
        let _ = Reflect::set(&copy, &"file".into(), &with_base64_head(&file));
    }
    json(&copy, what)
}

fn parse(text: &str, what: &str) -> Result<Value, JsValue> {
    serde_json::from_str(text).map_err(|e| error(what, &Problems::one(what, e.to_string())))
}

/// Any serialisable answer as a plain JS object (`JSON.parse` of the core's
/// serde output: no `Map`s, `null` for `None`).
fn to_js<T: Serialize + ?Sized>(v: &T) -> Result<JsValue, JsValue> {
    serde_json::to_string(v)
        .ok()
        .and_then(|text| js_sys::JSON::parse(&text).ok())
        .ok_or_else(|| error("output", &Problems::one("", "not representable as JSON")))
}

/// A JS `Error` listing every problem, with the list as `err.problems`.
fn error(what: &str, problems: &Problems) -> JsValue {
    let err = js_sys::Error::new(&format!("invalid {what}: {problems}"));
    let list = Array::new();
    for Problem { path, reason } in &problems.0 {
        let p = js_sys::Object::new();
        let _ = Reflect::set(&p, &"path".into(), &path.into());
        let _ = Reflect::set(&p, &"reason".into(), &reason.into());
        list.push(&p);
    }
    let _ = Reflect::set(&err, &"problems".into(), &list);
    err.into()
}

/// A value `JSON.stringify` would replace by what its `toJSON` returns (a
/// `Date`, say): the copies above would lose that, so it goes as it is.
fn has_to_json(v: &JsValue) -> bool {
    v.is_object() && get(v, "toJSON").is_function()
}

fn is_nullish(v: &JsValue) -> bool {
    v.is_null() || v.is_undefined()
}

/// A JS value as JSON text (`JSON.stringify`): the cheapest way across the
/// boundary for a document without bytes, and exactly the text the core
/// reads at the edge (a snapshot is the body of `GET /v1/usage`). A value
/// with no JSON form (`undefined`, a function, a `BigInt`, a cycle) is a
/// problem, not an exception of another kind.
fn json_text(v: &JsValue, what: &str) -> Result<String, JsValue> {
    js_sys::JSON::stringify(v)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| error(what, &Problems::one(what, "not representable as JSON")))
}

/// The last document of one kind read from JS, keyed by its encoding.
///
/// A page checks many actions against the same `GET /v1/usage` snapshot and
/// subscription. Their encoding ([`Encoded`], or the JSON text where the
/// typed walk gives up) is compared with the last one seen and the parsed
/// value is reused when it is the same, so the answer is always that of the
/// value given (an object mutated in place is read again), while the
/// rebuild and the reading are skipped.
struct Cached<T> {
    key: Key,
    value: Rc<T>,
}

#[derive(PartialEq)]
enum Key {
    Typed(Encoded),
    Text(String),
}

type Slot<T> = RefCell<Option<Cached<T>>>;

/// `v` read through `slot`: `encode` writes it typed where it can, `typed`
/// reads that encoding (`None`: leave it to the JSON path), and `read`
/// takes the JSON path's value.
fn cached<T>(
    slot: &Slot<T>,
    v: &JsValue,
    what: &str,
    encode: fn(&JsValue) -> Option<Encoded>,
    typed: impl FnOnce(&Encoded) -> Option<Result<T, JsValue>>,
    read: impl FnOnce(&Value) -> Result<T, JsValue>,
) -> Result<Rc<T>, JsValue> {
    let key = match encode(v) {
        Some(e) => Key::Typed(e),
        None => Key::Text(json_text(v, what)?),
    };
    if let Some(c) = slot.borrow().as_ref() {
        if c.key == key {
            return Ok(Rc::clone(&c.value));
        }
    }
    let value = match &key {
        Key::Typed(e) => match typed(e) {
            Some(t) => t?,
            None => read(&text_json(v, what)?)?,
        },
        Key::Text(text) => read(&parse(text, what)?)?,
    };
    let value = Rc::new(value);
    *slot.borrow_mut() = Some(Cached {
        key,
        value: Rc::clone(&value),
    });
    Ok(value)
}

fn read_subscription(value: &Value) -> Result<Option<Subscription>, JsValue> {
    Subscription::from_value(value)
        .map(Some)
        .map_err(|p| error("subscription", &p))
}

/// An action. Files may carry their first bytes as a `Uint8Array`: such an
/// action is not plain data, so the typed walk gives up and the heads are
/// made base64 first.
fn action(v: &JsValue) -> Result<Action, JsValue> {
    let value = match Encoded::value_of(v) {
        Some(value) => value,
        None => match get(v, "type").as_string().as_deref() {
            Some("upload" | "analyze_image") => json_with_heads(v, "action")?,
            _ => text_json(v, "action")?,
        },
    };
    Action::from_value(&value).map_err(|p| error("action", &p))
}

fn now(now_ms: f64) -> Result<i64, JsValue> {
    if now_ms.is_finite() {
        Ok(now_ms.floor() as i64)
    } else {
        Err(error(
            "nowMs",
            &Problems::one("nowMs", "expected milliseconds since 1970 (Date.now())"),
        ))
    }
}

/// `{explain?, locale?}`.
fn options(v: Option<&JsValue>) -> Result<Options<'static>, JsValue> {
    let mut opts = Options::default();
    let Some(v) = v.filter(|v| !is_nullish(v)) else {
        return Ok(opts);
    };
    let mut problems = Vec::new();
    let explain = Reflect::get(v, &"explain".into()).unwrap_or(JsValue::UNDEFINED);
    if !is_nullish(&explain) {
        match explain.as_bool() {
            Some(b) => opts.explain = b,
            None => problems.push(Problem {
                path: "options.explain".into(),
                reason: "expected true or false".into(),
            }),
        }
    }
    let locale = Reflect::get(v, &"locale".into()).unwrap_or(JsValue::UNDEFINED);
    if !is_nullish(&locale) {
        match locale.as_string().as_deref().and_then(Locale::parse) {
            Some(l) => opts.locale = Some(l),
            None => problems.push(Problem {
                path: "options.locale".into(),
                reason: "expected \"fa\" or \"en\"".into(),
            }),
        }
    }
    if problems.is_empty() {
        Ok(opts)
    } else {
        Err(error("options", &Problems(problems)))
    }
}

/// `{chatId?}` of `status()`.
fn status_chat(v: Option<&JsValue>) -> Result<Option<String>, JsValue> {
    let Some(v) = v.filter(|v| !is_nullish(v)) else {
        return Ok(None);
    };
    let c = Reflect::get(v, &"chatId".into()).unwrap_or(JsValue::UNDEFINED);
    if is_nullish(&c) {
        return Ok(None);
    }
    match c.as_string() {
        Some(s) if !s.is_empty() && s.len() <= 128 => Ok(Some(s)),
        _ => Err(error(
            "options",
            &Problems(vec![Problem {
                path: "options.chatId".into(),
                reason: "expected a chat id (1-128 characters) or null".into(),
            }]),
        )),
    }
}

/// `Blob`/`File`: has `slice` and `arrayBuffer` methods.
fn is_blob_like(v: &JsValue) -> bool {
    v.is_object()
        && ["slice", "arrayBuffer"]
            .iter()
            .all(|m| Reflect::get(v, &(*m).into()).is_ok_and(|f| f.is_instance_of::<Function>()))
}

fn get(v: &JsValue, key: &str) -> JsValue {
    Reflect::get(v, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// `file.slice(0, 4096).arrayBuffer()`: only the first bytes are read.
fn read_head(blob: &JsValue) -> Result<JsValue, JsValue> {
    let slice: Function = get(blob, "slice").unchecked_into();
    let part = slice.call2(blob, &0.into(), &(MAX_HEAD as u32).into())?;
    let array_buffer: Function = get(&part, "arrayBuffer").unchecked_into();
    array_buffer.call0(&part)
}

/// A `Blob`/`File` and its first bytes as the core's file description.
fn blob_descriptor(blob: &JsValue, head: &JsValue) -> Value {
    let bytes = Uint8Array::new(head).to_vec();
    let mut m = Map::new();
    m.insert(
        "name".into(),
        Value::String(
            get(blob, "name")
                .as_string()
                .unwrap_or_else(|| "blob".into()),
        ),
    );
    m.insert(
        "size".into(),
        get(blob, "size")
            .as_f64()
            .map_or(Value::Null, values::number),
    );
    if let Some(t) = get(blob, "type").as_string().filter(|t| !t.is_empty()) {
        m.insert("type".into(), Value::String(t));
    }
    m.insert("head".into(), Value::String(base64_encode(&bytes)));
    Value::Object(m)
}

/// The files of `checkFiles`, read by the core's upload reader (paths
/// `files[i].…` in problems).
fn upload_files(chat_id: &str, files: Vec<Value>) -> Result<Vec<FileInfo>, JsValue> {
    let mut m = Map::new();
    m.insert("type".into(), Value::String("upload".into()));
    m.insert("chat_id".into(), Value::String(chat_id.to_string()));
    m.insert("files".into(), Value::Array(files));
    match Action::from_value(&Value::Object(m)) {
        Ok(Action::Upload { files, .. }) => Ok(files),
        Ok(_) => unreachable!("an upload reads as an upload"),
        Err(p) => Err(error("files", &p)),
    }
}

// ------------------------------------------------------------- host zones

/// Time zone data from the JavaScript engine (`Intl`, i.e. ICU), for
/// builds without the bundled database (feature `tzdb` off: the default
/// npm package). The host answers one question, "the UTC offset of zone Z at
/// instant t"; every rule about days, weeks and months stays in the core
/// ([`crate::calendar`]). Asia/Tehran and UTC are compiled in and never ask.
#[cfg(not(feature = "tzdb"))]
mod host {
    use crate::zone::{self, ZoneRules, ZoneSource};
    use js_sys::Object;
    use std::cell::RefCell;
    use std::sync::Arc;
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        /// `Intl.DateTimeFormat`, set to print only the UTC offset.
        #[wasm_bindgen(js_namespace = Intl, js_name = DateTimeFormat)]
        type OffsetFormat;
        #[wasm_bindgen(constructor, js_namespace = Intl, js_class = "DateTimeFormat", catch)]
        fn new(locale: &str, options: &Object) -> Result<OffsetFormat, JsValue>;
        /// `format(ms)`: `"1/1/2026, GMT+03:30"` (seconds too where the
        /// offset has them: `GMT+03:25:44`).
        #[wasm_bindgen(method)]
        fn format(this: &OffsetFormat, ms: f64) -> String;
    }

    thread_local! {
        /// The zones asked for so far, by index (an `IntlZone` is its index,
        /// so it is `Send + Sync` as the core's trait wants; wasm32 has one
        /// thread).
        static ZONES: RefCell<Vec<(String, OffsetFormat)>> = const { RefCell::new(Vec::new()) };
        /// Offsets already asked for, `(zone, t, offset)` in a direct-mapped
        /// table: the calendar asks for the same midnights again and again,
        /// and each question crosses into JS.
        static MEMO: RefCell<Vec<(usize, i64, i32)>> = RefCell::new(vec![(usize::MAX, 0, 0); MEMO_SIZE]);
    }

    struct Intl;

    impl ZoneSource for Intl {
        fn zone(&self, name: &str) -> Option<Arc<dyn ZoneRules>> {
            let id = ZONES.with(|zones| {
                let mut zones = zones.borrow_mut();
                if let Some(i) = zones.iter().position(|(n, _)| n == name) {
                    return Some(i);
                }
                let options = Object::new();
                let _ = js_sys::Reflect::set(&options, &"timeZone".into(), &name.into());
                let _ =
                    js_sys::Reflect::set(&options, &"timeZoneName".into(), &"longOffset".into());
                // A zone (or `longOffset`) the engine does not know: RangeError.
                let format = OffsetFormat::new("en-US", &options).ok()?;
                zones.push((name.to_string(), format));
                Some(zones.len() - 1)
            })?;
            // The engine must also be able to answer (a very old one has no
            // `longOffset` and prints a zone name instead).
            let zone = IntlZone(id);
            zone.ask(0)?;
            Some(Arc::new(zone))
        }
        fn describe(&self) -> &'static str {
            "the JavaScript engine's Intl (ICU) time zone data"
        }
    }

    /// A zone the host knows, by its index in `ZONES`.
    struct IntlZone(usize);

    impl IntlZone {
        /// The offset at `t` as the host prints it, or `None` when the text
        /// is not `GMT`, `GMT±hh:mm` or `GMT±hh:mm:ss`.
        fn ask(&self, t: i64) -> Option<i32> {
            // Dates beyond ±8.64e15 ms do not exist in JS; the calendar never
            // asks outside 1800–2400.
            let ms = (t as f64 * 1000.0).clamp(-8.64e15, 8.64e15);
            let text = ZONES.with(|z| z.borrow().get(self.0).map(|(_, f)| f.format(ms)))?;
            parse_gmt_offset(&text[text.rfind("GMT")? + 3..])
        }
    }

    const MEMO_SIZE: usize = 1024;

    impl ZoneRules for IntlZone {
        fn offset_at(&self, t: i64) -> i32 {
            let slot =
                ((t as u64 ^ self.0 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize;
            if let Some(o) = MEMO.with(|m| {
                let (z, at, o) = m.borrow()[slot];
                (z == self.0 && at == t).then_some(o)
            }) {
                return o;
            }
            let o = self.ask(t).unwrap_or(0);
            MEMO.with(|m| m.borrow_mut()[slot] = (self.0, t, o));
            o
        }
    }

    /// `""` (UTC), `"+03:30"`, `"-04:56:02"` (ASCII or U+2212 minus) in seconds.
    pub(super) fn parse_gmt_offset(s: &str) -> Option<i32> {
        if s.is_empty() {
            return Some(0);
        }
        let (sign, rest) = if let Some(r) = s.strip_prefix('+') {
            (1, r)
        } else if let Some(r) = s.strip_prefix('-').or_else(|| s.strip_prefix('\u{2212}')) {
            (-1, r)
        } else {
            return None;
        };
        let mut secs = 0;
        let mut parts = 0;
        for (part, unit) in rest.split(':').zip([3600, 60, 1]) {
            if part.is_empty() || part.len() > 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            secs += part.parse::<i32>().ok()? * unit;
            parts += 1;
        }
        (parts == rest.split(':').count()).then_some(sign * secs)
    }

    static INTL: Intl = Intl;

    /// Makes the host's zones available to the core (once; cheap after).
    pub fn install() {
        zone::install_host(&INTL);
    }
}

/// Zone data for configs read from here on: the host's, in a build without
/// the bundled database.
fn install_zones() {
    #[cfg(not(feature = "tzdb"))]
    host::install();
}

// ------------------------------------------------------------------- API

/// A config made ready to decide: `new Tollgate(config)`.
#[wasm_bindgen]
pub struct Tollgate {
    engine: Rc<Engine>,
    last_snapshot: Slot<Snapshot>,
    last_subscription: Slot<Option<Subscription>>,
}

/// A snapshot and a subscription read once, for a page that checks many
/// actions against the same `GET /v1/usage` answer (`tg.prepare(snapshot,
/// subscription)`): its calls skip reading them again, where
/// `Tollgate.check` must serialise the plain objects on every call to notice
/// a change.
#[wasm_bindgen]
pub struct Prepared {
    engine: Rc<Engine>,
    snapshot: Rc<Snapshot>,
    subscription: Option<Subscription>,
}

impl Tollgate {
    fn subscription(&self, v: Option<&JsValue>) -> Result<Option<Subscription>, JsValue> {
        let Some(v) = v.filter(|v| !is_nullish(v)) else {
            return Ok(None);
        };
        let sub = cached(
            &self.last_subscription,
            v,
            "subscription",
            Encoded::of,
            |e| e.value().map(|v| read_subscription(&v)),
            read_subscription,
        )?;
        Ok((*sub).clone())
    }

    /// `null`/`undefined` is the snapshot of a user with no usage.
    fn snapshot(
        &self,
        v: Option<&JsValue>,
        sub: &Option<Subscription>,
    ) -> Result<Rc<Snapshot>, JsValue> {
        match v.filter(|v| !is_nullish(v)) {
            Some(v) => cached(
                &self.last_snapshot,
                v,
                "snapshot",
                Encoded::snapshot_of,
                |e| e.snapshot().map(Ok),
                |value| Snapshot::from_value(value).map_err(|p| error("snapshot", &p)),
            ),
            None => Ok(Rc::new(Snapshot::empty(sub.clone()))),
        }
    }

    /// The snapshot and subscription of one call, read (or reused).
    fn state(
        &self,
        snapshot: Option<&JsValue>,
        subscription: Option<&JsValue>,
    ) -> Result<(Rc<Snapshot>, Option<Subscription>), JsValue> {
        let sub = self.subscription(subscription)?;
        Ok((self.snapshot(snapshot, &sub)?, sub))
    }
}

/// `check` against parsed state.
fn check(
    engine: &Engine,
    snap: &Snapshot,
    sub: Option<&Subscription>,
    action: &JsValue,
    now_ms: f64,
    options: Option<&JsValue>,
) -> Result<JsDecision, JsValue> {
    let action = self::action(action)?;
    let opts = self::options(options)?;
    let d = engine.check_snapshot(snap, sub, &action, now(now_ms)?, &opts);
    match values::plain_decision(&d) {
        Some(plain) => Ok(plain.unchecked_into()),
        None => Ok(to_js(&d)?.unchecked_into()),
    }
}

/// `checkFiles` against parsed state.
fn check_files(
    engine: &Rc<Engine>,
    snap: Rc<Snapshot>,
    sub: Option<Subscription>,
    chat_id: String,
    files: &JsValue,
    now_ms: f64,
    options: Option<&JsValue>,
) -> JsFilesPromise {
    let ready = (|| {
        let opts = self::options(options)?;
        let now = now(now_ms)?;
        let list = if is_blob_like(files) {
            Array::of1(files)
        } else {
            Array::from(files)
        };
        // Each Blob's first bytes (a Promise), each descriptor as is.
        let pending = Array::new();
        for f in list.iter() {
            pending.push(&if is_blob_like(&f) {
                read_head(&f)?
            } else {
                JsValue::UNDEFINED
            });
        }
        Ok::<_, JsValue>((opts, now, list, pending))
    })();
    let (opts, now, list, pending) = match ready {
        Ok(r) => r,
        Err(e) => return Promise::reject(&e).unchecked_into(),
    };
    let engine = Rc::clone(engine);
    let finish = Closure::once_into_js(move |heads: JsValue| -> Result<JsValue, JsValue> {
        let heads: Array = heads.unchecked_into();
        let mut described = Vec::with_capacity(list.length() as usize);
        for (i, f) in list.iter().enumerate() {
            let head = heads.get(i as u32);
            described.push(if head.is_instance_of::<ArrayBuffer>() {
                blob_descriptor(&f, &head)
            } else {
                json(&with_base64_head(&f), "files")?
            });
        }
        let files = upload_files(&chat_id, described)?;
        let verdict = engine.check_files(&snap, sub.as_ref(), &chat_id, &files, now, &opts);
        to_js(&verdict)
    });
    let all = Promise::all(&pending);
    let then: Function = get(&all, "then").unchecked_into();
    match then.call1(&all, &finish) {
        Ok(p) => p.unchecked_into(),
        Err(e) => Promise::reject(&e).unchecked_into(),
    }
}

/// `status` against parsed state.
fn status(
    engine: &Engine,
    snap: &Snapshot,
    sub: Option<&Subscription>,
    now_ms: f64,
    options: Option<&JsValue>,
) -> Result<JsStatus, JsValue> {
    #[derive(Serialize)]
    struct Status {
        as_of: String,
        limits: Vec<crate::decision::LimitState>,
    }
    let now = now(now_ms)?;
    let chat = status_chat(options)?;
    let limits = engine.status_from_snapshot(snap, sub, chat.as_deref(), now);
    Ok(to_js(&Status {
        as_of: rfc3339(secs(now)),
        limits,
    })?
    .unchecked_into())
}

#[wasm_bindgen]
impl Tollgate {
    /// Validates `config`; throws an `Error` listing every problem (also as
    /// `err.problems`) when it is invalid.
    #[wasm_bindgen(constructor)]
    pub fn new(config: &JsConfig) -> Result<Tollgate, JsValue> {
        install_zones();
        let v = json(config, "config")?;
        let config = Config::from_value(&v).map_err(|p| error("config", &p))?;
        Ok(Tollgate {
            engine: Rc::new(Engine::new(config)),
            last_snapshot: RefCell::new(None),
            last_subscription: RefCell::new(None),
        })
    }

    /// The decision the edge would give for `action` against `snapshot`
    /// (`null`: no usage). Throws listing every problem of a malformed action.
    pub fn check(
        &self,
        snapshot: Option<JsSnapshot>,
        subscription: Option<JsSubscription>,
        action: &JsAction,
        #[wasm_bindgen(js_name = nowMs)] now_ms: f64,
        options: Option<JsCheckOptions>,
    ) -> Result<JsDecision, JsValue> {
        let (snap, sub) = self.state(snapshot.as_deref(), subscription.as_deref())?;
        check(
            &self.engine,
            &snap,
            sub.as_ref(),
            action,
            now_ms,
            options.as_deref(),
        )
    }

    /// Pre-upload verdicts: a Promise of `{allowed, decision, files}`, one
    /// decision for the batch and one per file. `files` are `File`/`Blob`
    /// objects (only their first 4096 bytes are read) or `{name, size, type?, head?}`.
    #[wasm_bindgen(js_name = checkFiles)]
    pub fn check_files(
        &self,
        snapshot: Option<JsSnapshot>,
        subscription: Option<JsSubscription>,
        #[wasm_bindgen(js_name = chatId)] chat_id: String,
        files: &JsFiles,
        #[wasm_bindgen(js_name = nowMs)] now_ms: f64,
        options: Option<JsCheckOptions>,
    ) -> JsFilesPromise {
        match self.state(snapshot.as_deref(), subscription.as_deref()) {
            Ok((snap, sub)) => check_files(
                &self.engine,
                snap,
                sub,
                chat_id,
                files,
                now_ms,
                options.as_deref(),
            ),
            Err(e) => Promise::reject(&e).unchecked_into(),
        }
    }

    /// Every limit of the subscription's plan as it stands at `nowMs`
    /// according to `snapshot`: `{as_of, limits}`, for quota meters.
    pub fn status(
        &self,
        snapshot: Option<JsSnapshot>,
        subscription: Option<JsSubscription>,
        #[wasm_bindgen(js_name = nowMs)] now_ms: f64,
        options: Option<JsStatusOptions>,
    ) -> Result<JsStatus, JsValue> {
        let (snap, sub) = self.state(snapshot.as_deref(), subscription.as_deref())?;
        status(
            &self.engine,
            &snap,
            sub.as_ref(),
            now_ms,
            options.as_deref(),
        )
    }

    /// `snapshot` and `subscription` read once, for many checks: the
    /// returned object's `check`, `checkFiles` and `status` take the other
    /// arguments and answer as this object's would for the same snapshot.
    /// It does not see later changes to the objects given here: prepare
    /// again after a new `GET /v1/usage`.
    pub fn prepare(
        &self,
        snapshot: Option<JsSnapshot>,
        subscription: Option<JsSubscription>,
    ) -> Result<Prepared, JsValue> {
        let (snapshot, subscription) = self.state(snapshot.as_deref(), subscription.as_deref())?;
        Ok(Prepared {
            engine: Rc::clone(&self.engine),
            snapshot,
            subscription,
        })
    }

    /// The snapshot of a user with no usage.
    #[wasm_bindgen(js_name = emptySnapshot)]
    pub fn empty_snapshot(subscription: Option<JsSubscription>) -> Result<JsSnapshot, JsValue> {
        let sub = match subscription.as_deref().filter(|v| !is_nullish(v)) {
            Some(v) => read_subscription(&json(v, "subscription")?)?,
            None => None,
        };
        Ok(to_js(&Snapshot::empty(sub))?.unchecked_into())
    }
}

#[wasm_bindgen]
impl Prepared {
    /// `Tollgate.check` for the prepared snapshot and subscription.
    pub fn check(
        &self,
        action: &JsAction,
        #[wasm_bindgen(js_name = nowMs)] now_ms: f64,
        options: Option<JsCheckOptions>,
    ) -> Result<JsDecision, JsValue> {
        check(
            &self.engine,
            &self.snapshot,
            self.subscription.as_ref(),
            action,
            now_ms,
            options.as_deref(),
        )
    }

    /// `Tollgate.checkFiles` for the prepared snapshot and subscription.
    #[wasm_bindgen(js_name = checkFiles)]
    pub fn check_files(
        &self,
        #[wasm_bindgen(js_name = chatId)] chat_id: String,
        files: &JsFiles,
        #[wasm_bindgen(js_name = nowMs)] now_ms: f64,
        options: Option<JsCheckOptions>,
    ) -> JsFilesPromise {
        check_files(
            &self.engine,
            Rc::clone(&self.snapshot),
            self.subscription.clone(),
            chat_id,
            files,
            now_ms,
            options.as_deref(),
        )
    }

    /// `Tollgate.status` for the prepared snapshot and subscription.
    pub fn status(
        &self,
        #[wasm_bindgen(js_name = nowMs)] now_ms: f64,
        options: Option<JsStatusOptions>,
    ) -> Result<JsStatus, JsValue> {
        status(
            &self.engine,
            &self.snapshot,
            self.subscription.as_ref(),
            now_ms,
            options.as_deref(),
        )
    }
}

/// A file's real type from its first bytes: `{mime, ext}`, or `null`.
#[wasm_bindgen(js_name = sniffType)]
pub fn sniff_type(bytes: &JsBytes) -> Result<JsSniffed, JsValue> {
    let v: &JsValue = bytes;
    let arr = if let Some(a) = v.dyn_ref::<Uint8Array>() {
        a.clone()
    } else if v.is_instance_of::<ArrayBuffer>() || Array::is_array(v) {
        Uint8Array::new(v)
    } else {
        return Err(error(
            "bytes",
            &Problems::one(
                "bytes",
                "expected a Uint8Array, an ArrayBuffer or a list of bytes",
            ),
        ));
    };
    let n = arr.length().min(MAX_HEAD as u32);
    let head = arr.subarray(0, n).to_vec();
    Ok(match crate::files::sniff(&head) {
        Some(s) => to_js(&s)?,
        None => JsValue::NULL,
    }
    .unchecked_into())
}

/// Which time zone data this build decides with: `{tzdata, source}` —
/// the IANA release compiled in (every zone with the bundled database,
/// otherwise Asia/Tehran and UTC) and where other zones come from.
#[wasm_bindgen(js_name = timeZoneData)]
pub fn time_zone_data() -> Result<JsTimeZoneData, JsValue> {
    install_zones();
    #[derive(Serialize)]
    struct Data {
        tzdata: &'static str,
        source: String,
    }
    Ok(to_js(&Data {
        tzdata: crate::zone::TZDATA_VERSION,
        source: crate::zone::data_source(),
    })?
    .unchecked_into())
}

/// Conformance helper of the test build (feature `conformance`; not in the
/// shipped package): replays one case of a shared test vector
/// (tests/vectors/*.json, format in `src/replay.rs`) with the core's own
/// replayer and returns its final decision (or redemption).
#[cfg(feature = "conformance")]
#[wasm_bindgen(js_name = replayCase)]
pub fn replay_case(
    config: &JsConfig,
    #[wasm_bindgen(js_name = vectorCase)] vector_case: &JsVectorCase,
) -> Result<JsReplayed, JsValue> {
    install_zones();
    let config = json(config, "config")?;
    let case = json(vector_case, "case")?;
    match crate::replay::run_case(&config, &case) {
        Ok(v) => Ok(to_js(&v)?.unchecked_into()),
        Err(e) => Err(js_sys::Error::new(&e).into()),
    }
}
