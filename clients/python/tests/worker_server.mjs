// The built Worker (worker/build/index.js) in workerd via miniflare, for the
// Python tests: the same harness as the Node Worker tests
// (tests/worker/harness.mjs), on 127.0.0.1 at a free port.
//
//   node clients/python/tests/worker_server.mjs
//
// Prints one JSON line {"url", "jwt_secret", "admin_token"} once the Worker
// answers, then stays up until its standard input closes (the pytest session
// that started it ended, or died) or it gets SIGTERM/SIGINT.

import { start, TEST_VARS } from "../../../tests/worker/harness.mjs";

const worker = await start();
const health = await worker.fetch("/healthz");
if (health.status !== 200) {
  console.error(`worker_server: /healthz answered ${health.status}`);
  await worker.stop();
  process.exit(1);
}

process.stdout.write(
  JSON.stringify({
    url: worker.url,
    jwt_secret: TEST_VARS.TOLLGATE_JWT_SECRET,
    admin_token: TEST_VARS.TOLLGATE_ADMIN_TOKEN,
  }) + "\n",
);

let stopping = false;
async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  try {
    await worker.stop();
  } finally {
    process.exit(code);
  }
}

process.stdin.on("end", () => shutdown(0));
process.stdin.on("close", () => shutdown(0));
process.stdin.resume();
process.on("SIGTERM", () => shutdown(0));
process.on("SIGINT", () => shutdown(0));
