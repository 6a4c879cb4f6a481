#!/usr/bin/env bash
# Build the Worker: worker/build/index.js + index_bg.wasm (worker-build --release),
# and its static assets, the admin console (scripts/build-admin.sh).
# Used by `make worker` and by wrangler.toml's [build] command.
# TOLLGATE_SKIP_BUILD=1 makes it a no-op (bench runs wrangler on a prebuilt worker).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${TOLLGATE_SKIP_BUILD:-}" ]; then
  echo "build-worker: TOLLGATE_SKIP_BUILD set, using the existing worker/build" >&2
  exit 0
fi
. "$ROOT/scripts/env.sh"
for bin in worker-build "$WASM_BINDGEN_BIN" "$WASM_OPT_BIN"; do
  command -v "$bin" >/dev/null || { echo "build-worker: $bin missing; run make tools" >&2; exit 1; }
done
# Profile `worker` (Cargo.toml: release with opt-level "z"), wasm-opt -Oz
# (worker/Cargo.toml's package metadata).
(cd "$ROOT/worker" && worker-build --profile worker "$@")
# worker-build always keeps the names section (function names in stack
# traces): 150 KB raw, 40 KB gzipped of the bundle's compressed size, which
# the platform limits and every cold start loads. TOLLGATE_KEEP_NAMES=1 keeps
# it for debugging. Same feature flags as worker-build's own wasm-opt run.
if [ "${TOLLGATE_KEEP_NAMES:-0}" != 1 ]; then
  wasm="$ROOT/worker/build/index_bg.wasm"
  "$WASM_OPT_BIN" --strip-debug --enable-mutable-globals --enable-sign-ext \
    --enable-nontrapping-float-to-int --enable-bulk-memory --enable-multivalue \
    --enable-reference-types --enable-exception-handling "$wasm" -o "$wasm.stripped"
  mv "$wasm.stripped" "$wasm"
fi
# After worker-build, which owns worker/build/.
bash "$ROOT/scripts/build-admin.sh"
