//! OpenAI-compatible gateway helpers (issue #5), pure: the Worker's gateway
//! routes (`POST /v1/chat/completions`, `POST /v1/images/generations`,
//! `GET /v1/models`) do I/O; everything they decide is here, unit-tested.
//!
//! * [`ChatRequest`] turns a chat-completions body into a `message`
//!   [`Action`]: the model, an input-token *estimate* ([`estimate_text_tokens`],
//!   documented there; non-text parts by [`crate::media`]) and the most
//!   output tokens the call may produce. Only the fields of [`CHAT_FIELDS`]
//!   (and the config's `gateway.allow_fields`) are accepted and forwarded
//!   (SPEC §8): what reaches the upstream is what was reserved.
//! * [`ImageRequest`] turns an images body into an `image` action (`n`, and
//!   a model: the request's or `gateway.default_image_model`).
//! * [`charged_model`]: the model an answer is charged as, when the
//!   upstream answered with another model than the one reserved.
//! * [`UpstreamUsage`] reads the upstream's `usage` (prompt and completion
//!   tokens, OpenRouter's `usage.cost` in US dollars).
//! * [`SseScanner`] splits a server-sent-event stream into events as bytes
//!   arrive, tells a usage-only chunk (to strip) from content, and
//!   [`StreamTally`] keeps what the settlement needs.
//! * [`settle_chat`] / [`settle_chat_json`] / [`settle_image`]: the
//!   settlement policy (docs/gateway.md) — commit the real figures, or
//!   release the hold.
//! * [`error_body`] and [`models_list`]: OpenAI's error and model-list shapes.

use crate::action::{Action, MessageKind, MAX_IMAGES};
use crate::config::{Config, GatewayConfig};
use crate::decision::{Code, Decision};
use crate::engine::Usage;
use crate::json::{index, join};
use crate::json::{usd_to_micros, Problems, Reader};
use crate::media::{self, DataUrl};
use crate::subscription::Subscription;
use serde_json::{json, Map, Value};

/// Output tokens reserved for a chat call that names no `max_tokens` /
/// `max_completion_tokens`. The gateway then also *sends* this figure to
/// the upstream as `max_tokens`, so the hold covers every token the call can
/// produce and no plan limit can be overrun by an open-ended answer.
/// 4096 is the output cap most chat models had for years, so ordinary
/// answers are never cut short by it; a client wanting longer answers says so.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 4096;

/// Tokens every chat message costs besides its content (role, separators):
/// OpenAI's published count is 3 (4 with a `name`); 4 is used for all.
pub const MESSAGE_OVERHEAD_TOKENS: u64 = 4;

/// Tokens that prime the assistant's reply (OpenAI: 3).
pub const REPLY_PRIMING_TOKENS: u64 = 3;

/// The fields of OpenAI's chat-completions request the gateway forwards
/// (SPEC §8). Anything else answers 400 unless the config lists it in
/// `gateway.allow_fields`.
pub const CHAT_FIELDS: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "stream",
    "stream_options",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "seed",
    "user",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "reasoning_effort",
];

/// The fields of OpenAI's images-generation request the gateway forwards:
/// what shapes the images asked for, never how many beyond `n` nor a
/// stream of partial images (`stream`, `partial_images`: the gateway reads
/// an images answer whole and counts its `data`).
pub const IMAGE_FIELDS: &[&str] = &[
    "model",
    "prompt",
    "n",
    "size",
    "quality",
    "style",
    "response_format",
    "user",
    "background",
    "moderation",
    "output_format",
    "output_compression",
];

/// Fields that could change the model or add billed work the hold does not
/// cover (SPEC §8): OpenRouter's fallback `models`, `route`, `provider`,
/// `plugins` (web search, file parsers), `transforms`; OpenAI's
/// `modalities` / `audio` (audio output), `web_search_options`,
/// `prediction`. Refused with a reason of their own.
pub const REFUSED_FIELDS: &[&str] = &[
    "models",
    "route",
    "provider",
    "plugins",
    "transforms",
    "modalities",
    "web_search_options",
    "prediction",
    "audio",
];

/// Content-part types the gateway forwards: text, and the non-text parts it
/// can estimate from what was sent ([`crate::media`]).
pub const PART_TYPES: &[&str] = &["text", "image_url", "input_audio", "file", "refusal"];

/// Tool types forwarded: tools the client runs itself. A server-side tool
/// (a web search run by the upstream) is billed work the hold does not cover.
pub const TOOL_TYPES: &[&str] = &["function", "custom"];

/// The most choices (`n`) one chat call may ask for.
pub const MAX_CHOICES: u64 = 128;

/// The longest model id accepted.
const MAX_MODEL_ID: usize = 256;

// ---------------------------------------------------------------- estimator

/// An upper estimate of the tokens `text` costs, for the hold only: the real
/// figure from the upstream's `usage` replaces it at settlement.
///
/// **The rule** (per run of characters; the sum is then raised by 10 %):
///
/// | run | tokens |
/// |---|---|
/// | ASCII letters | ⌈len / 4⌉, +1 per case change inside the run (lower→Upper, or UPPER→lower after 2+ capitals) |
/// | ASCII digits | ⌈len / 3⌉ (BPE tokenizers split numbers into groups of ≤ 3) |
/// | one space | 0 before a letter (merged into the word), else 1 |
/// | 2+ spaces; tabs / newlines | 2 per run |
/// | other ASCII (punctuation) | 1 each |
/// | other letters (Persian/Arabic, Cyrillic, Greek, Hebrew, accented Latin…) | 0.75 per char + 1 per run |
/// | CJK ideographs, kana, hangul | 1.25 per char |
/// | non-ASCII digits (۰–۹, ٠–٩) | 2 each |
/// | astral chars (emoji, flags) | 3 each |
/// | anything else (ZWNJ, « » ، ؟, variation selectors…) | 1 each |
///
/// **Why.** Byte-level BPE tokenizers split text into words, numbers and
/// punctuation first, then merge bytes within each piece; the rule mirrors
/// that split and charges each piece what the *least* efficient of the
/// tokenizers measured charges. Measured (test `estimate_bounds_real_tokenizers`
/// keeps the table) with cl100k (GPT-4), o200k (GPT-4o) and Llama 3 on
/// English prose, chat, Markdown, Rust, Python, JSON, numbers, UUIDs, URLs,
/// base64, a JWT, Persian prose, chat, poetry, the seed's own messages,
/// Persian digits, Persian mixed with code, Arabic, Russian, emoji and
/// Chinese: the estimate is ≥ the largest real count on every sample but
/// random base64 (0.95× cl100k's, still ≥ o200k's), and at most 2× it
/// (English prose ≈ 1.6×, code and JSON 1.7–2×). Persian is the expensive
/// case: cl100k spends ~0.73 tokens per Persian letter (≈ 2.3× o200k and
/// Llama 3); the rule follows cl100k at 1.1–1.3× its count (so 2.3–2.9×
/// GPT-4o's real figure: a bigger hold, never a short one). The simpler `⌈UTF-8 bytes / 2⌉`
/// would overcount English prose 2.6× yet undercount Persian digits 2×
/// (cl100k spends one token per byte on them), random base64 1.6× and
/// emoji 1.3×.
///
/// Text outside these samples may tokenize worse (long random strings),
/// and then the hold is short by at most the difference for that one
/// request: the commit records the real figure, and the next request sees it.
pub fn estimate_text_tokens(text: &str) -> u64 {
    // Quarter-tokens, to stay in integers.
    let mut q: u64 = 0;
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut i = 0;
    let is_letter = |c: char| c.is_ascii_alphabetic() || (!c.is_ascii() && c.is_alphabetic());
    while i < n {
        let c = chars[i];
        if c.is_ascii_alphabetic() {
            let (mut j, mut breaks, mut prev_lower, mut upper_run) = (i, 0u64, false, 0u32);
            while j < n && chars[j].is_ascii_alphabetic() {
                let up = chars[j].is_ascii_uppercase();
                if (up && prev_lower) || (!up && upper_run >= 2) {
                    breaks += 1;
                }
                upper_run = if up { upper_run + 1 } else { 0 };
                prev_lower = !up;
                j += 1;
            }
            q += 4 * ((j - i).div_ceil(4) as u64 + breaks);
            i = j;
        } else if c.is_ascii_digit() {
            let mut j = i;
            while j < n && chars[j].is_ascii_digit() {
                j += 1;
            }
            q += 4 * (j - i).div_ceil(3) as u64;
            i = j;
        } else if c == ' ' {
            i += 1;
            if i < n && chars[i] == ' ' {
                while i < n && chars[i] == ' ' {
                    i += 1;
                }
                q += 8;
            } else if i < n && !is_letter(chars[i]) {
                q += 4;
            }
        } else if matches!(c, '\n' | '\t' | '\r') {
            while i < n && matches!(chars[i], '\n' | '\t' | '\r' | ' ') {
                i += 1;
            }
            q += 8;
        } else if c.is_ascii() {
            q += 4;
            i += 1;
        } else if is_cjk(c) {
            q += 5;
            i += 1;
        } else if c.is_alphabetic() {
            let mut j = i;
            while j < n && !chars[j].is_ascii() && chars[j].is_alphabetic() && !is_cjk(chars[j]) {
                j += 1;
            }
            q += 3 * (j - i) as u64 + 4;
            i = j;
        } else if c.is_numeric() {
            q += 8;
            i += 1;
        } else if u32::from(c) >= 0x1_0000 {
            q += 12;
            i += 1;
        } else {
            q += 4;
            i += 1;
        }
    }
    (q * 11).div_ceil(40)
}

fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x2E80..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF)
}

/// The estimate for any JSON value: a string's text, else its JSON text.
fn estimate_value(v: &Value) -> u64 {
    match v {
        Value::Null => 0,
        Value::String(s) => estimate_text_tokens(s),
        other => estimate_text_tokens(&other.to_string()),
    }
}

/// A message's `content`: a string, or a list of parts. A non-text part is
/// estimated from what it carries ([`estimate_part`]); its base64 is never
/// read as text.
fn estimate_content(v: &Value, model: &str) -> u64 {
    match v {
        Value::Array(parts) => parts
            .iter()
            .map(|p| estimate_part(p, model))
            .fold(0u64, u64::saturating_add),
        other => estimate_value(other),
    }
}

/// The most input tokens one content part can cost `model` (the bounds are
/// [`crate::media`]'s): text by [`estimate_text_tokens`]; an image by its
/// size in pixels (read from a `data:` URL's header; a remote image as the
/// largest within 2048 × 2048 px); audio by its duration; a file by its
/// bytes and pages. A part of another type is read as text (the request's
/// parser refuses those before anything is estimated).
pub fn estimate_part(p: &Value, model: &str) -> u64 {
    let field = |a: &str, b: &str| p.get(a).and_then(|x| x.get(b)).and_then(Value::as_str);
    match p.get("type").and_then(Value::as_str) {
        Some("text") | Some("input_text") => p.get("text").map_or(0, estimate_value),
        Some("refusal") => p.get("refusal").map_or(0, estimate_value),
        Some("image_url") => {
            let url =
                field("image_url", "url").or_else(|| p.get("image_url").and_then(Value::as_str));
            let size = url
                .and_then(DataUrl::parse)
                .and_then(|d| media::image_size(&d.head(media::IMAGE_HEAD_BYTES)));
            media::image_tokens(model, size)
        }
        Some("input_audio") => {
            let data = field("input_audio", "data").unwrap_or("");
            media::audio_tokens(
                &media::base64_head(data, media::AUDIO_HEAD_BYTES),
                media::base64_len(data),
            )
        }
        Some("file") => {
            let bytes = field("file", "file_data")
                .and_then(DataUrl::parse)
                .map(|d| d.bytes())
                .unwrap_or_default();
            let name = field("file", "filename").map_or(0, estimate_text_tokens);
            media::file_tokens(&bytes).saturating_add(name)
        }
        _ => estimate_value(p),
    }
}

/// The input-token estimate of a chat-completions body: per message the
/// overhead plus its content (and any `name`, `tool_calls`, … as text), the
/// reply priming, and the tool / function / response-format definitions
/// (which the upstream also counts as input).
pub fn estimate_chat_input(body: &Value) -> u64 {
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    let mut t = REPLY_PRIMING_TOKENS;
    if let Some(msgs) = body.get("messages").and_then(Value::as_array) {
        for m in msgs {
            t = t.saturating_add(MESSAGE_OVERHEAD_TOKENS);
            match m.as_object() {
                Some(o) => {
                    for (k, v) in o {
                        let e = match k.as_str() {
                            "role" => 0,
                            "content" => estimate_content(v, model),
                            _ => estimate_value(v),
                        };
                        t = t.saturating_add(e);
                    }
                }
                None => t = t.saturating_add(estimate_value(m)),
            }
        }
    }
    for key in ["tools", "functions", "response_format", "tool_choice"] {
        if let Some(v) = body.get(key) {
            t = t.saturating_add(estimate_value(v));
        }
    }
    t
}

/// Refuses every top-level field that is neither `known` nor opted in by
/// `gateway.allow_fields`, naming it (the first named becomes OpenAI's `param`).
fn check_fields(r: &mut Reader, m: &Map<String, Value>, known: &[&str], gw: &GatewayConfig) {
    for k in m.keys() {
        if known.contains(&k.as_str()) || gw.allow_fields.iter().any(|a| a == k) {
            continue;
        }
        if REFUSED_FIELDS.contains(&k.as_str()) {
            r.err(
                k.as_str(),
                "is not forwarded: it could change the model or add billed work \
                 (the operator may allow it in the config's gateway.allow_fields)",
            );
        } else {
            r.err(
                k.as_str(),
                "unknown field: the gateway forwards only known fields",
            );
        }
    }
}

/// A copy of `body` with only the fields `known` or opted in: what is sent upstream.
fn allowed_only(body: &Value, known: &[&str], gw: &GatewayConfig) -> Map<String, Value> {
    // Inserted one by one: `collect` would sort the pairs first (`crate::order`).
    let mut out = Map::new();
    for (k, v) in body.as_object().into_iter().flatten() {
        if known.contains(&k.as_str()) || gw.allow_fields.iter().any(|a| a == k) {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Checks what a message's content parts and the tools carry: only part
/// types the estimate covers, files sent with the request (a `file_id`
/// names a file of the server's upstream account, not the caller's; a
/// remote file's size is unknown before the call), client-side tools only.
fn check_parts_and_tools(r: &mut Reader, m: &Map<String, Value>) {
    if let Some(msgs) = m.get("messages").and_then(Value::as_array) {
        for (i, msg) in msgs.iter().enumerate() {
            let Some(parts) = msg.get("content").and_then(Value::as_array) else {
                continue;
            };
            let mpath = join(&index("messages", i), "content");
            for (j, part) in parts.iter().enumerate() {
                let path = index(&mpath, j);
                let Some(po) = r.object(part, &path) else {
                    continue;
                };
                let tpath = join(&path, "type");
                let Some(ty) = po.get("type").and_then(Value::as_str) else {
                    r.err(tpath, "required: one of text, image_url, input_audio, file");
                    continue;
                };
                if !PART_TYPES.contains(&ty) {
                    r.err(tpath, format!("{ty:?} parts are not forwarded (text, image_url, input_audio, file are)"));
                    continue;
                }
                if ty == "file" {
                    let f = po.get("file");
                    let fpath = join(&path, "file");
                    if f.and_then(|f| f.get("file_id"))
                        .is_some_and(|v| !v.is_null())
                    {
                        r.err(
                            join(&fpath, "file_id"),
                            "a file id is not forwarded: send the file as file_data (a data: URL)",
                        );
                    }
                    let data = f.and_then(|f| f.get("file_data")).and_then(Value::as_str);
                    if data.and_then(DataUrl::parse).is_none() {
                        r.err(
                            join(&fpath, "file_data"),
                            "required: the file as a data: URL",
                        );
                    }
                }
            }
        }
    }
    if let Some(tools) = m.get("tools").and_then(Value::as_array) {
        for (i, t) in tools.iter().enumerate() {
            let ty = t.get("type").and_then(Value::as_str).unwrap_or("");
            if !TOOL_TYPES.contains(&ty) {
                r.err(
                    join(&index("tools", i), "type"),
                    format!("{ty:?} tools are not forwarded: only tools the client runs (function, custom)"),
                );
            }
        }
    }
}

// ------------------------------------------------------------------ requests

/// A chat-completions request as the gateway needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequest {
    pub model: String,
    pub stream: bool,
    /// The client asked for the final usage chunk (`stream_options.include_usage`).
    pub client_wants_usage: bool,
    /// [`estimate_chat_input`].
    pub input_tokens: u64,
    /// Per choice: the client's `max_completion_tokens` / `max_tokens` (the
    /// larger when both are given), else [`DEFAULT_MAX_OUTPUT_TOKENS`].
    pub max_tokens: u64,
    /// Whether the client gave a maximum (else the gateway sends the default).
    pub max_tokens_given: bool,
    /// Choices asked for (`n`, default 1).
    pub n: u64,
}

impl ChatRequest {
    /// Reads the fields the decision needs. A field that is neither one of
    /// [`CHAT_FIELDS`] nor in `gw.allow_fields` is refused, naming it (it is
    /// listed first, so it is OpenAI's `param`). Every problem is listed.
    pub fn parse(body: &Value, gw: &GatewayConfig) -> Result<ChatRequest, Problems> {
        let mut r = Reader::new();
        let Some(m) = r.object(body, "") else {
            return Err(Problems(r.problems));
        };
        check_fields(&mut r, m, CHAT_FIELDS, gw);
        check_parts_and_tools(&mut r, m);
        let model = read_model(&mut r, m, true);
        match m.get("messages") {
            None | Some(Value::Null) => r.err("messages", "is required"),
            Some(v) => {
                if let Some(a) = r.array(v, "messages") {
                    if a.is_empty() {
                        r.err("messages", "must list at least one message");
                    }
                    for (i, msg) in a.iter().enumerate() {
                        r.object(msg, &crate::json::index("messages", i));
                    }
                }
            }
        }
        let a = r.opt_count(m, "", "max_completion_tokens");
        let b = r.opt_count(m, "", "max_tokens");
        let n = match r.opt_count(m, "", "n") {
            None => 1,
            Some(n) if (1..=MAX_CHOICES).contains(&n) => n,
            Some(_) => {
                r.err("n", format!("must be between 1 and {MAX_CHOICES}"));
                1
            }
        };
        let stream = r.opt_bool(m, "", "stream").unwrap_or(false);
        let client_wants_usage = match m.get("stream_options") {
            None | Some(Value::Null) => false,
            Some(v) => r
                .object(v, "stream_options")
                .and_then(|o| r.opt_bool(o, "stream_options", "include_usage"))
                .unwrap_or(false),
        };
        let given = a.max(b);
        match (model, r.ok()) {
            (Some(model), true) => Ok(ChatRequest {
                model,
                stream,
                client_wants_usage,
                input_tokens: estimate_chat_input(body),
                max_tokens: given.unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS),
                max_tokens_given: given.is_some(),
                n,
            }),
            _ => Err(Problems(r.problems)),
        }
    }

    /// Every output token the call may produce: per choice × choices.
    pub fn max_output_tokens(&self) -> u64 {
        self.max_tokens.saturating_mul(self.n)
    }

    /// The `message` action reserved for this call.
    pub fn action(&self) -> Action {
        Action::Message {
            model: self.model.clone(),
            input_tokens: self.input_tokens,
            max_output_tokens: self.max_output_tokens(),
            chat_id: None,
            kind: MessageKind::Send,
        }
    }

    /// The body sent upstream: the client's allowed fields only (the rest
    /// was refused by [`ChatRequest::parse`]; this is the second lock), plus
    /// `max_tokens` when the client gave no maximum (the hold's figure, so
    /// the upstream cannot produce more than was reserved) and, for streams,
    /// `stream_options.include_usage: true` (the settlement needs it).
    pub fn upstream_body(&self, body: &Value, gw: &GatewayConfig) -> Value {
        let mut body = Value::Object(allowed_only(body, CHAT_FIELDS, gw));
        if let Some(m) = body.as_object_mut() {
            if !self.max_tokens_given {
                m.insert("max_tokens".into(), json!(self.max_tokens));
            }
            if self.stream {
                let so = m
                    .entry("stream_options")
                    .or_insert_with(|| Value::Object(Map::new()));
                if !so.is_object() {
                    *so = Value::Object(Map::new());
                }
                if let Some(o) = so.as_object_mut() {
                    o.insert("include_usage".into(), Value::Bool(true));
                }
            }
        }
        body
    }
}

fn read_model(r: &mut Reader, m: &Map<String, Value>, required: bool) -> Option<String> {
    let s = if required {
        r.req_str(m, "", "model")
    } else {
        r.opt_str(m, "", "model")
    }?;
    r.check_id(s, "model", MAX_MODEL_ID).map(str::to_string)
}

/// An images-generation request: an `image` action of `n` images of `model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRequest {
    /// The request's `model`, else `gateway.default_image_model`: an image
    /// is always some model's (its plan check, scope and price apply).
    pub model: String,
    pub n: u64,
}

impl ImageRequest {
    /// Reads an images body: fields beyond [`IMAGE_FIELDS`] (and
    /// `gw.allow_fields`) are refused; `model` is required unless the config
    /// names a `default_image_model`. Every problem is listed.
    pub fn parse(body: &Value, gw: &GatewayConfig) -> Result<ImageRequest, Problems> {
        let mut r = Reader::new();
        let Some(m) = r.object(body, "") else {
            return Err(Problems(r.problems));
        };
        check_fields(&mut r, m, IMAGE_FIELDS, gw);
        let present = m.get("model").is_some_and(|v| !v.is_null());
        let given = read_model(&mut r, m, false);
        let model = match (present, &gw.default_image_model) {
            (true, _) => given,
            (false, Some(d)) => Some(d.clone()),
            (false, None) => {
                r.err(
                    "model",
                    "required (this gateway has no default image model)",
                );
                None
            }
        };
        r.req_str(m, "", "prompt");
        let n = match r.opt_count(m, "", "n") {
            None => 1,
            Some(n) if (1..=MAX_IMAGES).contains(&n) => n,
            Some(_) => {
                r.err("n", format!("must be between 1 and {MAX_IMAGES}"));
                1
            }
        };
        match (model, r.ok()) {
            (Some(model), true) => Ok(ImageRequest { model, n }),
            _ => Err(Problems(r.problems)),
        }
    }

    pub fn action(&self) -> Action {
        Action::Image {
            model: Some(self.model.clone()),
            count: self.n,
        }
    }

    /// The body sent upstream: the allowed fields, with the model that was
    /// reserved (the default one when the client named none: the upstream
    /// must not pick a model of its own).
    pub fn upstream_body(&self, body: &Value, gw: &GatewayConfig) -> Value {
        let mut m = allowed_only(body, IMAGE_FIELDS, gw);
        m.insert("model".into(), Value::String(self.model.clone()));
        Value::Object(m)
    }
}

// -------------------------------------------------------------- answer model

/// The model an answer is charged as (SPEC §8), given the model reserved
/// and the one the upstream's answer names: `None` when it is the reserved
/// model — the same id, an alias of it in `gateway.model_aliases`, or the
/// reserved id with a date suffix (`gpt-4o-mini-2024-07-18`, OpenAI's
/// snapshot of `gpt-4o-mini`) — else the answering model (after its alias),
/// which the ledger charges with its own prices and scope (a model the
/// config does not know: as a paid model, at the upstream's reported cost).
pub fn charged_model(gw: &GatewayConfig, reserved: &str, answered: Option<&str>) -> Option<String> {
    let answered = answered.map(str::trim).filter(|a| !a.is_empty())?;
    let resolved = gw
        .model_aliases
        .get(answered)
        .map_or(answered, String::as_str);
    if resolved == reserved || strip_date_suffix(resolved) == Some(reserved) {
        return None;
    }
    Some(resolved.to_string())
}

/// `id` without a trailing `-YYYY-MM-DD`, if it has one.
fn strip_date_suffix(id: &str) -> Option<&str> {
    let (head, date) = id.split_at_checked(id.len().checked_sub(11)?)?;
    let d = date.as_bytes();
    let shape = d[0] == b'-'
        && d[5] == b'-'
        && d[8] == b'-'
        && [1, 2, 3, 4, 6, 7, 9, 10]
            .iter()
            .all(|&i| d[i].is_ascii_digit());
    shape.then_some(head)
}

/// The model a whole (non-streamed) answer names.
pub fn answer_model(body: &Value) -> Option<&str> {
    body.get("model").and_then(Value::as_str)
}

// --------------------------------------------------------------------- usage

/// What the upstream says a call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpstreamUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// OpenRouter's `usage.cost` (US dollars) in micro-dollars.
    pub cost_micros: Option<u64>,
}

impl UpstreamUsage {
    /// Reads a `usage` object: `prompt_tokens` / `completion_tokens`
    /// (chat), or `input_tokens` / `output_tokens` (images, responses);
    /// `cost` when present. `None` when it carries no token counts.
    pub fn from_value(v: &Value) -> Option<UpstreamUsage> {
        let o = v.as_object()?;
        let count = |keys: [&str; 2]| keys.iter().find_map(|k| o.get(*k).and_then(Value::as_u64));
        let prompt = count(["prompt_tokens", "input_tokens"]);
        let completion = count(["completion_tokens", "output_tokens"]);
        let cost_micros = o
            .get("cost")
            .and_then(Value::as_f64)
            .filter(|c| c.is_finite() && *c >= 0.0 && *c <= 1e9)
            .map(usd_to_micros);
        if prompt.is_none() && completion.is_none() && cost_micros.is_none() {
            return None;
        }
        Some(UpstreamUsage {
            prompt_tokens: prompt.unwrap_or(0),
            completion_tokens: completion.unwrap_or(0),
            cost_micros,
        })
    }

    /// The `usage` of a response body.
    pub fn of_response(body: &Value) -> Option<UpstreamUsage> {
        body.get("usage").and_then(UpstreamUsage::from_value)
    }

    /// The commit for a chat call.
    pub fn to_usage(self) -> Usage {
        Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            cost_micros: self.cost_micros,
            images: None,
            files: None,
            model: None,
        }
    }
}

// ----------------------------------------------------------------------- SSE

/// One server-sent event, with its bytes exactly as received.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    /// The event's bytes including the blank line that ends it: forwarded as is.
    pub raw: Vec<u8>,
    pub kind: SseKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SseKind {
    /// `data: [DONE]`.
    Done,
    /// A `data:` JSON chunk.
    Chunk(ChunkInfo),
    /// A comment (`: OPENROUTER PROCESSING`), a keep-alive, or a data line
    /// that is not JSON: passed through, not counted.
    Other,
}

/// What a chat-completion chunk carries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChunkInfo {
    pub usage: Option<UpstreamUsage>,
    /// No choices, only `usage`: the final chunk asked for with
    /// `stream_options.include_usage`; stripped when the client did not ask.
    pub usage_only: bool,
    /// The text it delivers: content, reasoning, refusal, tool-call names and arguments.
    pub text: String,
    /// An error object sent mid-stream (`{"error": {...}}`, as OpenRouter does).
    pub error: Option<Value>,
    /// The model the chunk says answered.
    pub model: Option<String>,
}

impl SseEvent {
    /// Whether the gateway forwards this event to a client that did (or did
    /// not) ask for the usage chunk. A chunk that carries content *and*
    /// usage is always forwarded (the extra field is harmless).
    pub fn forward(&self, client_wants_usage: bool) -> bool {
        match &self.kind {
            SseKind::Chunk(c) => client_wants_usage || !c.usage_only,
            _ => true,
        }
    }
}

/// The most bytes one event may take; past it the stream is malformed.
pub const MAX_SSE_EVENT: usize = 16 << 20;

/// Splits a byte stream into server-sent events as bytes arrive. Lines end
/// with `\n` or `\r\n`; an empty line ends an event.
#[derive(Debug, Default)]
pub struct SseScanner {
    buf: Vec<u8>,
    /// Where the line being read starts in `buf`.
    line_start: usize,
    /// How far `buf` has been searched for `\n`.
    scanned: usize,
}

impl SseScanner {
    pub fn new() -> SseScanner {
        SseScanner::default()
    }

    /// Feeds bytes; returns the events they complete, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(off) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
            let nl = self.scanned + off;
            let mut line = &self.buf[self.line_start..nl];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            if line.is_empty() {
                let raw: Vec<u8> = self.buf.drain(..=nl).collect();
                out.push(parse_event(raw));
                self.line_start = 0;
                self.scanned = 0;
            } else {
                self.line_start = nl + 1;
                self.scanned = nl + 1;
            }
        }
        self.scanned = self.buf.len();
        out
    }

    /// Bytes held back waiting for the end of their event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The stream ended: whatever is left, as a last event (unterminated).
    pub fn finish(&mut self) -> Option<SseEvent> {
        if self.buf.is_empty() {
            return None;
        }
        self.line_start = 0;
        self.scanned = 0;
        Some(parse_event(std::mem::take(&mut self.buf)))
    }
}

fn parse_event(raw: Vec<u8>) -> SseEvent {
    let text = String::from_utf8_lossy(&raw);
    let mut data: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_string()),
            }
        }
    }
    let kind = match data {
        None => SseKind::Other,
        Some(d) if d.trim() == "[DONE]" => SseKind::Done,
        Some(d) => match serde_json::from_str::<Value>(&d) {
            Ok(v) if v.is_object() => SseKind::Chunk(chunk_info(&v)),
            _ => SseKind::Other,
        },
    };
    SseEvent { raw, kind }
}

fn chunk_info(v: &Value) -> ChunkInfo {
    let usage = v
        .get("usage")
        .filter(|u| !u.is_null())
        .and_then(UpstreamUsage::from_value);
    let choices = v.get("choices").and_then(Value::as_array);
    let no_choices = choices.is_none_or(|c| c.is_empty());
    let mut text = String::new();
    for c in choices.into_iter().flatten() {
        let d = c.get("delta").or_else(|| c.get("message"));
        if let Some(d) = d {
            collect_text(d, &mut text);
        }
    }
    ChunkInfo {
        usage_only: usage.is_some() && no_choices,
        usage,
        text,
        error: v.get("error").filter(|e| !e.is_null()).cloned(),
        model: v
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .map(str::to_string),
    }
}

/// The text a delta (or a whole message) delivers.
fn collect_text(d: &Value, out: &mut String) {
    for key in ["content", "reasoning", "reasoning_content", "refusal"] {
        if let Some(s) = d.get(key).and_then(Value::as_str) {
            out.push_str(s);
        }
    }
    if let Some(calls) = d.get("tool_calls").and_then(Value::as_array) {
        for call in calls {
            if let Some(f) = call.get("function") {
                for key in ["name", "arguments"] {
                    if let Some(s) = f.get(key).and_then(Value::as_str) {
                        out.push_str(s);
                    }
                }
            }
        }
    }
}

/// The most delivered text kept for the estimate; beyond it every byte
/// counts as a token (an overestimate, for runaway streams only).
const MAX_TALLY_TEXT: usize = 1 << 20;

/// What a stream has delivered so far: what settlement needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamTally {
    /// The last usage the upstream reported.
    pub usage: Option<UpstreamUsage>,
    /// Chunks that carried text.
    pub text_chunks: u64,
    text: String,
    extra_bytes: u64,
    pub done: bool,
    pub error: Option<Value>,
    /// The first model a chunk named (the one that answered).
    pub model: Option<String>,
}

impl StreamTally {
    /// Counts an event that reached the client (or was read, for usage).
    pub fn observe(&mut self, ev: &SseEvent) {
        match &ev.kind {
            SseKind::Done => self.done = true,
            SseKind::Chunk(c) => {
                if c.usage.is_some() {
                    self.usage = c.usage;
                }
                if self.model.is_none() {
                    self.model.clone_from(&c.model);
                }
                if c.error.is_some() {
                    self.error = c.error.clone();
                }
                if !c.text.is_empty() {
                    self.text_chunks += 1;
                    if self.text.len() + c.text.len() <= MAX_TALLY_TEXT {
                        self.text.push_str(&c.text);
                    } else {
                        self.extra_bytes += c.text.len() as u64;
                    }
                }
            }
            SseKind::Other => {}
        }
    }

    /// Whether any model output reached the client.
    pub fn delivered_any(&self) -> bool {
        self.text_chunks > 0
    }

    /// Completion tokens estimated from the delivered text: the text's
    /// estimate, and never less than one per chunk that carried text
    /// (upstreams send about a token per chunk).
    pub fn delivered_tokens(&self) -> u64 {
        estimate_text_tokens(&self.text)
            .saturating_add(self.extra_bytes)
            .max(self.text_chunks)
    }
}

// ---------------------------------------------------------------- settlement

/// How a proxied call ended, as the gateway saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The upstream's answer was read to its end.
    Completed,
    /// The client went away before the end (the gateway stops the upstream).
    ClientGone,
    /// The upstream failed: an error status, a network error, a broken
    /// stream, or an error event mid-stream.
    UpstreamFailed,
}

/// What to do with the hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    Commit(Usage),
    Release,
}

/// The settlement policy for a chat call (docs/gateway.md):
///
/// 1. The upstream reported usage → commit exactly that (with its `cost`
///    when given; otherwise the core prices the tokens with the model's prices).
/// 2. No usage, and no output reached the client, and the upstream failed →
///    release: nothing is charged.
/// 3. Otherwise (the client left, the upstream broke after some output, or
///    a successful answer came without usage) → commit the input estimate
///    plus the completion tokens estimated from the text delivered.
pub fn settle_chat(
    ending: Ending,
    usage: Option<UpstreamUsage>,
    input_estimate: u64,
    delivered_any: bool,
    delivered_tokens: u64,
) -> Settlement {
    if let Some(u) = usage {
        return Settlement::Commit(u.to_usage());
    }
    if ending == Ending::UpstreamFailed && !delivered_any {
        return Settlement::Release;
    }
    Settlement::Commit(Usage {
        input_tokens: input_estimate,
        output_tokens: delivered_tokens,
        ..Usage::default()
    })
}

/// Whether a stream the upstream ended is whole: it ended with `[DONE]`
/// and sent no error event. A stream cut short (a clean end of the body
/// without `[DONE]`) is a broken one: the client must be told.
pub fn stream_complete(ending: Ending, tally: &StreamTally) -> bool {
    ending == Ending::Completed && tally.done && tally.error.is_none()
}

/// Settlement for a streamed chat call from its tally.
pub fn settle_stream(ending: Ending, tally: &StreamTally, input_estimate: u64) -> Settlement {
    // An error event, or an end without `[DONE]`, is a failure even on a 200
    // stream: with nothing delivered (and no usage) nothing is charged.
    let ending = if ending == Ending::Completed && !stream_complete(ending, tally) {
        Ending::UpstreamFailed
    } else {
        ending
    };
    settle_chat(
        ending,
        tally.usage,
        input_estimate,
        tally.delivered_any(),
        tally.delivered_tokens(),
    )
}

/// Settlement for a non-streamed chat call: `status` and the whole body
/// the upstream sent (read to its end even when the client has left: the
/// answer is already generated and paid for).
pub fn settle_chat_json(status: u16, body: &[u8], input_estimate: u64) -> Settlement {
    if !(200..300).contains(&status) {
        return Settlement::Release;
    }
    let v = json_of(body);
    if v.get("error").is_some_and(|e| !e.is_null()) && v.get("choices").is_none() {
        return Settlement::Release;
    }
    let mut text = String::new();
    for c in v
        .get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(m) = c.get("message") {
            collect_text(m, &mut text);
        }
    }
    if v.is_null() {
        text = String::from_utf8_lossy(body).into_owned();
    }
    settle_chat(
        Ending::Completed,
        UpstreamUsage::of_response(&v),
        input_estimate,
        !text.is_empty(),
        estimate_text_tokens(&text),
    )
}

/// Settlement for an images call: a 2xx answer commits the images it
/// returned (`data`'s length, else the `n` asked for) and `usage.cost`
/// when given (else the model's `image_usd` × images); anything else releases.
pub fn settle_image(status: u16, body: &[u8], requested: u64) -> Settlement {
    if !(200..300).contains(&status) {
        return Settlement::Release;
    }
    let v = json_of(body);
    let images = v
        .get("data")
        .and_then(Value::as_array)
        .map_or(requested, |d| d.len() as u64);
    if images == 0 {
        return Settlement::Release;
    }
    Settlement::Commit(Usage {
        input_tokens: 0,
        output_tokens: 0,
        cost_micros: UpstreamUsage::of_response(&v).and_then(|u| u.cost_micros),
        images: Some(images),
        model: None,
        files: None,
    })
}

/// The model a whole chat answer names (`None`: not JSON, or no `model`).
pub fn answer_model_of(body: &[u8]) -> Option<String> {
    answer_model(&json_of(body)).map(str::to_string)
}

/// An upstream body as JSON, `Null` when it is not. Read as text first
/// (JSON is UTF-8): `from_slice` would link a second copy of serde_json's
/// parser, over bytes, into the Worker (BENCHMARKS.md, "Browser package").
fn json_of(body: &[u8]) -> Value {
    std::str::from_utf8(body)
        .ok()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

// ------------------------------------------------------ settling and extending

/// The pauses between attempts to settle a hold whose commit or release did
/// not land (ms): about 24 s in all, inside the 30 s workerd gives a
/// `wait_until` task after its client has gone. Past them, the hold's
/// expiry policy ("charge" for gateway holds) is the backstop.
pub const SETTLE_RETRY_DELAYS_MS: &[u64] = &[100, 250, 500, 1_000, 2_000, 4_000, 8_000, 8_000];

/// Whether a settle attempt that answered `status` (`None`: the call itself
/// failed) is tried again: a failed call, a 5xx or a 429 may land later; any
/// other answer is final (200; 404 / 409 / 403 will not change).
pub fn settle_retryable(status: Option<u16>) -> bool {
    match status {
        None => true,
        Some(s) => s == 429 || s >= 500,
    }
}

/// How often a call that is still running extends its hold (ms): a third of
/// `hold_ttl_s`, so two extensions may fail before the hold would expire;
/// at least every second.
pub fn extend_every_ms(hold_ttl_s: u64) -> u64 {
    (hold_ttl_s.saturating_mul(1000) / 3).max(1000)
}

/// The SSE event that tells a streaming client its answer broke, in
/// OpenAI's streaming error shape (`data: {"error": {...}}`): the SDKs
/// raise it instead of taking the text so far as the whole answer.
pub fn stream_error_event(message: &str) -> Vec<u8> {
    let e = error_json(message, "server_error", "upstream_stream_broken", None);
    format!("data: {e}\n\n").into_bytes()
}

// -------------------------------------------------------------------- errors

/// OpenAI's error `type` for a status (and the decision's code).
pub fn error_type(status: u16, code: &str, retry_after_s: Option<u64>) -> &'static str {
    match status {
        429 if retry_after_s.is_some() || code == Code::ConcurrencyExceeded.as_str() => {
            "rate_limit_exceeded"
        }
        // Waiting does not help: a quota (subscription, lifetime) is used up.
        429 => "insufficient_quota",
        401 => "authentication_error",
        403 => "permission_denied",
        404 => "not_found_error",
        s if s >= 500 => "server_error",
        _ => "invalid_request_error",
    }
}

/// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.
pub fn error_json(message: &str, ty: &str, code: &str, param: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": ty, "param": param, "code": code}})
}

/// A denial in OpenAI's error format: the decision's localized message and
/// code; the type follows the status.
pub fn error_body(d: &Decision) -> Value {
    let code = d.code.as_str();
    let mut v = error_json(
        &d.message,
        error_type(d.status, code, d.retry_after_s),
        code,
        None,
    );
    if let Some(e) = v.get_mut("error").and_then(Value::as_object_mut) {
        e.insert("retry_after_s".into(), json!(d.retry_after_s));
    }
    v
}

/// A malformed request, listing every problem (`param` = the first path).
pub fn bad_request_body(p: &Problems) -> Value {
    let param =
        p.0.first()
            .map(|x| x.path.as_str())
            .filter(|s| !s.is_empty());
    error_json(
        &p.to_string(),
        "invalid_request_error",
        Code::BadRequest.as_str(),
        param,
    )
}

// -------------------------------------------------------------------- models

/// `GET /v1/models`: the config's models the subscription's plan allows,
/// in OpenAI's list shape. Nothing when the subscription cannot be used now
/// (missing, inactive, not started, expired, or its plan is inactive or gone).
/// `owned_by` is the id's provider prefix (`openai/gpt-4o` → `openai`);
/// `created` is 0: the config keeps no dates for models.
pub fn models_list(config: &Config, sub: Option<&Subscription>, now_s: i64) -> Value {
    let plan = sub
        .filter(|s| s.active && s.starts_at <= now_s && s.ends_at.is_none_or(|e| e > now_s))
        .and_then(|s| config.plan(&s.plan))
        .filter(|p| p.active);
    let data: Vec<Value> = plan
        .map(|p| {
            config
                .models
                .iter()
                .filter(|m| p.allows_model(&m.id))
                .map(|m| {
                    json!({
                        "id": m.id,
                        "object": "model",
                        "created": 0,
                        "owned_by": m.id.split_once('/').map_or("tollgate", |(o, _)| o),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({"object": "list", "data": data})
}

/// The upstream URL of an endpoint (`"chat/completions"`,
/// `"images/generations"`) from `UPSTREAM_URL`, which may be the API base
/// (`https://openrouter.ai/api/v1`) or, as in older setups, the full
/// chat-completions URL.
pub fn upstream_url(base: &str, endpoint: &str) -> String {
    let b = base.trim().trim_end_matches('/');
    let b = b.strip_suffix("/chat/completions").unwrap_or(b);
    format!("{b}/{endpoint}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::Violation;

    /// Token counts measured with cl100k_base, o200k_base (gpt-tokenizer
    /// 3.4.0) and Llama 3 (llama3-tokenizer-js 1.2.0), no special tokens.
    const MEASURED: &[(&str, &str, [u64; 3])] = &[
        ("en_prose", "The quick brown fox jumps over the lazy dog. In the beginning of the twentieth century, the city grew rapidly as railways connected it to the ports of the south, and merchants from every province opened shops along the main avenue. Please summarise the following report and list three risks that the team should address before the next quarter.", [65, 66, 65]),
        ("en_chat", "Hey! Can you help me write an email to my landlord? The heating hasn't worked since Monday and it's freezing. I'd like it fixed by Friday, please. Thanks!!", [37, 34, 37]),
        ("en_md", "# Plan\n\n- **Step 1:** install the tools (`make tools`)\n- **Step 2:** run `make test`\n\n| metric | window | max |\n|---|---|---|\n| tokens | 1h | 20000 |\n| messages | day | 50 |\n", [60, 60, 60]),
        ("en_code", "fn main() {\n    let xs: Vec<u64> = (0..10).map(|i| i * i).collect();\n    for (i, x) in xs.iter().enumerate() {\n        println!(\"{i}: {x}\");\n    }\n}\n", [53, 54, 53]),
        ("py_code", "def fib(n: int) -> int:\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n\nif __name__ == '__main__':\n    print([fib(i) for i in range(20)])\n", [63, 63, 63]),
        ("en_json", "{\"user\":{\"id\":12345,\"name\":\"alice\",\"tags\":[\"a\",\"b\",\"c\"],\"active\":true,\"score\":3.14159}}", [31, 32, 31]),
        ("numbers", "12, 345, 6789, 1024.5, 3.14159265, 2026-11-23T19:21:00Z, +98 912 345 6789, 0.000123", [52, 52, 52]),
        ("uuid_hex", "550e8400-e29b-41d4-a716-446655440000 d41d8cd98f00b204e9800998ecf8427e 2a34ef0abd9fea", [46, 46, 46]),
        ("url", "https://example.com/api/v1/users?id=42&sort=desc#section-3 and http://127.0.0.1:8787/v1/chat/completions", [38, 38, 38]),
        ("random_b64", "aGVsbG8gd29ybGQgdGhpcyBpcyBhIHRlc3Qgb2YgYmFzZTY0IGVuY29kZWQgZGF0YQ==Zm9vYmFyYmF6cXV4", [66, 56, 66]),
        ("jwt", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJleHAiOjE3OTk5OTk5OTl9.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", [85, 85, 85]),
        ("fa_prose", "سلام، لطفاً این متن را به زبان ساده خلاصه کن. در آغاز قرن بیستم، شهر به سرعت رشد کرد و راه‌آهن آن را به بندرهای جنوب پیوند داد. بازرگانان از همه‌ی استان‌ها در کنار خیابان اصلی مغازه باز کردند و زندگی مردم دگرگون شد. می‌خواهم سه خطر مهم را که تیم باید پیش از فصل بعد به آن‌ها رسیدگی کند فهرست کنی.", [215, 95, 93]),
        ("fa_chat", "سلام! می‌تونی یه ایمیل برای صاحبخونه‌م بنویسی؟ شوفاژ از دوشنبه کار نمی‌کنه و خیلی سرده. لطفاً بگو تا جمعه درستش کنه. مرسی!!", [99, 50, 53]),
        ("fa_poem", "بنی آدم اعضای یکدیگرند که در آفرینش ز یک گوهرند\nچو عضوی به درد آورد روزگار دگر عضوها را نماند قرار", [78, 39, 39]),
        ("fa_seed", "شما به حد مجاز توکن‌های ساعتی (۲۰٬۰۰۰ عدد) رسیده‌اید. بودجه‌ی باقی‌مانده‌ی توکن شما برای این مدل کافی نیست (۱۲۰۰ عدد). دسترسی به این مدل دیگر برای اشتراک شما فعال نیست.", [130, 59, 61]),
        ("fa_quote", "«آیا این کار درست است؟» او پرسید؛ و من گفتم: «بله، ولی با احتیاط.»", [48, 29, 28]),
        ("fa_digits", "۱۲۳۴۵۶۷۸۹۰ ۰۹۱۲۳۴۵۶۷۸۹ ۱۴۰۳/۰۹/۰۲ ۲۰٬۰۰۰ ۳٫۱۴", [84, 40, 38]),
        ("fa_en_mix", "لطفاً تابع parse_request را در فایل src/openai.rs بازنویسی کن تا max_tokens را بخواند و اگر نبود مقدار پیش‌فرض 4096 را بگذارد.", [70, 40, 43]),
        ("ar", "مرحبا، كيف حالك اليوم؟ أريد أن أتعلم البرمجة بلغة رست.", [41, 22, 23]),
        ("ru", "Привет! Помоги мне, пожалуйста, написать письмо арендодателю.", [35, 16, 23]),
        ("emoji", "😀🎉🚀❤️👍🏽🇮🇷 ok 🙏✨🔥", [32, 18, 31]),
        ("cjk", "今天天气很好，我们去公园散步吧。人工智能正在改变世界。", [32, 18, 20]),
        ("spaces", "a    b\n\n\n\n    c\t\t\td      e", [10, 10, 10]),
    ];

    #[test]
    fn estimate_bounds_real_tokenizers() {
        for (name, text, counts) in MEASURED {
            let est = estimate_text_tokens(text);
            let worst = *counts.iter().max().unwrap();
            let best = *counts.iter().min().unwrap();
            // Never below 95 % of the least efficient tokenizer (only random
            // base64 is below 100 %), never below the most efficient one.
            assert!(
                est * 100 >= worst * 95 && est >= best,
                "{name}: estimate {est} vs real {counts:?}"
            );
            if *name != "random_b64" {
                assert!(est >= worst, "{name}: estimate {est} < {worst}");
            }
            // Never more than 2× the least efficient, 3.5× the most efficient.
            assert!(est <= worst * 2, "{name}: estimate {est} vs {counts:?}");
            assert!(est * 2 <= best * 7, "{name}: estimate {est} vs {counts:?}");
        }
    }

    #[test]
    fn estimate_basics() {
        assert_eq!(estimate_text_tokens(""), 0);
        assert_eq!(estimate_text_tokens("hello"), 3); // ⌈5/4⌉ = 2 → ×1.1 → 3
        assert!(estimate_text_tokens("سلام") >= 2);
        // Monotone enough: more text never costs less.
        let a = estimate_text_tokens("سلام دنیا");
        let b = estimate_text_tokens("سلام دنیا سلام دنیا");
        assert!(b > a);
    }

    fn req(v: Value) -> ChatRequest {
        ChatRequest::parse(&v, &GatewayConfig::default()).unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    #[test]
    fn chat_request_to_message_action() {
        let r = req(json!({
            "model": "openai/gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You are helpful."},
                {"role": "user", "content": "سلام"}
            ],
            "max_completion_tokens": 200,
        }));
        assert_eq!(r.model, "openai/gpt-4o-mini");
        assert!(!r.stream && r.max_tokens_given);
        assert_eq!(r.max_output_tokens(), 200);
        let expect = REPLY_PRIMING_TOKENS
            + 2 * MESSAGE_OVERHEAD_TOKENS
            + estimate_text_tokens("You are helpful.")
            + estimate_text_tokens("سلام");
        assert_eq!(r.input_tokens, expect);
        match r.action() {
            Action::Message {
                model,
                input_tokens,
                max_output_tokens,
                kind,
                chat_id,
            } => {
                assert_eq!(model, "openai/gpt-4o-mini");
                assert_eq!(input_tokens, expect);
                assert_eq!(max_output_tokens, 200);
                assert_eq!(kind, MessageKind::Send);
                assert_eq!(chat_id, None);
            }
            a => panic!("{a:?}"),
        }
        // The action is a valid core action.
        let v = json!({"type": "message", "model": "m", "input_tokens": r.input_tokens, "max_output_tokens": 200});
        Action::from_value(&v).unwrap();
    }

    #[test]
    fn max_tokens_rules() {
        let base = || json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let r = req(base());
        assert!(!r.max_tokens_given);
        assert_eq!(r.max_output_tokens(), DEFAULT_MAX_OUTPUT_TOKENS);
        let mut b = base();
        b["max_tokens"] = json!(100);
        assert_eq!(req(b.clone()).max_output_tokens(), 100);
        b["max_completion_tokens"] = json!(300);
        assert_eq!(
            req(b.clone()).max_output_tokens(),
            300,
            "the larger of both"
        );
        b["n"] = json!(3);
        assert_eq!(req(b).max_output_tokens(), 900, "per choice × n");
    }

    #[test]
    fn upstream_body_adds_usage_and_max_tokens() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true, "temperature": 0.2});
        let r = req(body.clone());
        assert!(r.stream && !r.client_wants_usage);
        let gw = GatewayConfig::default();
        let up = r.upstream_body(&body, &gw);
        assert_eq!(up["stream_options"]["include_usage"], json!(true));
        assert_eq!(up["max_tokens"], json!(DEFAULT_MAX_OUTPUT_TOKENS));
        assert_eq!(up["temperature"], json!(0.2));

        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true,
            "stream_options": {"include_usage": true}, "max_completion_tokens": 5});
        let r = req(body.clone());
        assert!(r.client_wants_usage);
        let up = r.upstream_body(&body, &gw);
        assert!(
            up.get("max_tokens").is_none(),
            "the client's maximum is kept as is"
        );
        assert_eq!(up, body);

        // Non-streaming: no stream_options added.
        let body =
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 9});
        assert_eq!(req(body.clone()).upstream_body(&body, &gw), body);
    }

    #[test]
    fn content_parts_tools_and_images() {
        // A 2048 × 2048 PNG in 100 kB of base64: its pixels count, not its base64.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend(2048u32.to_be_bytes());
        png.extend(2048u32.to_be_bytes());
        png.extend(vec![0u8; 75_000]);
        let big_image = format!(
            "data:image/png;base64,{}",
            crate::action::base64_encode(&png)
        );
        let body = |model: &str, url: &str| {
            json!({"model": model, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": url, "detail": "high"}}
            ]}]})
        };
        let text =
            REPLY_PRIMING_TOKENS + MESSAGE_OVERHEAD_TOKENS + estimate_text_tokens("what is this?");
        let r = req(body("m", &big_image));
        assert_eq!(
            r.input_tokens,
            text + media::image_tokens("m", Some((2048, 2048)))
        );
        assert!(r.input_tokens < 5_000, "base64 is not read as text");
        // gpt-4o-mini counts images ×33: so does its hold.
        let r = req(body("openai/gpt-4o-mini", &big_image));
        assert_eq!(r.input_tokens, text + 2833 + 4 * 5667);
        // A remote image: the largest within 2048 × 2048.
        let r = req(body("m", "https://example.com/cat.png"));
        assert_eq!(r.input_tokens, text + media::IMAGE_UNKNOWN_TOKENS);
        // A tiny PNG header claiming a huge image is held for the huge image.
        let mut claim = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        claim.extend(7680u32.to_be_bytes());
        claim.extend(7680u32.to_be_bytes());
        let url = format!(
            "data:image/png;base64,{}",
            crate::action::base64_encode(&claim)
        );
        assert_eq!(req(body("m", &url)).input_tokens, text + 258 * 100);

        // Audio: by duration; a file: by size and pages.
        let audio = crate::action::base64_encode(&vec![0u8; 75_000]);
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": audio, "format": "mp3"}}]}]}),
        );
        assert_eq!(
            r.input_tokens,
            REPLY_PRIMING_TOKENS + MESSAGE_OVERHEAD_TOKENS + 75_000 * 50 / 750
        );
        let pdf = format!(
            "data:application/pdf;base64,{}",
            crate::action::base64_encode(b"%PDF-1.4 /Type /Pages /Count 12")
        );
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "file", "file": {"filename": "a.pdf", "file_data": pdf}}]}]}),
        );
        assert_eq!(
            r.input_tokens,
            REPLY_PRIMING_TOKENS
                + MESSAGE_OVERHEAD_TOKENS
                + 12 * media::FILE_PAGE_TOKENS
                + estimate_text_tokens("a.pdf")
        );

        let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
        let with = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": tools.clone()}),
        );
        let without = req(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        assert_eq!(
            with.input_tokens,
            without.input_tokens + estimate_text_tokens(&tools.to_string())
        );
    }

    #[test]
    fn only_known_fields_pass() {
        let gw = GatewayConfig::default();
        let base = || json!({"model": "m:free", "messages": [{"role": "user", "content": "hi"}]});
        for f in REFUSED_FIELDS.iter().chain(&["frobnicate"]) {
            let mut b = base();
            b[*f] = json!(["openai/gpt-4o"]);
            let e = ChatRequest::parse(&b, &gw).unwrap_err();
            assert_eq!(e.0[0].path, *f);
            assert_eq!(bad_request_body(&e)["error"]["param"], json!(f));
        }
        // Every known field passes, and reaches the upstream.
        let mut b = base();
        for f in CHAT_FIELDS {
            if b.get(*f).is_none() {
                b[*f] = json!(null);
            }
        }
        let r = ChatRequest::parse(&b, &gw).unwrap();
        assert_eq!(
            r.upstream_body(&b, &gw).as_object().unwrap().len(),
            CHAT_FIELDS.len()
        );
        // allow_fields opts a field in, and only that one.
        let gw = GatewayConfig {
            allow_fields: vec!["provider".into()],
            ..GatewayConfig::default()
        };
        let mut b = base();
        b["provider"] = json!({"order": ["x"]});
        let r = ChatRequest::parse(&b, &gw).unwrap();
        assert_eq!(
            r.upstream_body(&b, &gw)["provider"],
            json!({"order": ["x"]})
        );
        b["models"] = json!(["x"]);
        assert_eq!(ChatRequest::parse(&b, &gw).unwrap_err().0[0].path, "models");
        // What is sent is built from the allowed fields, whatever the body.
        let mut sneaky = base();
        sneaky["route"] = json!("fallback");
        let r = ChatRequest::parse(&base(), &gw).unwrap();
        assert!(r.upstream_body(&sneaky, &gw).get("route").is_none());
    }

    /// Any JSON a client sends is parsed or refused, never a panic.
    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            "[a-z_:/\\-]{0,12}".prop_map(Value::String),
            Just(json!(
                "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAB9AAAAfQ"
            )),
            Just(json!(
                "data:application/pdf;base64,JVBERi0xLjQgL0NvdW50IDk5OTk5"
            )),
            Just(json!("image_url")),
            Just(json!("input_audio")),
            Just(json!("file")),
            Just(json!("text")),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let keys = prop_oneof![
                Just("model".to_string()),
                Just("messages".to_string()),
                Just("content".to_string()),
                Just("type".to_string()),
                Just("image_url".to_string()),
                Just("url".to_string()),
                Just("input_audio".to_string()),
                Just("data".to_string()),
                Just("file".to_string()),
                Just("file_data".to_string()),
                Just("tools".to_string()),
                Just("n".to_string()),
                Just("max_tokens".to_string()),
                Just("stream".to_string()),
                Just("prompt".to_string()),
                "[a-z]{1,6}",
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(keys, inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn any_request_parses_or_is_refused(v in arb_json()) {
            let gw = GatewayConfig {
                default_image_model: Some("img".into()),
                allow_fields: vec!["data".into()],
                ..GatewayConfig::default()
            };
            if let Ok(r) = ChatRequest::parse(&v, &gw) {
                let _ = r.upstream_body(&v, &gw);
                let _ = r.action();
            }
            if let Ok(r) = ImageRequest::parse(&v, &gw) {
                let _ = r.upstream_body(&v, &gw);
            }
            let _ = estimate_chat_input(&v);
            let _ = charged_model(&gw, "m", v.get("model").and_then(Value::as_str));
        }
    }

    #[test]
    fn parts_and_tools_are_checked() {
        let gw = GatewayConfig::default();
        let with = |content: Value| json!({"model": "m", "messages": [{"role": "user", "content": content}]});
        let path = |b: Value| ChatRequest::parse(&b, &gw).unwrap_err().0[0].path.clone();
        assert_eq!(
            path(with(
                json!([{"type": "video_url", "video_url": {"url": "https://x/v.mp4"}}])
            )),
            "messages[0].content[0].type"
        );
        assert_eq!(
            path(with(json!([{"text": "no type"}]))),
            "messages[0].content[0].type"
        );
        assert_eq!(
            path(with(
                json!([{"type": "text", "text": "a"}, {"type": "file", "file": {"file_id": "file-abc"}}])
            )),
            "messages[0].content[1].file.file_id"
        );
        assert_eq!(
            path(with(
                json!([{"type": "file", "file": {"file_data": "https://x/a.pdf"}}])
            )),
            "messages[0].content[0].file.file_data"
        );
        let b = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f"}}, {"type": "web_search_preview"}]});
        assert_eq!(path(b), "tools[1].type");
    }

    #[test]
    fn answers_are_charged_to_the_model_that_answered() {
        let gw = GatewayConfig {
            model_aliases: [(
                "meta-llama/llama-3.3-8b-instruct".to_string(),
                "meta-llama/llama-3.3-8b-instruct:free".to_string(),
            )]
            .into_iter()
            .collect(),
            ..GatewayConfig::default()
        };
        let free = "meta-llama/llama-3.3-8b-instruct:free";
        assert_eq!(charged_model(&gw, free, None), None);
        assert_eq!(charged_model(&gw, free, Some("")), None);
        assert_eq!(charged_model(&gw, free, Some(free)), None);
        assert_eq!(
            charged_model(&gw, free, Some("meta-llama/llama-3.3-8b-instruct")),
            None,
            "an alias"
        );
        assert_eq!(
            charged_model(&gw, free, Some("openai/gpt-4o")).as_deref(),
            Some("openai/gpt-4o")
        );
        assert_eq!(
            charged_model(&gw, "gpt-4o-mini", Some("gpt-4o-mini-2024-07-18")),
            None,
            "a dated snapshot"
        );
        assert_eq!(
            charged_model(&gw, "gpt-4o", Some("gpt-4o-mini-2024-07-18")).as_deref(),
            Some("gpt-4o-mini-2024-07-18")
        );
        assert_eq!(
            charged_model(&gw, "gpt-4o", Some("gpt-4o-2024-7-18")).as_deref(),
            Some("gpt-4o-2024-7-18")
        );
        assert_eq!(
            answer_model_of(br#"{"model":"x/y","choices":[]}"#).as_deref(),
            Some("x/y")
        );
        assert_eq!(answer_model_of(b"nope"), None);
        // Streams: the first model a chunk names.
        let mut t = StreamTally::default();
        for e in SseScanner::new().push(
            STREAM
                .replace("\"id\":\"c\"", "\"id\":\"c\",\"model\":\"other/m\"")
                .as_bytes(),
        ) {
            t.observe(&e);
        }
        assert_eq!(t.model.as_deref(), Some("other/m"));
    }

    #[test]
    fn settling_and_extending_policy() {
        assert!(settle_retryable(None));
        assert!(
            settle_retryable(Some(500))
                && settle_retryable(Some(503))
                && settle_retryable(Some(429))
        );
        for s in [200, 400, 403, 404, 409] {
            assert!(!settle_retryable(Some(s)), "{s}");
        }
        let total: u64 = SETTLE_RETRY_DELAYS_MS.iter().sum();
        assert!(total < 30_000, "within workerd's wait_until grace: {total}");
        assert_eq!(extend_every_ms(300), 100_000);
        assert_eq!(extend_every_ms(2), 1000);
        let ev = stream_error_event("the upstream broke");
        let parsed = SseScanner::new().push(&ev);
        match &parsed[0].kind {
            SseKind::Chunk(c) => {
                assert_eq!(c.error.as_ref().unwrap()["code"], "upstream_stream_broken")
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn chat_request_problems_are_all_listed() {
        let e = ChatRequest::parse(
            &json!({"model": "", "messages": [], "n": 0, "max_tokens": -1, "stream": "yes"}),
            &GatewayConfig::default(),
        )
        .unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|p| p.path.as_str()).collect();
        for p in ["model", "messages", "n", "max_tokens", "stream"] {
            assert!(paths.contains(&p), "{p} missing from {paths:?}");
        }
        let gw = GatewayConfig::default();
        assert!(ChatRequest::parse(&json!([]), &gw).is_err());
        let e = ChatRequest::parse(
            &json!({"messages": [{"role": "user", "content": "x"}]}),
            &gw,
        )
        .unwrap_err();
        assert_eq!(e.0[0].path, "model");
        let body = bad_request_body(&e);
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "bad_request");
        assert_eq!(body["error"]["param"], "model");
    }

    #[test]
    fn image_request() {
        let gw = GatewayConfig::default();
        let r = ImageRequest::parse(
            &json!({"model": "openai/gpt-image-1", "prompt": "a cat", "n": 3}),
            &gw,
        )
        .unwrap();
        assert_eq!(
            r.action(),
            Action::Image {
                model: Some("openai/gpt-image-1".into()),
                count: 3
            }
        );
        // No model and no default: refused, naming `model`.
        let e = ImageRequest::parse(&json!({"prompt": "a cat"}), &gw).unwrap_err();
        assert_eq!(e.0[0].path, "model");
        let e = ImageRequest::parse(&json!({"prompt": "a cat", "model": null}), &gw).unwrap_err();
        assert_eq!(e.0[0].path, "model");
        // With a default: that model, and the upstream is told so.
        let gw = GatewayConfig {
            default_image_model: Some("openai/gpt-image-1".into()),
            ..GatewayConfig::default()
        };
        let body = json!({"prompt": "a cat", "size": "1024x1024"});
        let r = ImageRequest::parse(&body, &gw).unwrap();
        assert_eq!(r.model, "openai/gpt-image-1");
        assert_eq!(
            r.upstream_body(&body, &gw),
            json!({"model": "openai/gpt-image-1", "prompt": "a cat", "size": "1024x1024"})
        );
        assert!(ImageRequest::parse(&json!({"prompt": "a cat", "model": ""}), &gw).is_err());
        assert!(ImageRequest::parse(&json!({"prompt": "a cat", "n": 0}), &gw).is_err());
        assert!(ImageRequest::parse(&json!({"n": 1}), &gw).is_err());
        // Streams of partial images and unknown fields are refused.
        for f in ["stream", "partial_images", "plugins", "frobnicate"] {
            let mut b = body.clone();
            b[f] = json!(true);
            assert_eq!(ImageRequest::parse(&b, &gw).unwrap_err().0[0].path, f);
        }
    }

    #[test]
    fn usage_from_json_response() {
        let body = json!({"id": "x", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46, "cost": 0.000123}});
        let u = UpstreamUsage::of_response(&body).unwrap();
        assert_eq!(
            u,
            UpstreamUsage {
                prompt_tokens: 12,
                completion_tokens: 34,
                cost_micros: Some(123)
            }
        );
        assert_eq!(
            u.to_usage(),
            Usage {
                input_tokens: 12,
                output_tokens: 34,
                cost_micros: Some(123),
                images: None,
                files: None,
                model: None
            }
        );
        let u =
            UpstreamUsage::of_response(&json!({"usage": {"input_tokens": 5, "output_tokens": 7}}))
                .unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.cost_micros),
            (5, 7, None)
        );
        assert!(UpstreamUsage::of_response(&json!({"usage": null})).is_none());
        assert!(UpstreamUsage::of_response(&json!({"usage": {}})).is_none());
        assert_eq!(
            UpstreamUsage::of_response(&json!({"usage": {"prompt_tokens": 1, "cost": -1}}))
                .unwrap()
                .cost_micros,
            None
        );
    }

    const STREAM: &str = concat!(
        ": OPENROUTER PROCESSING\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"},\"finish_reason\":\"stop\"}],\"usage\":null}\r\n\r\n",
        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11,\"cost\":0.5}}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn sse_events_split_at_any_byte_boundary() {
        let whole = SseScanner::new().push(STREAM.as_bytes());
        assert_eq!(whole.len(), 6);
        // Byte by byte gives the same events, with the same bytes.
        let mut s = SseScanner::new();
        let mut one: Vec<SseEvent> = Vec::new();
        for b in STREAM.as_bytes() {
            one.extend(s.push(std::slice::from_ref(b)));
        }
        assert_eq!(one, whole);
        assert!(s.finish().is_none());
        let joined: Vec<u8> = whole.iter().flat_map(|e| e.raw.clone()).collect();
        assert_eq!(joined, STREAM.as_bytes(), "raw bytes are kept exactly");

        assert_eq!(whole[0].kind, SseKind::Other);
        assert_eq!(whole[5].kind, SseKind::Done);
        match &whole[4].kind {
            SseKind::Chunk(c) => {
                assert!(c.usage_only);
                assert_eq!(c.usage.unwrap().cost_micros, Some(500_000));
            }
            k => panic!("{k:?}"),
        }
        match &whole[3].kind {
            SseKind::Chunk(c) => {
                assert!(!c.usage_only && c.usage.is_none());
                assert_eq!(c.text, " world");
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn usage_chunk_is_stripped_only_when_not_asked_for() {
        let evs = SseScanner::new().push(STREAM.as_bytes());
        let kept = |wants: bool| -> String {
            evs.iter()
                .filter(|e| e.forward(wants))
                .map(|e| String::from_utf8(e.raw.clone()).unwrap())
                .collect()
        };
        assert_eq!(kept(true), STREAM);
        let stripped = kept(false);
        assert!(!stripped.contains("prompt_tokens"));
        assert!(stripped.ends_with("data: [DONE]\n\n"));
        // A chunk with content and usage together is never stripped.
        let both = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\n";
        let e = SseScanner::new().push(both.as_bytes());
        assert!(e[0].forward(false));
    }

    #[test]
    fn tally_and_stream_settlement() {
        let mut t = StreamTally::default();
        for e in SseScanner::new().push(STREAM.as_bytes()) {
            t.observe(&e);
        }
        assert!(t.done && t.delivered_any());
        assert_eq!(t.text_chunks, 2);
        assert_eq!(
            settle_stream(Ending::Completed, &t, 999),
            Settlement::Commit(Usage {
                input_tokens: 9,
                output_tokens: 2,
                cost_micros: Some(500_000),
                images: None,
                files: None,
                model: None
            })
        );

        // Cut after "Hello": the client left; no usage → estimate.
        let cut = STREAM
            .find("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world")
            .unwrap();
        let mut t = StreamTally::default();
        for e in SseScanner::new().push(&STREAM.as_bytes()[..cut]) {
            t.observe(&e);
        }
        assert!(t.usage.is_none() && t.delivered_any());
        let out = t.delivered_tokens();
        assert!(out >= 1);
        assert_eq!(
            settle_stream(Ending::ClientGone, &t, 40),
            Settlement::Commit(Usage {
                input_tokens: 40,
                output_tokens: out,
                ..Usage::default()
            })
        );
        // The upstream broke after output: the same.
        assert_eq!(
            settle_stream(Ending::UpstreamFailed, &t, 40),
            settle_stream(Ending::ClientGone, &t, 40)
        );

        // Nothing delivered: upstream failure releases, a departed client pays the input.
        let empty = StreamTally::default();
        assert_eq!(
            settle_stream(Ending::UpstreamFailed, &empty, 40),
            Settlement::Release
        );
        assert_eq!(
            settle_stream(Ending::ClientGone, &empty, 40),
            Settlement::Commit(Usage {
                input_tokens: 40,
                output_tokens: 0,
                ..Usage::default()
            })
        );
        // An error event on a 200 stream before any output releases.
        let mut t = StreamTally::default();
        for e in SseScanner::new()
            .push(b"data: {\"error\":{\"message\":\"boom\",\"code\":502}}\n\ndata: [DONE]\n\n")
        {
            t.observe(&e);
        }
        assert!(t.error.is_some());
        assert_eq!(
            settle_stream(Ending::Completed, &t, 40),
            Settlement::Release
        );
    }

    #[test]
    fn sse_scanner_finish_and_oddities() {
        let mut s = SseScanner::new();
        assert!(s
            .push(b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}")
            .is_empty());
        assert!(s.pending() > 0);
        let last = s.finish().unwrap();
        assert!(matches!(last.kind, SseKind::Chunk(ref c) if c.text == "a"));
        // Multi-line data, event/id fields, non-JSON data.
        let evs = SseScanner::new()
            .push(b"event: x\nid: 1\ndata: {\"choices\":\ndata: []}\n\ndata: hello\n\n\n");
        assert_eq!(evs.len(), 3);
        assert!(matches!(evs[0].kind, SseKind::Chunk(_)));
        assert_eq!(evs[1].kind, SseKind::Other);
        assert_eq!(evs[2].kind, SseKind::Other);
    }

    #[test]
    fn json_settlement() {
        let ok = br#"{"choices":[{"message":{"role":"assistant","content":"Hi there"}}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
        assert_eq!(
            settle_chat_json(200, ok, 50),
            Settlement::Commit(Usage {
                input_tokens: 3,
                output_tokens: 4,
                ..Usage::default()
            })
        );
        let no_usage = br#"{"choices":[{"message":{"role":"assistant","content":"Hi there"}}]}"#;
        assert_eq!(
            settle_chat_json(200, no_usage, 50),
            Settlement::Commit(Usage {
                input_tokens: 50,
                output_tokens: estimate_text_tokens("Hi there"),
                ..Usage::default()
            })
        );
        assert_eq!(settle_chat_json(500, ok, 50), Settlement::Release);
        assert_eq!(
            settle_chat_json(200, br#"{"error":{"message":"x"}}"#, 50),
            Settlement::Release
        );
    }

    #[test]
    fn image_settlement() {
        let body = br#"{"created":1,"data":[{"b64_json":"AA=="},{"b64_json":"AA=="}],"usage":{"input_tokens":10,"output_tokens":20,"cost":0.08}}"#;
        assert_eq!(
            settle_image(200, body, 3),
            Settlement::Commit(Usage {
                images: Some(2),
                cost_micros: Some(80_000),
                ..Usage::default()
            })
        );
        assert_eq!(
            settle_image(200, b"not json", 3),
            Settlement::Commit(Usage {
                images: Some(3),
                ..Usage::default()
            })
        );
        assert_eq!(settle_image(200, br#"{"data":[]}"#, 3), Settlement::Release);
        assert_eq!(settle_image(502, body, 3), Settlement::Release);
    }

    fn decision(status: u16, code: Code, retry: Option<u64>, message: &str) -> Decision {
        Decision {
            allowed: false,
            status,
            code,
            message: message.into(),
            retry_after_s: retry,
            violations: Vec::<Violation>::new(),
            limits: vec![],
            hold: None,
            ..Decision::default()
        }
    }

    #[test]
    fn error_bodies() {
        let msg = "شما به حد مجاز توکن‌های ساعتی (۲۰٬۰۰۰ عدد) رسیده‌اید";
        let b = error_body(&decision(429, Code::WindowExceeded, Some(1260), msg));
        assert_eq!(b["error"]["message"], msg);
        assert_eq!(b["error"]["type"], "rate_limit_exceeded");
        assert_eq!(b["error"]["code"], "window_exceeded");
        assert_eq!(b["error"]["param"], Value::Null);
        assert_eq!(b["error"]["retry_after_s"], 1260);
        let b = error_body(&decision(429, Code::WindowExceeded, None, "x"));
        assert_eq!(b["error"]["type"], "insufficient_quota");
        let b = error_body(&decision(429, Code::ConcurrencyExceeded, None, "x"));
        assert_eq!(b["error"]["type"], "rate_limit_exceeded");
        let b = error_body(&decision(403, Code::ModelNotAllowed, None, "x"));
        assert_eq!(b["error"]["type"], "permission_denied");
        assert_eq!(b["error"]["code"], "model_not_allowed");
        assert_eq!(
            error_type(401, "unauthorized", None),
            "authentication_error"
        );
        assert_eq!(error_type(502, "upstream_error", None), "server_error");
        assert_eq!(
            error_type(413, "file_too_large", None),
            "invalid_request_error"
        );
    }

    fn config() -> Config {
        Config::from_value(&json!({
            "version": 1,
            "models": [
                {"id": "openai/gpt-4o-mini", "free": false, "input_usd_per_mtok": 0.15, "output_usd_per_mtok": 0.6},
                {"id": "openai/gpt-4o", "free": false},
                {"id": "meta-llama/llama-3.3-8b-instruct:free", "free": true},
                {"id": "local-model", "free": true}
            ],
            "plans": [
                {"id": "basic", "active": true, "tier": 1, "models": ["*:free", "openai/gpt-4o-mini", "anthropic/*"], "limits": []},
                {"id": "old", "active": false, "tier": 0, "models": ["*"], "limits": []}
            ]
        }))
        .unwrap()
    }

    fn sub(plan: &str) -> Subscription {
        Subscription {
            id: "s1".into(),
            plan: plan.into(),
            active: true,
            starts_at: 0,
            ends_at: Some(2_000),
        }
    }

    #[test]
    fn models_list_follows_the_plan() {
        let c = config();
        let v = models_list(&c, Some(&sub("basic")), 1_000);
        assert_eq!(v["object"], "list");
        let ids: Vec<&str> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        // Plan globs ∩ config models: anthropic/* matches no configured model.
        assert_eq!(
            ids,
            [
                "openai/gpt-4o-mini",
                "meta-llama/llama-3.3-8b-instruct:free"
            ]
        );
        assert_eq!(
            v["data"][0],
            json!({"id": "openai/gpt-4o-mini", "object": "model", "created": 0, "owned_by": "openai"})
        );
        for (s, now) in [
            (Some(sub("old")), 1_000),
            (Some(sub("basic")), 2_000),
            (Some(sub("gone")), 1_000),
            (None, 1_000),
        ] {
            assert_eq!(
                models_list(&c, s.as_ref(), now)["data"],
                json!([]),
                "{s:?} at {now}"
            );
        }
        let mut inactive = sub("basic");
        inactive.active = false;
        assert_eq!(models_list(&c, Some(&inactive), 1_000)["data"], json!([]));
    }

    #[test]
    fn upstream_urls() {
        for base in [
            "https://openrouter.ai/api/v1",
            "https://openrouter.ai/api/v1/",
            "https://openrouter.ai/api/v1/chat/completions",
        ] {
            assert_eq!(
                upstream_url(base, "chat/completions"),
                "https://openrouter.ai/api/v1/chat/completions"
            );
            assert_eq!(
                upstream_url(base, "images/generations"),
                "https://openrouter.ai/api/v1/images/generations"
            );
        }
    }
}
