// Same answers everywhere (Node): every case of the shared vectors replayed
// by the wasm build must equal the native decision field for field, and
// match the case's own `expect`. The native side is written in the same
// run by `cargo run --example replay_vectors` (make test-pkg).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { conformance } from "./fixtures.mjs";
import { runVectors } from "./vectors-lib.mjs";

const nativePath = new URL("../../target/vectors-native.json", import.meta.url);

test("shared vectors: wasm (Node) = native, field for field", () => {
  assert.ok(existsSync(nativePath), "target/vectors-native.json missing: run `cargo run --example replay_vectors` (make test-pkg does)");
  const native = JSON.parse(readFileSync(nativePath, "utf8"));
  const r = runVectors(native, conformance.replayCase);
  console.log(`node: ${r.cases} cases in ${r.files} vector files compared with native`);
  assert.ok(r.cases > 0, "no vector cases");
  assert.deepEqual(r.failures, []);
});
