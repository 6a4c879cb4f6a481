# Source this file (". scripts/env.sh") to use the project's tools:
#   - cargo tools from the versioned cache (scripts/install-tools.sh),
#   - node_modules/.bin first (Node 24, wrangler, miniflare, wasm-opt).
# Works from bash and from make recipes run with bash.

_tollgate_env_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
# shellcheck source=scripts/versions.sh
. "$_tollgate_env_root/scripts/versions.sh"

_tollgate_bins="$_tollgate_env_root/node_modules/.bin"
_tollgate_bins="$_tollgate_bins:$TOLLGATE_TOOLS/cargo-wasm-bindgen-cli-$WASM_BINDGEN_VERSION/bin"
_tollgate_bins="$_tollgate_bins:$TOLLGATE_TOOLS/cargo-wasm-pack-$WASM_PACK_VERSION/bin"
_tollgate_bins="$_tollgate_bins:$TOLLGATE_TOOLS/cargo-worker-build-$WORKER_BUILD_VERSION/bin"
case ":$PATH:" in
  *":$_tollgate_bins:"*) ;;
  *) PATH="$_tollgate_bins:$PATH" ;;
esac
export PATH

export TOLLGATE_TOOLS
# worker-build ignores PATH and would try GitHub for these: point it at ours.
export WASM_BINDGEN_BIN="$TOLLGATE_TOOLS/cargo-wasm-bindgen-cli-$WASM_BINDGEN_VERSION/bin/wasm-bindgen"
export WASM_OPT_BIN="$_tollgate_env_root/node_modules/.bin/wasm-opt"
if [ -x "$_tollgate_env_root/node_modules/.bin/esbuild" ]; then
  export ESBUILD_BIN="$_tollgate_env_root/node_modules/.bin/esbuild"
fi
export WRANGLER_SEND_METRICS=false
export npm_config_update_notifier=false

unset _tollgate_env_root _tollgate_bins
