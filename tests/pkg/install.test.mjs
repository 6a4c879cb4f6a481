// `npm install` of the built package works: pack pkg/ and install the
// tarball (offline, no registry) into a scratch project, then load it the
// ways a user would: ESM and CommonJS under Node (the nodejs build), the
// `tollgate/web` subpath, and its types from TypeScript.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readdirSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("../../", import.meta.url).pathname;
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });

test("npm pack + npm install of pkg/; ESM, CommonJS, tollgate/web and types", () => {
  const dir = mkdtempSync(join(tmpdir(), "tollgate-consumer-"));
  try {
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }));
    run("npm", ["pack", join(root, "pkg"), "--pack-destination", dir, "--silent"], dir);
    const tgz = readdirSync(dir).find((f) => f.endsWith(".tgz"));
    assert.ok(tgz, "npm pack made a tarball");
    run("npm", ["install", "--offline", "--no-audit", "--no-fund", `./${tgz}`], dir);
    const installed = join(dir, "node_modules", "tollgate");
    for (const f of ["package.json", "README.md", "tollgate.js", "tollgate_bg.wasm", "tollgate.d.ts",
      "web/tollgate.js", "web/tollgate_bg.wasm", "node/tollgate.js", "node/tollgate_bg.wasm"]) {
      assert.ok(existsSync(join(installed, f)), `installed ${f}`);
    }
    writeFileSync(join(dir, "esm.mjs"), `
      import { Tollgate, sniffType } from "tollgate";
      import { createRequire } from "node:module";
      const cjs = createRequire(import.meta.url)("tollgate");
      const web = await import("tollgate/web");
      const tg = new Tollgate({ plans: [{ id: "p", models: ["*"], limits: [] }] });
      const sub = { id: "s", plan: "p", active: true, starts_at: 0 };
      console.log(JSON.stringify({
        code: tg.check(null, sub, { type: "image" }, Date.now()).code,
        sniff: sniffType(new Uint8Array([0x25, 0x50, 0x44, 0x46, 0x2d])),
        same: cjs.Tollgate === Tollgate,
        web: typeof web.default === "function" && typeof web.Tollgate === "function",
      }));
    `);
    const out = JSON.parse(run(process.execPath, ["esm.mjs"], dir));
    assert.deepEqual(out, { code: "ok", sniff: { mime: "application/pdf", ext: "pdf" }, same: true, web: true });

    writeFileSync(join(dir, "use.ts"), `
      import { Tollgate, type Decision, type Action } from "tollgate";
      const action: Action = { type: "validate", model: "m" };
      const d: Decision = new Tollgate({ plans: [] }).check(null, null, action, Date.now());
      export const ok: boolean = d.allowed;
    `);
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
      compilerOptions: { target: "es2022", module: "nodenext", moduleResolution: "nodenext", strict: true, noEmit: true,
        lib: ["es2022", "esnext.disposable", "dom"], types: [] },
      files: ["use.ts"],
    }));
    run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", dir], dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
