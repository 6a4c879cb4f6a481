#!/usr/bin/env bash
# The Worker bundle is deployable (issue 9; make check-deploy, part of make
# test): `wrangler deploy --dry-run --outdir <tmp>` bundles worker/build the
# way a real deploy would, without an account, and its compressed upload must
# stay under the platform's limit for the free plan, 3 MiB. Run after make
# worker (the build is not repeated: TOLLGATE_SKIP_BUILD=1).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
. scripts/env.sh
LIMIT_KIB="${DEPLOY_LIMIT_KIB:-3072}"
out="$(mktemp -d)"
log="$out.log"
trap 'rm -rf "$out" "$log"' EXIT
if ! TOLLGATE_SKIP_BUILD=1 NO_COLOR=1 FORCE_COLOR=0 wrangler deploy --dry-run --outdir "$out" >"$log" 2>&1; then
  cat "$log" >&2
  echo "deploy-check: wrangler deploy --dry-run failed" >&2
  exit 1
fi
line="$(grep -m1 'Total Upload:' "$log" || true)"
gzip_kib="$(sed -n 's/.*gzip: \([0-9.]*\) KiB.*/\1/p' <<<"$line")"
if [ -z "$gzip_kib" ]; then
  cat "$log" >&2
  echo "deploy-check: no \"Total Upload: … / gzip: … KiB\" line in wrangler's output" >&2
  exit 1
fi
ls "$out"/*.wasm "$out"/index.js >/dev/null
echo "deploy-check: $line (limit ${LIMIT_KIB} KiB compressed); bundle: $(cd "$out" && ls | tr '\n' ' ')"
if ! awk -v g="$gzip_kib" -v l="$LIMIT_KIB" 'BEGIN { exit !(g < l) }'; then
  echo "deploy-check: the compressed bundle (${gzip_kib} KiB) is over ${LIMIT_KIB} KiB" >&2
  exit 1
fi
