#!/usr/bin/env bash
# make bench-pkg: the npm package under Node and in headless Chromium against
# native Rust, the package's and the Worker's .wasm sizes
# (scripts/pkg-bench.mjs), then what the package's .wasm is made of
# (scripts/pkg-size.sh). Builds what it times: examples/bench_check natively
# (release profile); make bench-pkg has built pkg/.
#
#   PKG_BENCH_BEFORE=<dir>   also measure a baseline build in the same run
#                            (layout in scripts/pkg-bench.mjs)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
. scripts/env.sh

cargo build -q --release --example bench_check
[ -f worker/build/index_bg.wasm ] || echo "[bench-pkg] worker/build missing: make worker for the Worker's size" >&2
node scripts/pkg-bench.mjs
scripts/pkg-size.sh
