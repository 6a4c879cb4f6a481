#!/usr/bin/env bash
# Builds the npm package `tollgate` into pkg/ (SPEC §6; issue #3):
#
#   pkg/            bundler target (the package root: package.json, tollgate.js,
#                   tollgate_bg.js, tollgate_bg.wasm, tollgate.d.ts)
#   pkg/web/        web target (ES module + `init()`; browsers without a bundler)
#   pkg/node/       nodejs target (CommonJS, loads the .wasm synchronously)
#
# One `cargo build` (release profile: opt-level "s", LTO) serves all three:
# wasm-pack runs wasm-bindgen per target with --no-opt, then this script runs
# wasm-opt from the npm package binaryen@132 (never Debian's binaryen, whose
# output crashes at load). pkg/README.md is tracked and left alone.
#
#   PKG_TARGETS="web"   build only some targets (make www uses it)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
. scripts/env.sh

log() { printf '[pkg] %s\n' "$*" >&2; }

WASM_OPT="${WASM_OPT:-$ROOT/node_modules/.bin/wasm-opt}"
if ! "$WASM_OPT" --version 2>/dev/null | grep -q 'version 132'; then
  log "wasm-opt from npm binaryen@132.0.0 not found at $WASM_OPT; run scripts/install-tools.sh"
  exit 1
fi
# The features rustc enables by default for wasm32-unknown-unknown (Rust ≥ 1.82).
WASM_OPT_FLAGS=(-Oz --enable-bulk-memory --enable-nontrapping-float-to-int
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue)

BUILD="$ROOT/target/pkg-build"
TARGETS="${PKG_TARGETS:-bundler web nodejs}"

for t in $TARGETS; do
  log "wasm-pack build --target $t"
  t0=$(date +%s)
  wasm-pack --quiet build --release --no-opt --no-pack --no-gitignore --mode no-install \
    --target "$t" --out-dir "$BUILD/$t" --out-name tollgate "$ROOT" -- --features wasm
  raw=$(stat -c %s "$BUILD/$t/tollgate_bg.wasm")
  "$WASM_OPT" "${WASM_OPT_FLAGS[@]}" "$BUILD/$t/tollgate_bg.wasm" -o "$BUILD/$t/tollgate_bg.wasm.opt"
  mv "$BUILD/$t/tollgate_bg.wasm.opt" "$BUILD/$t/tollgate_bg.wasm"
  log "$t: $raw → $(stat -c %s "$BUILD/$t/tollgate_bg.wasm") bytes after wasm-opt ($(( $(date +%s) - t0 )) s)"
done

# --- assemble pkg/ (pkg/README.md is tracked: never deleted) ------------------
mkdir -p pkg
copy_target() { # <build dir> <dest dir>
  local src="$1" dest="$2"
  mkdir -p "$dest"
  for f in tollgate.js tollgate_bg.js tollgate_bg.wasm tollgate.d.ts tollgate_bg.wasm.d.ts; do
    rm -f "$dest/$f"
    if [ -f "$src/$f" ]; then cp "$src/$f" "$dest/$f"; fi
  done
  if [ -d "$src/snippets" ]; then rm -rf "$dest/snippets"; cp -r "$src/snippets" "$dest/snippets"; fi
}
for t in $TARGETS; do
  case "$t" in
    bundler) copy_target "$BUILD/bundler" pkg ;;
    web)     copy_target "$BUILD/web" pkg/web
             printf '{\n  "type": "module"\n}\n' > pkg/web/package.json ;;
    nodejs)  copy_target "$BUILD/nodejs" pkg/node
             printf '{\n  "type": "commonjs"\n}\n' > pkg/node/package.json ;;
  esac
done
node scripts/pkg-manifest.mjs
log "pkg/ ready: $(cd pkg && ls -1 ./*.wasm web/*.wasm node/*.wasm 2>/dev/null | tr '\n' ' ')"
