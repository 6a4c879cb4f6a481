//! Shared by the CLI's tests: the real `tollgate` binary, and the real
//! Worker in workerd (cli/tests/worker-launcher.mjs over
//! tests/worker/harness.mjs).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ is in the repository")
        .to_path_buf()
}

/// The binary, with no TOLLGATE_* variable inherited from the caller's shell.
pub fn tollgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TOLLGATE_") {
            c.env_remove(k);
        }
    }
    c.current_dir(root());
    c
}

/// Runs `tollgate args…` with extra environment variables.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = tollgate();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("the tollgate binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts exit 0 and returns stdout.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Asserts exit 1, an empty-or-JSON stdout, and returns stderr.
pub fn fails(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit 1\nstdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
    stderr(o)
}

pub fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// A scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tollgate-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `v` to `dir/name` and returns the path as a string.
pub fn write(dir: &Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p.to_string_lossy().into_owned()
}

/// The built Worker running in workerd, stopped on drop.
pub struct Worker {
    child: Child,
    pub url: String,
    pub admin_token: String,
    pub jwt_secret: String,
}

impl Worker {
    pub fn start() -> Worker {
        let script = root().join("worker/build/index.js");
        assert!(
            script.exists(),
            "{} is missing: build the Worker first (make worker; make test-cli does)",
            script.display()
        );
        // scripts/env.sh puts the project's Node (24) and miniflare first on PATH.
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(". scripts/env.sh >/dev/null && exec node cli/tests/worker-launcher.mjs")
            .current_dir(root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("bash and node run");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the launcher prints its URL");
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("launcher said {line:?}: {e}"));
        Worker {
            url: v["url"].as_str().unwrap().to_string(),
            admin_token: v["admin_token"].as_str().unwrap().to_string(),
            jwt_secret: v["jwt_secret"].as_str().unwrap().to_string(),
            child,
        }
    }

    /// `tollgate --url <worker> args…` with the admin token set.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["--url", self.url.as_str()];
        all.extend_from_slice(args);
        run(&all, &[("TOLLGATE_ADMIN_TOKEN", &self.admin_token)])
    }

    /// A user call over real HTTP with a token minted by `tollgate token`.
    pub fn user_call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let req = ureq::request(method, &format!("{}{path}", self.url))
            .set("authorization", &format!("Bearer {token}"))
            .set("content-type", "application/json");
        let res = match body {
            Some(b) => req.send_string(&b.to_string()),
            None => req.call(),
        };
        let parse = |r: ureq::Response| {
            serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or(Value::Null)
        };
        match res {
            Ok(r) => (r.status(), parse(r)),
            Err(ureq::Error::Status(s, r)) => (s, parse(r)),
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }

    /// A token from the real binary.
    pub fn token(&self, user: &str, plan: &str, extra: &[&str]) -> String {
        let mut args = vec!["token", "--user", user, "--plan", plan];
        args.extend_from_slice(extra);
        let o = run(&args, &[("TOLLGATE_JWT_SECRET", &self.jwt_secret)]);
        ok(&o).trim().to_string()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // the launcher stops the Worker and exits
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
