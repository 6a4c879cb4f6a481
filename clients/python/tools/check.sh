#!/usr/bin/env bash
# `make test-python`: ruff, mypy --strict on the package, then pytest against
# the built Worker (the session starts it: tests/worker_server.mjs). Run with
# scripts/env.sh sourced (Node 24 on PATH); the virtualenv comes from
# scripts/install-tools.sh.
set -euo pipefail
# shellcheck source=clients/python/tools/venv.sh
. "$(dirname "${BASH_SOURCE[0]}")/venv.sh"
cd "$TOLLGATE_PY_DIR"

py="$TOLLGATE_PY_VENV/bin"
if [ ! -f "$TOLLGATE_PY_VENV/.tollgate-complete" ]; then
  echo "test-python: no virtualenv at $TOLLGATE_PY_VENV; run scripts/install-tools.sh (make tools)" >&2
  exit 1
fi
# The venv holds a copy of the package (pip install ./clients/python) shared
# by every clone: this clone's source comes first.
export PYTHONPATH="$TOLLGATE_PY_DIR/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1

echo "== ruff"
"$py/ruff" check .
"$py/ruff" format --check .
echo "== mypy --strict (package)"
"$py/mypy" --strict src/tollgate
echo "== pytest"
rc=0
"$py/pytest" -p no:cacheprovider "$@" || rc=$?
if [ "$rc" = 5 ]; then
  # Exit 5 is "no tests collected": here that means the suite went missing.
  echo "test-python: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
