# Sourced (bash) by scripts/install-tools.sh and tools/check.sh: where the
# Python client's virtualenv lives. It is keyed on the pinned tools
# (requirements-dev.txt) and the package's metadata (pyproject.toml), in the
# tools cache outside the repository, so every clone on the machine shares it
# and a change of pins makes a new one.
#
#   TOLLGATE_PY_DIR    clients/python of this clone
#   TOLLGATE_PY_VENV   $TOLLGATE_TOOLS/py-<hash>
_tollgate_py_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOLLGATE_PY_DIR="$_tollgate_py_dir"
TOLLGATE_PY_VENV="${TOLLGATE_TOOLS:-$HOME/.cache/tollgate-tools}/py-$(
  cat "$_tollgate_py_dir/requirements-dev.txt" "$_tollgate_py_dir/pyproject.toml" |
    sha256sum | cut -c1-16
)"
export TOLLGATE_PY_DIR TOLLGATE_PY_VENV
unset _tollgate_py_dir
