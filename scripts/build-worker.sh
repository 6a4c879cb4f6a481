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
(cd "$ROOT/worker" && worker-build --release "$@")
# After worker-build, which owns worker/build/.
bash "$ROOT/scripts/build-admin.sh"
