# Tool versions, shared by install-tools.sh and env.sh. Sourced, not run.
# Root of the per-version tool cache (outside the repository).
TOLLGATE_TOOLS="${TOLLGATE_TOOLS:-$HOME/.cache/tollgate-tools}"
# wasm-bindgen-cli must equal the wasm-bindgen crate in Cargo.lock exactly.
_tollgate_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' "$_tollgate_root/Cargo.lock")"
if [ -z "$WASM_BINDGEN_VERSION" ]; then
  echo "versions.sh: cannot read the wasm-bindgen version from Cargo.lock" >&2
  return 1 2>/dev/null || exit 1
fi
WASM_PACK_VERSION=0.15.1
WORKER_BUILD_VERSION=0.8.7
unset _tollgate_root
