// Runs a wasm32-wasip1 program under Node's WASI (used by pkg-bench.mjs for
// tests/pkg/wasi-bench): node scripts/pkg-wasi-run.mjs PROGRAM.wasm ROOT [ARGS...]
// ROOT is preopened (read/write) and passed as TOLLGATE_ROOT.
import { readFileSync } from "node:fs";
import { WASI } from "node:wasi";

const [file, root, ...args] = process.argv.slice(2);
const wasi = new WASI({
  version: "preview1",
  args: [file, ...args],
  env: { TOLLGATE_ROOT: root },
  preopens: { [root]: root },
});
const module = await WebAssembly.compile(readFileSync(file));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
