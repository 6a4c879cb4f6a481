#!/usr/bin/env bash
# Load benchmark on this machine: starts `wrangler dev` on 127.0.0.1 (the
# prebuilt worker/build, no rebuild), runs scripts/load.mjs against each
# target, stops wrangler. Results: one JSON line per run on stdout and in
# test-output/bench.jsonl.
#
# Always compare a product route with the BareCounter baseline measured in
# the same run, never with numbers from another machine or another run.
#
#   BENCH_PORT (8788)  BENCH_N (2000)  BENCH_C (16)  BENCH_MAX_S (60)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. scripts/env.sh

PORT="${BENCH_PORT:-8788}"
N="${BENCH_N:-2000}"
C="${BENCH_C:-16}"
MAX_S="${BENCH_MAX_S:-60}"
BASE="http://127.0.0.1:$PORT"
OUT="$ROOT/test-output"
mkdir -p "$OUT"
: > "$OUT/bench.jsonl"

[ -f worker/build/index.js ] || { echo "bench: build the worker first (make worker)" >&2; exit 1; }
[ -f .dev.vars ] || cp .dev.vars.example .dev.vars

STATE="$(mktemp -d)"
# Own process group, so stopping it stops workerd too (and nothing else).
TOLLGATE_SKIP_BUILD=1 setsid wrangler dev --ip 127.0.0.1 --port "$PORT" \
  --persist-to "$STATE" > "$OUT/bench-wrangler.log" 2>&1 &
WPID=$!
cleanup() {
  kill -TERM -- "-$WPID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$WPID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$WPID" 2>/dev/null || true
  rm -rf "$STATE"
}
trap cleanup EXIT

for _ in $(seq 120); do
  curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
  kill -0 "$WPID" 2>/dev/null || { cat "$OUT/bench-wrangler.log" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "$BASE/healthz" >/dev/null || { echo "bench: wrangler dev not ready" >&2; exit 1; }

load() { node scripts/load.mjs --max-seconds "$MAX_S" "$@" | tee -a "$OUT/bench.jsonl"; }

# Baseline: a bare SQLite counter Durable Object.
load --label bare-1obj-c$C --method POST --url "$BASE/bench/counter?user=bench{u}" \
  --users 1 -n "$N" -c "$C" --warmup 50
load --label bare-64obj-c$C --method POST --url "$BASE/bench/counter?user=bench{u}" \
  --users 64 -n "$N" -c "$C" --warmup 50
load --label bare-1obj-c1 --method POST --url "$BASE/bench/counter?user=serial" \
  --users 1 -n 200 -c 1 --warmup 10

# --- product routes go here (same run, same wrangler) ----------------------
# e.g. load --label reserve-1user-c$C --method POST --url "$BASE/v1/reserve" \
#        --header "authorization: Bearer $JWT" --header "idempotency-key: k{i}" \
#        --body '{...}' -n "$N" -c "$C"
