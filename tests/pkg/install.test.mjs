// `npm install` of the built package works: pack pkg/ and install the
// tarball (offline, no registry) into a scratch project, then load it every
// way the package publishes: `import` and `require` of `tollgate`,
// `tollgate/node` (also as a folder, for resolvers that ignore `exports`),
// `tollgate/web`, and the types of each under TypeScript.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readdirSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("../../", import.meta.url).pathname;
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });

test("npm pack + npm install of pkg/: every published entry point and its types", () => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-consumer-"));
  try {
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }));
    run("npm", ["pack", join(root, "pkg"), "--pack-destination", dir, "--silent"], dir);
    const tgz = readdirSync(dir).find((f) => f.endsWith(".tgz"));
    assert.ok(tgz, "npm pack made a tarball");
    run("npm", ["install", "--offline", "--no-audit", "--no-fund", `./${tgz}`], dir);
    const installed = join(dir, "node_modules", "tollgate");
    for (const f of ["package.json", "README.md", "tollgate.js", "tollgate_bg.wasm", "tollgate.d.ts",
      "web/package.json", "web/tollgate.js", "web/tollgate_bg.wasm", "web/tollgate.d.ts",
      "node/package.json", "node/tollgate.js", "node/tollgate_bg.wasm", "node/tollgate.d.ts"]) {
      assert.ok(existsSync(join(installed, f)), `installed ${f}`);
    }
    // Each way in decides the same (a Vancouver config: zone offsets from
    // Node's Intl), and none carries the test-only replayer.
    const probe = `
      const config = { timezone: "America/Vancouver", plans: [{ id: "p", models: ["*"], limits: [{ metric: "images", window: "day", max: 1 }] }] };
      const sub = { id: "s", plan: "p", active: true, starts_at: 0 };
      const probe = (m) => {
        const tg = new m.Tollgate(config);
        const d = tg.check(null, sub, { type: "image" }, Date.parse("2026-11-24T06:00:00Z"), { explain: true });
        return { code: d.code, resets_at: d.limits[0].resets_at, sniff: m.sniffType(new Uint8Array([0x25, 0x50, 0x44, 0x46, 0x2d])),
          replayCase: typeof m.replayCase, tz: m.timeZoneData().tzdata };
      };`;
    writeFileSync(join(dir, "esm.mjs"), `
      import * as root from "tollgate";
      import * as node from "tollgate/node";
      import * as web from "tollgate/web";
      import { readFileSync } from "node:fs";
      ${probe}
      const bytes = readFileSync(new URL("./node_modules/tollgate/web/tollgate_bg.wasm", import.meta.url));
      await web.default({ module_or_path: bytes });
      console.log(JSON.stringify({ root: probe(root), node: probe(node), web: probe(web), same: root.Tollgate === node.Tollgate }));
    `);
    writeFileSync(join(dir, "cjs.cjs"), `
      ${probe}
      const path = require("node:path");
      console.log(JSON.stringify({
        root: probe(require("tollgate")),
        node: probe(require("tollgate/node")),
        // The folder itself, as resolvers that ignore "exports" load it.
        folder: probe(require(path.join(__dirname, "node_modules", "tollgate", "node"))),
      }));
    `);
    const want = { code: "ok", resets_at: "2026-11-24T07:00:00Z", sniff: { mime: "application/pdf", ext: "pdf" }, replayCase: "undefined" };
    const esm = JSON.parse(run(process.execPath, ["esm.mjs"], dir));
    const cjs = JSON.parse(run(process.execPath, ["cjs.cjs"], dir));
    for (const [way, r] of Object.entries({ ...esm, ...Object.fromEntries(Object.entries(cjs).map(([k, v]) => [`require ${k}`, v])) })) {
      if (way === "same") continue;
      const { tz, ...rest } = r;
      assert.deepEqual(rest, want, way);
      assert.match(tz, /^\d{4}[a-z]$/, way);
    }
    assert.equal(esm.same, true, "import \"tollgate\" under Node is the nodejs build");

    // The types of every entry point, under both module resolutions a
    // TypeScript project may use (node10 ignores "exports": the subfolders'
    // own package.json files answer).
    writeFileSync(join(dir, "use.ts"), `
      import { Tollgate, type Decision, type Action } from "tollgate";
      import { Tollgate as NodeTollgate } from "tollgate/node";
      import initWeb, { Tollgate as WebTollgate, type Prepared } from "tollgate/web";
      const action: Action = { type: "validate", model: "m" };
      const d: Decision = new Tollgate({ plans: [] }).check(null, null, action, Date.now());
      const p: Prepared = new NodeTollgate({ plans: [] }).prepare(null, null);
      const again: Decision = p.check(action, Date.now());
      export const ok: boolean = d.allowed && again.allowed;
      export const init: typeof initWeb = initWeb;
      export const W: typeof WebTollgate = WebTollgate;
    `);
    for (const [module, moduleResolution] of [["nodenext", "nodenext"], ["commonjs", "node10"]]) {
      writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
        compilerOptions: { target: "es2022", module, moduleResolution, strict: true, noEmit: true,
          lib: ["es2022", "esnext.disposable", "dom"], types: [] },
        files: ["use.ts"],
      }));
      run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", dir], dir);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
