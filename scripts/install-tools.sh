#!/usr/bin/env bash
# Idempotent installer for everything Tollgate's build and tests need.
# Safe to run on a fresh machine (CI runs it on a clean clone) and cheap to
# re-run: each cargo tool lives in a cache dir keyed on its version and is
# skipped when already present.
#
#   TOLLGATE_TOOLS   cache root (default: $HOME/.cache/tollgate-tools)
#   TOLLGATE_SKIP_APT=1   never touch apt (chromium)
#   TOLLGATE_SKIP_NPM=1   skip the npm install step
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/versions.sh
. "$ROOT/scripts/versions.sh"

log() { printf '[install-tools] %s\n' "$*" >&2; }
now() { date +%s; }

mkdir -p "$TOLLGATE_TOOLS"

# --- Rust target ------------------------------------------------------------
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  # A concurrent rustup (another build on the same machine) makes this fail
  # with "detected conflict"; re-check before giving up.
  rustup target add wasm32-unknown-unknown || {
    sleep 5
    rustup target list --installed | grep -qx wasm32-unknown-unknown ||
      rustup target add wasm32-unknown-unknown
  }
fi

# --- cargo tools, each in its own versioned root ---------------------------
# cargo_tool <crate> <version> <binary> [extra cargo install args...]
cargo_tool() {
  local crate="$1" version="$2" bin="$3"; shift 3
  local dir="$TOLLGATE_TOOLS/cargo-$crate-$version"
  if [ -x "$dir/bin/$bin" ]; then
    log "$crate $version: cached ($dir)"
    return 0
  fi
  log "$crate $version: installing into $dir"
  local t0; t0=$(now)
  local tmp="$dir.partial.$$"
  rm -rf "$tmp"
  # Build into a temp root and move it into place, so an interrupted install
  # never looks complete.
  cargo install "$crate" --version "=$version" --root "$tmp" --no-track "$@"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  log "$crate $version: installed in $(( $(now) - t0 )) s"
}

# wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
# No --locked: one of its locked dependencies is missing from the crates mirror.
cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen
cargo_tool wasm-pack "$WASM_PACK_VERSION" wasm-pack --locked
cargo_tool worker-build "$WORKER_BUILD_VERSION" worker-build --locked

# --- Chromium (browser tests) -----------------------------------------------
if [ "${TOLLGATE_SKIP_APT:-0}" != 1 ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install chromium chromium-driver"
    t0=$(now)
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; then
      log "chromium installed in $(( $(now) - t0 )) s"
    else
      log "WARNING: apt-get failed; browser tests will not run"
    fi
  else
    log "WARNING: /usr/bin/chromium missing and not root (or no apt); skipping (browser tests will not run)"
  fi
fi

# --- npm dev dependencies (Node 24, wrangler, miniflare, wasm-opt, ...) -----
if [ "${TOLLGATE_SKIP_NPM:-0}" != 1 ]; then
  stamp="node_modules/.tollgate-stamp"
  want="$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x node_modules/.bin/node ]; then
    log "npm dependencies: up to date"
  else
    t0=$(now)
    export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
    # npm ci fails on lock files made on this kind of machine: the registry
    # mirror lacks some macOS/Windows workerd builds, so they are missing from
    # the lock. Fall back to npm install.
    npm_log="$(mktemp)"
    if [ -f package-lock.json ] && npm ci --no-audit --no-fund >"$npm_log" 2>&1; then
      log "npm ci done"
    else
      log "npm ci failed ($( (grep -m1 'Missing:' "$npm_log" || grep -m1 -i 'error' "$npm_log" || true) | sed 's/^npm error //')); falling back to npm install"
      npm install --no-audit --no-fund
    fi
    rm -f "$npm_log"
    # npm install may rewrite the lock file; hash what is there now.
    cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1 > "$stamp"
    log "npm dependencies installed in $(( $(now) - t0 )) s"
  fi
fi

# --- Python client (clients/python): a virtualenv in the tools cache --------
# $TOLLGATE_TOOLS/py-<hash of requirements-dev.txt + pyproject.toml>, outside
# the repository, shared by every clone. It holds the pinned test tools
# (pytest, ruff, mypy, django, django-stubs) and the package itself, installed
# the way a user installs it (`pip install ./clients/python`), which proves
# that works on this machine. `make test-python` puts the clone's own source
# first on PYTHONPATH. A venv cannot be moved once made, so it is built in
# place, marked complete last, and a half-built one is removed and redone;
# a lock keeps two clones from building it at once.
#   TOLLGATE_SKIP_PY=1   skip this step
if [ "${TOLLGATE_SKIP_PY:-0}" != 1 ]; then
  # shellcheck source=clients/python/tools/venv.sh
  . "$ROOT/clients/python/tools/venv.sh"
  py_bin="${TOLLGATE_PYTHON:-python3}"
  exec 9>"$TOLLGATE_TOOLS/py.lock"
  flock 9
  if [ -f "$TOLLGATE_PY_VENV/.tollgate-complete" ]; then
    log "python venv: cached ($TOLLGATE_PY_VENV)"
  else
    if ! "$py_bin" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      log "ERROR: the Python client needs Python >= 3.10 ($py_bin: $("$py_bin" --version 2>&1 || echo missing))"
      exit 1
    fi
    t0=$(now)
    log "python venv: creating $TOLLGATE_PY_VENV ($("$py_bin" --version 2>&1))"
    rm -rf "$TOLLGATE_PY_VENV"
    "$py_bin" -m venv "$TOLLGATE_PY_VENV"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
    "$TOLLGATE_PY_VENV/bin/pip" install -q -r "$TOLLGATE_PY_DIR/requirements-dev.txt"
    "$TOLLGATE_PY_VENV/bin/pip" install -q "$TOLLGATE_PY_DIR"
    # The installed copy (not the source tree) imports, Django part included.
    (cd / && "$TOLLGATE_PY_VENV/bin/python" -c 'import tollgate, tollgate.django')
    touch "$TOLLGATE_PY_VENV/.tollgate-complete"
    log "python venv: installed in $(( $(now) - t0 )) s"
  fi
  flock -u 9
  exec 9>&-
fi

log "node (repo): $("$ROOT/node_modules/.bin/node" --version 2>/dev/null || echo missing)"
log "done"
