#!/usr/bin/env bash
# make bench-pkg: the npm package's decision under Node vs native, back to
# back on this machine (scripts/pkg-bench.mjs), then the .wasm's size and
# what dominates it (scripts/pkg-size.sh). Builds what it times:
#   - examples/bench_check.rs natively (release profile),
#   - the same file for wasm32-wasip1 (tests/pkg/wasi-bench), to time the
#     core as WebAssembly inside Node without the JS boundary.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
. scripts/env.sh

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  echo "[bench-pkg] rustup target add wasm32-wasip1" >&2
  rustup target add wasm32-wasip1
fi
cargo build -q --release --example bench_check
(cd tests/pkg/wasi-bench && CARGO_TARGET_DIR="$ROOT/target/wasi-bench" cargo build -q --release --target wasm32-wasip1)
node scripts/pkg-bench.mjs
scripts/pkg-size.sh
