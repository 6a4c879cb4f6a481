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
#   PKG_TZ_FILTER='^(Asia/Tehran|UTC)$'
#                       a slim package with only the time zones matching this
#                       regex (chrono-tz's CHRONO_TZ_TIMEZONE_FILTER, feature
#                       wasm-tz-filter; its own cargo target dir, so it never
#                       forces a rebuild of the full one). A config in another
#                       zone is then refused by `new Tollgate(config)`. Off by
#                       default: the full package accepts every IANA zone, as
#                       the Worker does. See BENCHMARKS.md for both sizes.
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
FEATURES=wasm
if [ -n "${PKG_TZ_FILTER:-}" ]; then
  log "slim build: only time zones matching $PKG_TZ_FILTER"
  export CHRONO_TZ_TIMEZONE_FILTER="$PKG_TZ_FILTER"
  export CARGO_TARGET_DIR="$ROOT/target/pkg-slim"
  BUILD="$ROOT/target/pkg-slim-build"
  FEATURES=wasm-tz-filter
fi

# Skip when nothing that goes into the package changed since the last build
# of the same targets (make test builds it once per run; CI always cleanly).
stamp_of() {
  { printf '%s|%s|%s\n' "$TARGETS" "${PKG_TZ_FILTER:-}" "$("$WASM_OPT" --version)"
    find src Cargo.toml Cargo.lock scripts/pkg-build.sh scripts/pkg-manifest.mjs -type f -print0 |
      sort -z | xargs -0 sha256sum; } | sha256sum | cut -d' ' -f1
}
STAMP="$ROOT/pkg/.build-stamp"
want=$(stamp_of)
outputs_present() {
  for t in $TARGETS; do
    case "$t" in
      bundler) [ -f pkg/tollgate_bg.wasm ] ;;
      web) [ -f pkg/web/tollgate_bg.wasm ] ;;
      nodejs) [ -f pkg/node/tollgate_bg.wasm ] ;;
    esac || return 1
  done
  [ -f pkg/package.json ]
}
if [ "${PKG_FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && outputs_present; then
  log "pkg/ is up to date ($TARGETS); PKG_FORCE=1 rebuilds"
  exit 0
fi
rm -f "$STAMP"

for t in $TARGETS; do
  log "wasm-pack build --target $t"
  t0=$(date +%s)
  wasm-pack --quiet build --release --no-opt --no-pack --no-gitignore --mode no-install \
    --target "$t" --out-dir "$BUILD/$t" --out-name tollgate "$ROOT" -- --features "$FEATURES"
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
echo "$want" > "$STAMP"
