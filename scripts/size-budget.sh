#!/usr/bin/env bash
# The size budget (issue 9; make check-size, which make test runs;
# BENCHMARKS.md, "Browser package"): the .wasm
# every user of the npm package downloads, and the Worker's, gzip -9. Sizes
# are deterministic, unlike timings, so a change that grows them past the
# budget fails here, printing what it weighs. Run after make pkg and make worker.
#
#   PKG_BUDGET     bytes, default 122880 (120 KiB)
#   WORKER_BUDGET  bytes, default 307200 (300 KiB)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PKG_BUDGET="${PKG_BUDGET:-122880}"
WORKER_BUDGET="${WORKER_BUDGET:-307200}"
fail=0
check() { # <label> <file> <budget>
  if [ ! -f "$2" ]; then
    echo "size-budget: $2 missing (make pkg / make worker first)" >&2
    fail=1
    return
  fi
  local raw gz verdict=ok
  raw=$(stat -c %s "$2")
  gz=$(gzip -9c "$2" | wc -c)
  if [ "$gz" -gt "$3" ]; then verdict="OVER by $((gz - $3)) B"; fail=1; fi
  printf '%-18s %-34s %9d B raw %9d B gzip -9  (budget %d B)  %s\n' "$1" "$2" "$raw" "$gz" "$3" "$verdict"
}
check "npm package" pkg/tollgate_bg.wasm "$PKG_BUDGET"
for f in pkg/web/tollgate_bg.wasm pkg/node/tollgate_bg.wasm; do
  if [ -f "$f" ] && ! cmp -s "$f" pkg/tollgate_bg.wasm; then
    check "npm package" "$f" "$PKG_BUDGET"
  fi
done
check "Worker" worker/build/index_bg.wasm "$WORKER_BUDGET"
if [ "$fail" != 0 ]; then
  echo "size-budget: over budget (BENCHMARKS.md, \"Browser package\", says where the bytes go)" >&2
  exit 1
fi
