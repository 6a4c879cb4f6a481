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
#
# Product flows: POST /v1/reserve then POST /v1/holds/{id}/commit (one
# sample = the pair; each step's p50/p99 too), on one user and on 100 users,
# under the default config's premium plan with its maxima raised.
# BENCH_ROUNDS (3) rounds alternate each flow with a bare-counter run of the
# same shape (BENCH_ROUND_N (1000) iterations at BENCH_C); the summary
# (test-output/bench-summary.md) gives medians over the rounds.
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
  --persist-to "$STATE" --var TOLLGATE_BENCH:1 > "$OUT/bench-wrangler.log" 2>&1 &
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

# --- product routes (same run, same wrangler) -------------------------------
# Secrets of the local run (.dev.vars: KEY="value" lines).
JWT_SECRET="$(sed -n 's/^TOLLGATE_JWT_SECRET="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' .dev.vars | tail -1)"
ADMIN_TOKEN="$(sed -n 's/^TOLLGATE_ADMIN_TOKEN="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' .dev.vars | tail -1)"
[ -n "$JWT_SECRET" ] && [ -n "$ADMIN_TOKEN" ] || { echo "bench: secrets missing in .dev.vars" >&2; exit 1; }

# The default config's premium plan (17 limits, every kind of window) with
# its maxima raised so the load never runs into them, and no concurrency cap:
# every request does the full work of an allowed reserve and commit.
node -e '
  const c = JSON.parse(require("fs").readFileSync("worker/default-config.json", "utf8"));
  const p = c.plans.find((p) => p.id === "premium");
  p.limits = p.limits.map((l) => ({ ...l, max: l.max * 1e6 }));
  delete p.max_concurrent;
  process.stdout.write(JSON.stringify(c));
' > "$STATE/bench-config.json"
curl -fsS -X PUT "$BASE/v1/admin/config" -H "authorization: Bearer $ADMIN_TOKEN" \
  --data-binary "@$STATE/bench-config.json" >/dev/null

ACTION='{"type":"message","model":"openai/gpt-4o-mini","input_tokens":500,"max_output_tokens":500,"kind":"send"}'
USAGE='{"input_tokens":480,"output_tokens":310}'
RUN="r$$"
flow() { # flow <label> <users> <n> <c> <warmup>
  local tag="$RUN-${1//[^A-Za-z0-9-]/-}"
  load --label "$1" --method POST --url "$BASE/v1/reserve" --body "$ACTION" \
    --header "idempotency-key: $tag-{i}" --jwt-secret "$JWT_SECRET" --jwt-sub "$tag-{u}" \
    --jwt-plan premium --then-url "$BASE/v1/holds/{hold}/commit" --then-body "$USAGE" \
    --users "$2" -n "$3" -c "$4" --warmup "$5"
}
# Each flow next to a bare-counter run of the same shape, back to back, so
# both see the same machine (2 shared cores: other work moves the figures).
bare() { # bare <label> <users> <n> <c> <warmup>
  local tag="$RUN-${1//[^A-Za-z0-9-]/-}"
  load --label "$1" --method POST --url "$BASE/bench/counter?user=$tag-{u}" \
    --users "$2" -n "$3" -c "$4" --warmup "$5"
}
# Rounds alternate product and baseline; the summary takes medians.
ROUNDS="${BENCH_ROUNDS:-3}"
RN="${BENCH_ROUND_N:-1000}"
for r in $(seq "$ROUNDS"); do
  flow "reserve-commit-1user-c$C#$r" 1 "$RN" "$C" 50
  bare "bare-1obj-c$C#$r" 1 "$RN" "$C" 50
  flow "reserve-commit-100users-c$C#$r" 100 "$RN" "$C" 100
  bare "bare-100obj-c$C#$r" 100 "$RN" "$C" 100
  flow "reserve-commit-1user-c1#$r" 1 200 1 10
  bare "bare-1obj-c1#$r" 1 200 1 10
done

# The Worker's size.
wasm="$(ls worker/build/*.wasm | head -1)"
printf '{"label":"worker-wasm","raw_bytes":%s,"gzip_bytes":%s}\n' \
  "$(wc -c < "$wasm")" "$(gzip -9c "$wasm" | wc -c)" | tee -a "$OUT/bench.jsonl"

# Medians per label and the product/baseline ratios (markdown).
node scripts/bench-summary.mjs "$OUT/bench.jsonl" | tee "$OUT/bench-summary.md"
