#!/usr/bin/env bash
# What the npm package's .wasm is made of (make bench-pkg): its size raw and
# gzipped, and twiggy's biggest items and retainers in a build that keeps
# function names (same cargo output as pkg/, run through wasm-bindgen
# --keep-debug and wasm-opt -g, so the layout matches the shipped module).
# twiggy is installed on first use into the same versioned tool cache as the
# other tools (scripts/versions.sh), then reused.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
. scripts/env.sh

TWIGGY_VERSION=0.8.0
dir="$TOLLGATE_TOOLS/cargo-twiggy-$TWIGGY_VERSION"
if [ ! -x "$dir/bin/twiggy" ]; then
  echo "[pkg-size] installing twiggy $TWIGGY_VERSION into $dir" >&2
  rm -rf "$dir.partial.$$"
  cargo install twiggy --version "=$TWIGGY_VERSION" --locked --root "$dir.partial.$$" --no-track
  rm -rf "$dir" && mv "$dir.partial.$$" "$dir"
fi
TWIGGY="$dir/bin/twiggy"

wasm=pkg/tollgate_bg.wasm
raw=$(stat -c %s "$wasm")
gz=$(gzip -9c "$wasm" | wc -c)
awk -v w="$wasm" -v r="$raw" -v g="$gz" 'BEGIN { printf "\n%s: %d bytes (%.1f KiB) raw, %d bytes (%.1f KiB) gzip -9\n", w, r, r / 1024, g, g / 1024 }'

# Section sizes of the shipped module: code vs data (tables, strings; the
# default package carries no time zone data but Asia/Tehran's).
node -e '
const b = require("fs").readFileSync(process.argv[1]);
const names = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory", 6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data", 12: "datacount"};
let i = 8; const rows = [];
const leb = () => { let r = 0, s = 0, x; do { x = b[i++]; r |= (x & 0x7f) << s; s += 7; } while (x & 0x80); return r >>> 0; };
while (i < b.length) { const id = b[i++]; const n = leb(); rows.push([names[id] || id, n]); i += n; }
const tot = b.length;
for (const [k, n] of rows.filter((r) => r[1] > 1024)) console.log(`  ${k.padEnd(8)} ${String(n).padStart(8)} bytes  ${(100 * n / tot).toFixed(1).padStart(5)} %`);
' "$wasm"

src="${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/pkg/tollgate.wasm"
out=target/pkg-size
rm -rf "$out" && mkdir -p "$out"
wasm-bindgen --keep-debug --target bundler --out-dir "$out" --out-name tollgate "$src"
wasm-opt -g -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$out/tollgate_bg.wasm" -o "$out/named.wasm"
echo
echo "## biggest items (twiggy top; the names section exists only in this analysis build)"
"$TWIGGY" top -n 15 "$out/named.wasm" | cut -c1-150
echo
echo "## what retains them (twiggy dominators, depth 1)"
"$TWIGGY" dominators -d 1 -r 15 "$out/named.wasm" | cut -c1-150
