// Starts the built Worker in workerd (tests/worker/harness.mjs) for the CLI's
// Rust tests (cli/tests/remote.rs): prints one JSON line
// {"url", "admin_token", "jwt_secret"} on stdout, then runs until its stdin
// closes (the test process ends or drops it) and stops the Worker.
//
//   node cli/tests/worker-launcher.mjs [--persist DIR]

import { start, TEST_VARS } from "../../tests/worker/harness.mjs";

const i = process.argv.indexOf("--persist");
const persistDir = i > 0 ? process.argv[i + 1] : undefined;
const w = await start(persistDir ? { persistDir } : {});
process.stdout.write(
  JSON.stringify({
    url: w.url,
    admin_token: TEST_VARS.TOLLGATE_ADMIN_TOKEN,
    jwt_secret: TEST_VARS.TOLLGATE_JWT_SECRET,
  }) + "\n",
);

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  await w.stop();
  process.exit(0);
}
process.stdin.on("end", shutdown);
process.stdin.on("close", shutdown);
process.on("SIGTERM", shutdown);
process.stdin.resume();
