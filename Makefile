# Tollgate developer entry points. Every recipe runs with scripts/env.sh
# sourced: cached cargo tools and node_modules/.bin (Node 24, wrangler,
# miniflare, wasm-opt) come first on PATH.
#
#   make tools   install/verify every tool (idempotent, cached outside the repo)
#   make test    everything CI runs (.ci/run calls this)
#   make dev     wrangler dev on http://127.0.0.1:8787
#   make bench   load benchmark against a local wrangler dev
#   make fmt / make clippy / make worker
#   make cli     the `tollgate` command (target/release/tollgate)

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test
ENV := . scripts/env.sh &&
DEV_PORT ?= 8787

.PHONY: tools fmt fmt-check clippy clippy-wasm test-core worker test-worker \
        test dev bench clean token

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

# The core's unit, vector and property tests, and the Worker crate's pure
# unit tests (JWT, CORS, ids) natively.
test-core:
	cargo test -p tollgate
	cargo test -p tollgate-worker

# worker/build/index.js + index_bg.wasm. worker-build gets wasm-bindgen and
# wasm-opt from scripts/env.sh (it would otherwise try GitHub). Like every
# target a person may type first, it installs what it needs (tools).
worker: tools
	scripts/build-worker.sh
	@ls -l worker/build/index.js worker/build/*.wasm 2>/dev/null | awk '{print "  " $$5 "\t" $$9}'

# Worker HTTP tests: miniflare@4 (workerd) on 127.0.0.1, Node 24.
# (Node 22+ reads `node --test` arguments as files/globs, not directories:
# a bare `tests/worker/` fails with "Cannot find module"; hence the glob.)
# tests/worker/vectors.test.mjs replays the shared vectors over HTTP against
# the native decisions in target/vectors-native.json (written first).
test-worker: worker
	$(ENV) cargo run -q --example replay_vectors
	$(ENV) node --version && node --test --test-reporter=spec 'tests/worker/**/*.test.mjs'

# Gateway mode (issue #5, docs/gateway.md): the official `openai` npm client
# against the built Worker in miniflare, forwarding to a fake OpenAI-compatible
# upstream on 127.0.0.1 (tests/gateway/fake-upstream.mjs).
.PHONY: test-gateway bench-gateway
test-gateway: worker
	$(ENV) node --test --test-reporter=spec 'tests/gateway/*.test.mjs'

# The gateway's added latency and throughput against a direct call to the
# fake upstream, same run (BENCHMARKS.md, "Gateway").
bench-gateway: tools worker
	$(ENV) node scripts/bench-gateway.mjs

# npm package (SPEC §6; pkg/README.md): cargo (profile pkg) + wasm-bindgen for
# bundler (pkg/), web (pkg/web/) and nodejs (pkg/node/), wasm-opt from npm
# binaryen@132, and the test build with `replayCase` (target/pkg-test/).
# Skipped when nothing it is built from changed. PKG_TZ=bundled compiles
# every zone's data in instead of asking the browser's Intl (pkg/README.md).
.PHONY: pkg test-pkg www test-www bench-pkg
pkg: tools
	$(ENV) scripts/pkg-build.sh

# Clippy of the bindings; the native decision of every shared vector
# (target/vectors-native.json) that the wasm build must equal field for field
# in Node and in headless Chromium; the JS API under Node; the .d.ts under
# tsc --strict.
test-pkg: pkg
	$(ENV) cargo clippy -p tollgate --no-default-features --features wasm,conformance --target wasm32-unknown-unknown -- -D warnings
	$(ENV) cargo clippy -p tollgate --features wasm --target wasm32-unknown-unknown -- -D warnings
	$(ENV) cargo run -q --example replay_vectors
	$(ENV) tsc -p tests/pkg/tsconfig.json
	$(ENV) node --test --test-reporter=spec 'tests/pkg/*.test.mjs'

# The demo page on http://127.0.0.1:$(WWW_PORT)/www/ (web build + a tiny static server).
WWW_PORT ?= 8080
www: tools
	$(ENV) PKG_TARGETS=web scripts/pkg-build.sh
	$(ENV) node scripts/pkg-serve.mjs $(WWW_PORT)

# The demo page in headless Chromium (playwright-core, /usr/bin/chromium);
# screenshots in test-output/.
test-www: pkg
	$(ENV) node --test --test-reporter=spec 'tests/www/*.test.mjs'

# wasm under Node vs native, back to back; instantiation in Node and in
# headless Chromium; .wasm size and what dominates it (BENCHMARKS.md,
# "Browser package").
bench-pkg: tools pkg
	$(ENV) scripts/pkg-bench.sh

# The size budget (issue 9): the package's and the Worker's .wasm, gzip -9,
# against 120 KiB and 300 KiB; fails printing the sizes (BENCHMARKS.md,
# "Browser package", says where the bytes go). `make test` runs it.
.PHONY: check-size check-deploy
check-size: pkg worker
	scripts/size-budget.sh

# The Worker bundle as `wrangler deploy` would upload it (--dry-run, no
# account): it must bundle, and stay under the free plan's 3 MiB compressed.
check-deploy: worker
	scripts/deploy-check.sh

# The Python client and its Django integration (clients/python, SPEC §13):
# ruff, mypy --strict on the package, then pytest against the built Worker,
# which the test session starts itself in workerd (miniflare, 127.0.0.1). The
# virtualenv ($$TOLLGATE_TOOLS/py-<hash>) comes from scripts/install-tools.sh.
.PHONY: test-python
test-python: worker
	$(ENV) clients/python/tools/check.sh

test: tools fmt-check clippy test-core test-worker test-cli test-admin test-gateway test-pkg test-www test-python check-deploy check-size
	@echo "make test: all passed"

# The `tollgate` command (cli/, SPEC §12): native only, never in a wasm build.
.PHONY: cli test-cli
cli:
	cargo build --release -p tollgate-cli
	@ls -l target/release/tollgate | awk '{print "  " $$5 "\t" $$9}'

# The real binary (cli/tests/): local subcommands, and the remote ones
# against the built Worker in workerd (cli/tests/worker-launcher.mjs starts
# it through tests/worker/harness.mjs; those tests are #[ignore]d in a bare
# `cargo test`, which has no Worker build, and run here). cli/tests/grant.rs
# waits for the Worker's grants route (SPEC §9): add `--test grant` then.
test-cli: worker
	$(ENV) cargo test -p tollgate-cli --bins --test local --test remote --test grant -- --include-ignored

# The admin console (admin/, served by the Worker at /admin/) in headless
# Chromium against the built Worker in workerd; screenshots in test-output/.
.PHONY: test-admin
test-admin: worker
	$(ENV) node --test --test-reporter=spec 'tests/admin/*.test.mjs'

# Local dev server. wrangler runs the [build] command from wrangler.toml itself
# (and again when worker/src or src change), so no separate build here.
.dev.vars:
	cp .dev.vars.example .dev.vars

# Default config (worker/default-config.json, revision 0) until a
# PUT /v1/admin/config; state persists in .wrangler/state across restarts.
dev: tools .dev.vars
	$(ENV) wrangler dev --ip 127.0.0.1 --port $(DEV_PORT)

# A dev JWT for the local Worker: make -s token USER=alice PLAN=basic
# (30-day subscription; secret from .dev.vars). SCOPE is the token's `scope`
# claim (SPEC §5): "reserve settle" (default) is the platform backend's;
# SCOPE=usage is a browser's (read and pre-check only); SCOPE=gateway a
# gateway client's; SCOPE= (empty) mints a token without the claim (= usage).
PLAN ?= basic
SCOPE ?= reserve settle
token: .dev.vars
	@$(ENV) node scripts/token.mjs --user "$(USER)" --plan "$(PLAN)" --scope "$(SCOPE)"

bench: tools worker
	$(ENV) scripts/bench.sh

clean:
	rm -rf worker/build test-output

# Native core benchmarks (criterion + the seed's SQLite way; see BENCHMARKS.md).
# Takes a few minutes: the 10⁶-event history is built first (not timed).
.PHONY: bench-core
bench-core: tools
	cargo bench -p tollgate --bench decision --bench ledger_size --bench credits
	python3 benches/summary.py
