//! The subcommands against a running Worker's admin API (SPEC §5, §9, §12):
//! one HTTP call each, the Worker's answer printed (JSON, or a table where
//! a person reads), its errors on stderr.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tollgate::messages::Locale;

use crate::local::{read_json, read_text};
use crate::{pretty, table, Fail, Out};

/// A Worker and the admin token.
pub struct Remote {
    base: String,
    token: String,
    agent: ureq::Agent,
}

/// Percent-encodes a path segment or query value (everything but unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn print_json(v: &Value) -> Out {
    let text = serde_json::to_string_pretty(v).map_err(|e| Fail::new(e.to_string()))?;
    outln!("{text}");
    Ok(())
}

/// An answer without its (long) `config`, for the commands that change it.
fn without_config(mut v: Value) -> Value {
    if let Some(m) = v.as_object_mut() {
        m.remove("config");
    }
    v
}

impl Remote {
    pub fn new(url: &str) -> Result<Remote, Fail> {
        let token = std::env::var("TOLLGATE_ADMIN_TOKEN")
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Fail::new("TOLLGATE_ADMIN_TOKEN is not set (the Worker's admin token)")
            })?;
        let base = url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Fail::new(format!(
                "--url: expected http://… or https://…, got {url:?}"
            )));
        }
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .build();
        Ok(Remote { base, token, agent })
    }

    /// One call; a non-2xx answer becomes a [`Fail`] with the Worker's
    /// `code`, `message` and every `errors[]` entry.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Value, Fail> {
        let url = format!("{}{path}", self.base);
        let mut req = self
            .agent
            .request(method, &url)
            .set("authorization", &format!("Bearer {}", self.token))
            .set("accept", "application/json");
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let res = match body {
            Some(b) => req
                .set("content-type", "application/json")
                .send_string(&b.to_string()),
            None => req.call(),
        };
        match res {
            Ok(r) => {
                let text = r
                    .into_string()
                    .map_err(|e| Fail::new(format!("{method} {url}: reading the answer: {e}")))?;
                if text.trim().is_empty() {
                    return Ok(Value::Null);
                }
                serde_json::from_str(&text)
                    .map_err(|e| Fail::new(format!("{method} {url}: the answer is not JSON: {e}")))
            }
            Err(ureq::Error::Status(status, r)) => {
                let text = r.into_string().unwrap_or_default();
                let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let code = v.get("code").and_then(Value::as_str).unwrap_or("error");
                let message = v
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| text.chars().take(200).collect());
                let details = v
                    .get("errors")
                    .and_then(Value::as_array)
                    .map(|errs| {
                        errs.iter()
                            .map(|e| {
                                let p = e.get("path").and_then(Value::as_str).unwrap_or("");
                                let r = e.get("reason").and_then(Value::as_str).unwrap_or("");
                                if p.is_empty() {
                                    r.to_string()
                                } else {
                                    format!("{p}: {r}")
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Err(Fail {
                    message: format!("{method} {path}: {status} {code}: {message}"),
                    details,
                })
            }
            Err(e) => Err(Fail::new(format!("{method} {url}: {e}"))),
        }
    }

    /// `config push FILE [--note]`: checked here by the same core first, so
    /// a bad file lists its problems without a round trip.
    pub fn config_push(&self, file: &Path, note: Option<&str>) -> Out {
        let text = read_text(file)?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| Fail::new(format!("{}: not JSON: {e}", file.display())))?;
        tollgate::Config::from_value(&v)
            .map_err(|p| Fail::problems(format!("{}: invalid config", file.display()), &p))?;
        let path = match note {
            Some(n) => format!("/v1/admin/config?note={}", encode(n)),
            None => "/v1/admin/config".to_string(),
        };
        let answer = self.call("PUT", &path, Some(&v), &[])?;
        print_json(&without_config(answer))
    }

    /// `config get [--revision N]`: the config, ready to edit and push again.
    pub fn config_get(&self, revision: Option<i64>) -> Out {
        let path = match revision {
            Some(n) => format!("/v1/admin/config?revision={n}"),
            None => "/v1/admin/config".to_string(),
        };
        let answer = self.call("GET", &path, None, &[])?;
        let config = answer
            .get("config")
            .ok_or_else(|| Fail::new("the Worker's answer has no config"))?;
        outln!("{}", pretty::config(config));
        Ok(())
    }

    /// `config history`.
    pub fn config_history(&self, limit: u32, before: Option<i64>, as_json: bool) -> Out {
        let mut path = format!("/v1/admin/config/revisions?limit={limit}");
        if let Some(b) = before {
            path.push_str(&format!("&before={b}"));
        }
        let answer = self.call("GET", &path, None, &[])?;
        if as_json {
            return print_json(&answer);
        }
        out!("{}", table::history(&answer));
        Ok(())
    }

    /// `config rollback N [--note]`.
    pub fn config_rollback(&self, revision: i64, note: Option<&str>) -> Out {
        let mut body = json!({ "revision": revision });
        if let Some(n) = note {
            body["note"] = json!(n);
        }
        let answer = self.call("POST", "/v1/admin/config/rollback", Some(&body), &[])?;
        print_json(&without_config(answer))
    }

    /// `user show ID`.
    pub fn user_show(&self, id: &str, locale: Locale, as_json: bool) -> Out {
        let answer = self.call("GET", &format!("/v1/admin/users/{}", encode(id)), None, &[])?;
        if as_json {
            return print_json(&answer);
        }
        out!("{}", table::user(&answer, locale));
        Ok(())
    }

    /// `user reset ID [--metric M]... [--window W]...`.
    pub fn user_reset(&self, id: &str, metrics: &[String], windows: &[String]) -> Out {
        let mut body = json!({});
        if !metrics.is_empty() {
            body["metrics"] = json!(metrics);
        }
        if !windows.is_empty() {
            body["windows"] = json!(windows);
        }
        let answer = self.call(
            "POST",
            &format!("/v1/admin/users/{}/reset", encode(id)),
            Some(&body),
            &[],
        )?;
        print_json(&answer)
    }

    /// `user import ID FILE`: the key defaults to a digest of the user and
    /// the body, so the same import run twice adds once.
    pub fn user_import(&self, id: &str, file: &Path, key: Option<&str>) -> Out {
        let body = read_json(file, "import")?;
        let derived;
        let key = match key {
            Some(k) => k,
            None => {
                let digest = Sha256::digest(format!("{id}\n{body}").as_bytes());
                let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
                derived = format!("import-{hex}");
                &derived
            }
        };
        let answer = self.call(
            "POST",
            &format!("/v1/admin/users/{}/usage", encode(id)),
            Some(&body),
            &[("idempotency-key", key)],
        )?;
        print_json(&answer)
    }

    /// `discount put CODE ...`.
    pub fn discount_put(&self, code: &str, rule: &Value) -> Out {
        let answer = self.call(
            "PUT",
            &format!("/v1/admin/discounts/{}", encode(code)),
            Some(rule),
            &[],
        )?;
        print_json(&answer)
    }

    /// `discount get CODE`.
    pub fn discount_get(&self, code: &str) -> Out {
        let answer = self.call(
            "GET",
            &format!("/v1/admin/discounts/{}", encode(code)),
            None,
            &[],
        )?;
        print_json(&answer)
    }

    /// `grant ID ...`: `POST /v1/admin/users/{id}/grants` (SPEC §9).
    pub fn grant(&self, id: &str, body: &Value, key: Option<&str>) -> Out {
        let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
        let answer = self.call(
            "POST",
            &format!("/v1/admin/users/{}/grants", encode(id)),
            Some(body),
            &headers,
        )?;
        print_json(&answer)
    }
}
