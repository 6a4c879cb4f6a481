#!/usr/bin/env bash
# Assembles the admin console (admin/, issue 11) into the Worker's static
# assets, worker/build/assets/ (wrangler.toml [assets]): the page at /admin/,
# Tollgate's core as the npm package's web build beside it (/admin/pkg/, so
# the page checks configs with the same Rust core), the demo page's
# stylesheet as base.css, and admin/_headers at the assets root.
# Called by scripts/build-worker.sh (make worker, wrangler's [build]).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Every target, as `make pkg` builds them: the build is then skipped when
# nothing changed (a web-only build would invalidate make pkg's stamp).
bash scripts/pkg-build.sh
OUT=worker/build/assets
rm -rf "$OUT"
mkdir -p "$OUT/admin/pkg"
cp admin/index.html admin/app.js admin/style.css "$OUT/admin/"
cp www/style.css "$OUT/admin/base.css"
cp pkg/web/tollgate.js pkg/web/tollgate_bg.wasm "$OUT/admin/pkg/"
# The web build's JS snippets (ES modules tollgate.js imports: src/wasm/values.rs).
if [ -d pkg/web/snippets ]; then cp -r pkg/web/snippets "$OUT/admin/pkg/"; fi
cp admin/_headers "$OUT/_headers"
echo "build-admin: $OUT/admin ($(du -sh "$OUT" | cut -f1))" >&2
