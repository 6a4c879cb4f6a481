//! What a user asks to do (SPEC §3), parsed strictly: a malformed action is
//! refused with every problem listed, before anything is counted.

use crate::json::{Problems, Reader};
use serde_json::{Map, Value};

/// How a message came about; all three count the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Send,
    Regenerate,
    Edit,
}

/// A file as described by the client before upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// As given, possibly hostile: checked by [`crate::files::check_name`].
    pub name: String,
    pub size: u64,
    /// The client's claimed MIME type; informative only, never trusted.
    pub mime: Option<String>,
    /// The first bytes of the file, when the client sent them.
    pub head: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Message {
        model: String,
        input_tokens: u64,
        max_output_tokens: u64,
        chat_id: Option<String>,
        kind: MessageKind,
    },
    Title {
        model: String,
        input_tokens: u64,
        max_output_tokens: u64,
    },
    Image {
        model: Option<String>,
        count: u64,
    },
    AnalyzeImage {
        model: String,
        input_tokens: u64,
        max_output_tokens: u64,
        file: Option<FileInfo>,
    },
    Upload {
        chat_id: String,
        files: Vec<FileInfo>,
    },
    Discount {
        code: String,
    },
    Upgrade {
        to_plan: String,
    },
    /// The seed's `validate_message`: the checks of a message, an image and an
    /// upload, changing nothing.
    Validate {
        model: Option<String>,
        input_tokens: u64,
        generate_image: bool,
        uploaded_files_count: Option<u64>,
        chat_id: Option<String>,
    },
}

/// The most files one upload may describe.
pub const MAX_FILES: usize = 100;
/// The most bytes of `head` read (the rest is ignored by sniffing anyway).
pub const MAX_HEAD: usize = 4096;
/// The most images one request may ask for.
pub const MAX_IMAGES: u64 = 100;

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Message { .. } => "message",
            Action::Title { .. } => "title",
            Action::Image { .. } => "image",
            Action::AnalyzeImage { .. } => "analyze_image",
            Action::Upload { .. } => "upload",
            Action::Discount { .. } => "discount",
            Action::Upgrade { .. } => "upgrade",
            Action::Validate { .. } => "validate",
        }
    }

    /// The model the action runs on, if any.
    pub fn model(&self) -> Option<&str> {
        match self {
            Action::Message { model, .. }
            | Action::Title { model, .. }
            | Action::AnalyzeImage { model, .. } => Some(model),
            Action::Image { model, .. } | Action::Validate { model, .. } => model.as_deref(),
            _ => None,
        }
    }

    /// The chat the action belongs to, if any.
    pub fn chat_id(&self) -> Option<&str> {
        match self {
            Action::Message { chat_id, .. } | Action::Validate { chat_id, .. } => {
                chat_id.as_deref()
            }
            Action::Upload { chat_id, .. } => Some(chat_id),
            _ => None,
        }
    }

    pub fn from_json(text: &str) -> Result<Action, Problems> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| Problems::one("", format!("invalid JSON: {e}")))?;
        Action::from_value(&v)
    }

    /// Parses an action; every problem is listed with its path.
    pub fn from_value(v: &Value) -> Result<Action, Problems> {
        crate::json::read_twice(|r| read_action(r, v))
    }
}

fn read_action(r: &mut Reader, v: &Value) -> Option<Action> {
    let m = r.object(v, "")?;
    let ty = r.req_str(m, "", "type")?;
    let keys: &[&str] = match ty {
        "message" => &[
            "type",
            "model",
            "input_tokens",
            "max_output_tokens",
            "chat_id",
            "kind",
        ],
        "title" => &["type", "model", "input_tokens", "max_output_tokens"],
        "image" => &["type", "model", "count"],
        "analyze_image" => &["type", "model", "input_tokens", "max_output_tokens", "file"],
        "upload" => &["type", "chat_id", "files"],
        "discount" => &["type", "code"],
        "upgrade" => &["type", "to_plan"],
        "validate" => &[
            "type",
            "model",
            "input_tokens",
            "generate_image",
            "uploaded_files_count",
            "chat_id",
        ],
        other => {
            r.err(
                "type",
                format!("unknown action type {other:?}: expected message, title, image, analyze_image, upload, discount, upgrade or validate"),
            );
            return None;
        }
    };
    r.known_keys(m, "", keys);
    let model = |r: &mut Reader| r.req_id(m, "", "model", 256).map(str::to_string);
    let opt_model = |r: &mut Reader| {
        r.opt_str(m, "", "model")
            .and_then(|s| r.check_id(s, "model", 256))
            .map(str::to_string)
    };
    let chat = |r: &mut Reader| {
        r.opt_str(m, "", "chat_id")
            .and_then(|s| r.check_id(s, "chat_id", 128))
            .map(str::to_string)
    };
    Some(match ty {
        "message" => {
            let model = model(r);
            let input_tokens = r.req_count(m, "", "input_tokens");
            let max_output_tokens = r.req_count(m, "", "max_output_tokens");
            let chat_id = chat(r);
            let kind = match r.opt_str(m, "", "kind") {
                None | Some("send") => MessageKind::Send,
                Some("regenerate") => MessageKind::Regenerate,
                Some("edit") => MessageKind::Edit,
                Some(_) => {
                    r.err("kind", "expected send, regenerate or edit");
                    MessageKind::Send
                }
            };
            Action::Message {
                model: model?,
                input_tokens: input_tokens?,
                max_output_tokens: max_output_tokens?,
                chat_id,
                kind,
            }
        }
        "title" => {
            let model = model(r);
            let input_tokens = r.req_count(m, "", "input_tokens");
            let max_output_tokens = r.req_count(m, "", "max_output_tokens");
            Action::Title {
                model: model?,
                input_tokens: input_tokens?,
                max_output_tokens: max_output_tokens?,
            }
        }
        "image" => {
            let model = opt_model(r);
            let count = match r.opt_count(m, "", "count") {
                None => 1,
                Some(c) if (1..=MAX_IMAGES).contains(&c) => c,
                Some(_) => {
                    r.err("count", format!("must be between 1 and {MAX_IMAGES}"));
                    1
                }
            };
            Action::Image { model, count }
        }
        "analyze_image" => {
            let model = model(r);
            let input_tokens = r.req_count(m, "", "input_tokens");
            let max_output_tokens = r.req_count(m, "", "max_output_tokens");
            let file = match m.get("file") {
                None | Some(Value::Null) => None,
                Some(f) => read_file(r, f, "file"),
            };
            Action::AnalyzeImage {
                model: model?,
                input_tokens: input_tokens?,
                max_output_tokens: max_output_tokens?,
                file,
            }
        }
        "upload" => {
            let chat_id = r
                .req_str(m, "", "chat_id")
                .and_then(|s| r.check_id(s, "chat_id", 128))
                .map(str::to_string);
            let mut files = Vec::new();
            if let Some(fv) = r.required(m, "", "files") {
                if let Some(arr) = r.array(fv, "files") {
                    if arr.is_empty() {
                        r.err("files", "must list at least one file");
                    } else if arr.len() > MAX_FILES {
                        r.err("files", format!("at most {MAX_FILES} files at once"));
                    } else {
                        for (i, f) in arr.iter().enumerate() {
                            if let Some(f) = read_file(r, f, &r.index("files", i)) {
                                files.push(f);
                            }
                        }
                    }
                }
            }
            Action::Upload {
                chat_id: chat_id?,
                files,
            }
        }
        "discount" => Action::Discount {
            code: r.req_id(m, "", "code", 64)?.to_string(),
        },
        "upgrade" => Action::Upgrade {
            to_plan: r.req_id(m, "", "to_plan", 128)?.to_string(),
        },
        "validate" => {
            let model = opt_model(r);
            let input_tokens = r.opt_count(m, "", "input_tokens").unwrap_or(0);
            let generate_image = r.opt_bool(m, "", "generate_image").unwrap_or(false);
            let uploaded_files_count = r.opt_count(m, "", "uploaded_files_count");
            if uploaded_files_count.is_some_and(|n| n > MAX_FILES as u64) {
                r.err(
                    "uploaded_files_count",
                    format!("at most {MAX_FILES} files at once"),
                );
            }
            Action::Validate {
                model,
                input_tokens,
                generate_image,
                uploaded_files_count,
                chat_id: chat(r),
            }
        }
        _ => unreachable!("types were matched above"),
    })
}

fn read_file(r: &mut Reader, v: &Value, path: &str) -> Option<FileInfo> {
    let m: &Map<String, Value> = r.object(v, path)?;
    r.known_keys(m, path, &["name", "size", "type", "head"]);
    // The name is data to judge, not to refuse here: a hostile name gets the
    // decision `file_name_invalid`, not a parse error. Only its length is capped.
    let name = r.req_str(m, path, "name").and_then(|s| {
        if s.len() > 1024 {
            r.err(r.join(path, "name"), "must be at most 1024 bytes");
            None
        } else {
            Some(s.to_string())
        }
    });
    let size = r.req_count(m, path, "size");
    let mime = r.opt_str(m, path, "type").map(str::to_string);
    let head = match m.get("head") {
        None | Some(Value::Null) => None,
        Some(h) => read_head(r, h, &r.join(path, "head")),
    };
    Some(FileInfo {
        name: name?,
        size: size?,
        mime,
        head,
    })
}

/// `head` is base64 over HTTP, or a list of byte values from JS.
fn read_head(r: &mut Reader, v: &Value, path: &str) -> Option<Vec<u8>> {
    let mut bytes = match v {
        Value::String(s) => match base64_decode(s) {
            Some(b) => b,
            None => {
                r.err(path, "expected base64");
                return None;
            }
        },
        Value::Array(a) => {
            let mut out = Vec::with_capacity(a.len().min(MAX_HEAD));
            for (i, b) in a.iter().enumerate() {
                match b.as_u64() {
                    Some(x) if x <= 255 => out.push(x as u8),
                    _ => {
                        r.err(r.index(path, i), "expected a byte (0–255)");
                        return None;
                    }
                }
            }
            out
        }
        _ => {
            r.err(path, "expected a base64 string or a list of bytes");
            return None;
        }
    };
    bytes.truncate(MAX_HEAD);
    Some(bytes)
}

/// Standard or URL-safe base64, padding optional, whitespace ignored.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut padding = false;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                padding = true;
                continue;
            }
            b' ' | b'\n' | b'\r' | b'\t' => continue,
            _ => return None,
        };
        if padding {
            return None;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_type() {
        for v in [
            json!({"type": "message", "model": "m", "input_tokens": 1, "max_output_tokens": 2, "chat_id": "c", "kind": "edit"}),
            json!({"type": "title", "model": "m", "input_tokens": 1, "max_output_tokens": 2}),
            json!({"type": "image"}),
            json!({"type": "analyze_image", "model": "m", "input_tokens": 1, "max_output_tokens": 2, "file": {"name": "a.png", "size": 3, "head": "iVBORw0KGgo="}}),
            json!({"type": "upload", "chat_id": "c", "files": [{"name": "a.txt", "size": 3, "type": "text/plain", "head": [104, 105]}]}),
            json!({"type": "discount", "code": "NOWRUZ"}),
            json!({"type": "upgrade", "to_plan": "premium"}),
            json!({"type": "validate", "model": "m", "generate_image": true, "uploaded_files_count": 2, "chat_id": "c"}),
        ] {
            let a = Action::from_value(&v).unwrap_or_else(|e| panic!("{v}: {e}"));
            assert_eq!(a.kind(), v["type"].as_str().unwrap());
        }
    }

    #[test]
    fn lists_every_problem() {
        let e = Action::from_value(
            &json!({"type": "message", "model": 5, "input_tokens": -1, "extra": true}),
        )
        .unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths.len(), 4, "{paths:?}");
        for p in ["extra", "model", "input_tokens", "max_output_tokens"] {
            assert!(paths.contains(&p), "{p}");
        }
        let e = Action::from_value(
            &json!({"type": "upload", "chat_id": "c", "files": [{"name": "a", "size": "big"}]}),
        )
        .unwrap_err();
        assert_eq!(e.0[0].path, "files[0].size");
        assert!(Action::from_value(&json!({"type": "teleport"})).is_err());
        assert!(Action::from_value(&json!([1])).is_err());
    }

    #[test]
    fn base64_round_trip() {
        for len in 0..20 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 5) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&data)).unwrap(), data);
        }
        assert_eq!(
            base64_decode("iVBORw0KGgo=").unwrap()[..4],
            [0x89, b'P', b'N', b'G']
        );
        assert!(base64_decode("***").is_none());
    }
}
