#!/usr/bin/env bash
# Builds the npm package `tollgate` into pkg/ (SPEC §6; pkg/README.md):
#
#   pkg/            bundler target (the package root: package.json, tollgate.js,
#                   tollgate_bg.js, tollgate_bg.wasm, tollgate.d.ts)
#   pkg/web/        web target (ES module + `init()`; browsers without a bundler)
#   pkg/node/       nodejs target (CommonJS, loads the .wasm synchronously)
#
# and, for the tests only, the same code plus the `replayCase` conformance
# export (feature `conformance`) into target/pkg-test/{web,node}/: the
# shared vectors are replayed through it in Node and in Chromium, while the
# shipped package does not carry the replayer.
#
# One `cargo build` per variant (profile `pkg`: opt-level "s", LTO) serves
# all its targets: wasm-bindgen runs once per target, then wasm-opt -Oz from
# the npm package binaryen@132 (never Debian's binaryen, whose output crashes
# at load). pkg/README.md is tracked and left alone.
#
#   PKG_TARGETS="web"   build only some targets (make www uses it)
#   PKG_TEST=0          skip the test variant
#   PKG_TZ=bundled      compile every IANA zone's data into the package
#                       (feature `tzdb`, +50 KB gzipped) instead of asking
#                       the browser's Intl; Asia/Tehran and UTC are always
#                       compiled in. See pkg/README.md, "Time zones".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
. scripts/env.sh

log() { printf '[pkg] %s\n' "$*" >&2; }

WASM_OPT="${WASM_OPT:-$ROOT/node_modules/.bin/wasm-opt}"
if ! "$WASM_OPT" --version 2>/dev/null | grep -q 'version 132'; then
  log "wasm-opt from npm binaryen@132.0.0 not found at $WASM_OPT; run scripts/install-tools.sh (make tools)"
  exit 1
fi
for bin in wasm-bindgen; do
  command -v "$bin" >/dev/null || { log "$bin missing; run scripts/install-tools.sh (make tools)"; exit 1; }
done
# The features rustc enables by default for wasm32-unknown-unknown (Rust ≥ 1.82).
WASM_OPT_FLAGS=(-Oz --low-memory-unused --enable-bulk-memory --enable-nontrapping-float-to-int
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue)

TARGETS="${PKG_TARGETS:-bundler web nodejs}"
FEATURES=wasm
case "${PKG_TZ:-host}" in
  host) ;;
  bundled) FEATURES=wasm,tzdb; log "every zone's data compiled in (PKG_TZ=bundled)" ;;
  *) log "PKG_TZ must be host or bundled, not ${PKG_TZ}"; exit 1 ;;
esac
TEST_TARGETS=""
if [ "${PKG_TEST:-1}" = 1 ]; then
  for t in $TARGETS; do case "$t" in web|nodejs) TEST_TARGETS="$TEST_TARGETS $t" ;; esac; done
fi

# Skip when nothing that goes into the package changed since the last build
# of the same targets (make test builds it once per run; CI always cleanly).
stamp_of() {
  { printf '%s|%s|%s|%s\n' "$TARGETS" "$TEST_TARGETS" "$FEATURES" "$("$WASM_OPT" --version)"
    find src build.rs Cargo.toml Cargo.lock scripts/pkg-build.sh scripts/pkg-manifest.mjs -type f -print0 |
      sort -z | xargs -0 sha256sum; } | sha256sum | cut -d' ' -f1
}
STAMP="$ROOT/pkg/.build-stamp"
want=$(stamp_of)
dir_of() { # <variant root> <target>
  case "$2" in bundler) echo "$1" ;; web) echo "$1/web" ;; nodejs) echo "$1/node" ;; esac
}
outputs_present() {
  for t in $TARGETS; do [ -f "$(dir_of pkg "$t")/tollgate_bg.wasm" ] || return 1; done
  for t in $TEST_TARGETS; do [ -f "$(dir_of target/pkg-test "$t")/tollgate_bg.wasm" ] || return 1; done
  [ -f pkg/package.json ]
}
if [ "${PKG_FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && outputs_present; then
  log "pkg/ is up to date ($TARGETS); PKG_FORCE=1 rebuilds"
  exit 0
fi
rm -f "$STAMP"

# build <profile> <features> <variant root> <targets...>
build() {
  local profile="$1" features="$2" dest="$3"; shift 3
  local t0; t0=$(date +%s)
  log "cargo build --profile $profile --features $features"
  cargo build --quiet --lib -p tollgate --target wasm32-unknown-unknown --profile "$profile" \
    --no-default-features --features "$features"
  local wasm="${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/$profile/tollgate.wasm"
  for t in "$@"; do
    local out; out="$(dir_of "$dest" "$t")"
    local tmp="$ROOT/target/pkg-build/$profile/$t"
    rm -rf "$tmp" && mkdir -p "$tmp" "$out"
    wasm-bindgen --target "$t" --out-dir "$tmp" --out-name tollgate "$wasm"
    local raw; raw=$(stat -c %s "$tmp/tollgate_bg.wasm")
    "$WASM_OPT" "${WASM_OPT_FLAGS[@]}" "$tmp/tollgate_bg.wasm" -o "$tmp/tollgate_bg.wasm.opt"
    mv "$tmp/tollgate_bg.wasm.opt" "$tmp/tollgate_bg.wasm"
    for f in tollgate.js tollgate_bg.js tollgate_bg.wasm tollgate.d.ts tollgate_bg.wasm.d.ts; do
      rm -f "$out/$f"
      if [ -f "$tmp/$f" ]; then cp "$tmp/$f" "$out/$f"; fi
    done
    rm -rf "$out/snippets"
    if [ -d "$tmp/snippets" ]; then cp -r "$tmp/snippets" "$out/snippets"; fi
    # The nodejs build require()s its snippets, which are ES modules.
    if [ "$t" = nodejs ] && [ -d "$out/snippets" ]; then printf '{\n  "type": "module"\n}\n' > "$out/snippets/package.json"; fi
    # Each subfolder is a package of its own for resolvers that ignore the
    # root's `exports` (TypeScript's node10, older bundlers,
    # `require("tollgate/node")` as a folder).
    case "$t" in
      web) printf '{\n  "type": "module",\n  "main": "tollgate.js",\n  "module": "tollgate.js",\n  "types": "tollgate.d.ts",\n  "sideEffects": ["./tollgate.js", "./snippets/*"]\n}\n' > "$out/package.json" ;;
      nodejs) printf '{\n  "type": "commonjs",\n  "main": "tollgate.js",\n  "types": "tollgate.d.ts"\n}\n' > "$out/package.json" ;;
    esac
    log "$dest $t: $raw → $(stat -c %s "$out/tollgate_bg.wasm") bytes after wasm-opt, $(gzip -9c "$out/tollgate_bg.wasm" | wc -c) gzipped"
  done
  log "$dest built in $(( $(date +%s) - t0 )) s"
}

mkdir -p pkg
# shellcheck disable=SC2086
build pkg "$FEATURES" pkg $TARGETS
if [ -n "$TEST_TARGETS" ]; then
  # shellcheck disable=SC2086
  build pkg-test "$FEATURES,conformance" target/pkg-test $TEST_TARGETS
fi
node scripts/pkg-manifest.mjs
log "pkg/ ready: $(cd pkg && ls -1 ./*.wasm web/*.wasm node/*.wasm 2>/dev/null | tr '\n' ' ')"
echo "$want" > "$STAMP"
