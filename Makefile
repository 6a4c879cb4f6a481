# Tollgate developer entry points. Every recipe runs with scripts/env.sh
# sourced: cached cargo tools and node_modules/.bin (Node 24, wrangler,
# miniflare, wasm-opt) come first on PATH.
#
#   make tools   install/verify every tool (idempotent, cached outside the repo)
#   make test    everything CI runs (.ci/run calls this)
#   make dev     wrangler dev on http://127.0.0.1:8787
#   make bench   load benchmark against a local wrangler dev
#   make fmt / make clippy / make worker

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test
ENV := . scripts/env.sh &&
DEV_PORT ?= 8787

.PHONY: tools fmt fmt-check clippy clippy-wasm test-core worker test-worker \
        test dev bench clean

tools:
	scripts/install-tools.sh

fmt:
	cargo fmt --all

fmt-check:
	cargo fmt --all -- --check

# Native (whole workspace, tests included) and wasm32 (the core as the Worker
# and the npm package compile it).
clippy:
	$(ENV) cargo clippy --workspace --all-targets -- -D warnings
	$(ENV) cargo clippy -p tollgate --target wasm32-unknown-unknown -- -D warnings
	$(ENV) cargo clippy -p tollgate-worker --target wasm32-unknown-unknown -- -D warnings

test-core:
	cargo test -p tollgate

# worker/build/index.js + index_bg.wasm. worker-build gets wasm-bindgen and
# wasm-opt from scripts/env.sh (it would otherwise try GitHub).
worker:
	scripts/build-worker.sh
	@ls -l worker/build/index.js worker/build/*.wasm 2>/dev/null | awk '{print "  " $$5 "\t" $$9}'

# Worker HTTP tests: miniflare@4 (workerd) on 127.0.0.1, Node 24.
# (Node 22+ reads `node --test` arguments as files/globs, not directories:
# a bare `tests/worker/` fails with "Cannot find module"; hence the glob.)
test-worker: worker
	$(ENV) node --version && node --test --test-reporter=spec 'tests/worker/**/*.test.mjs'

# ---------------------------------------------------------------------------
# Later test layers (add them to `test` below when they exist):
#   test-pkg   wasm-pack build of the npm package into pkg/ + Node tests
#              + `wasm-pack test --headless --chrome` (chromium from apt)
#   test-www   browser test of the demo page with playwright-core and
#              executablePath /usr/bin/chromium (never `npx playwright install`)
# ---------------------------------------------------------------------------

test: tools fmt-check clippy test-core test-worker
	@echo "make test: all passed"

# Local dev server. wrangler runs the [build] command from wrangler.toml itself
# (and again when worker/src or src change), so no separate build here.
.dev.vars:
	cp .dev.vars.example .dev.vars

dev: tools .dev.vars
	$(ENV) wrangler dev --ip 127.0.0.1 --port $(DEV_PORT)

bench: tools worker
	$(ENV) scripts/bench.sh

clean:
	rm -rf worker/build test-output

# Native core benchmarks (criterion + the seed's SQLite way; see BENCHMARKS.md).
# Takes a few minutes: the 10⁶-event history is built first (not timed).
.PHONY: bench-core
bench-core:
	cargo bench -p tollgate --bench decision --bench ledger_size
	python3 benches/summary.py
