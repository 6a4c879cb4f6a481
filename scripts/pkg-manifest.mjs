// Writes pkg/package.json for the npm package `tollgate` (see pkg/README.md):
// the bundler build at the root, `tollgate/web` and `tollgate/node` as
// subpath exports, and Node (without a bundler) resolving `tollgate` to the
// CommonJS nodejs build.
import { readFileSync, writeFileSync, existsSync } from "node:fs";

const cargo = readFileSync("Cargo.toml", "utf8");
const field = (k) => (cargo.match(new RegExp(`^${k} = "([^"]*)"`, "m")) || [])[1];

const files = ["README.md", "package.json"];
for (const f of ["tollgate.js", "tollgate_bg.js", "tollgate_bg.wasm", "tollgate.d.ts", "tollgate_bg.wasm.d.ts"]) {
  if (existsSync(`pkg/${f}`)) files.push(f);
}
for (const dir of ["snippets", "web", "node"]) if (existsSync(`pkg/${dir}`)) files.push(`${dir}/`);

const pkg = {
  name: "tollgate",
  version: field("version"),
  description: field("description"),
  license: field("license"),
  repository: field("repository"),
  type: "module",
  main: "tollgate.js",
  module: "tollgate.js",
  types: "tollgate.d.ts",
  sideEffects: ["./tollgate.js", "./snippets/*", "./web/tollgate.js"],
  files,
  exports: {
    ".": {
      types: "./tollgate.d.ts",
      node: { types: "./node/tollgate.d.ts", default: "./node/tollgate.js" },
      default: "./tollgate.js",
    },
    "./web": { types: "./web/tollgate.d.ts", default: "./web/tollgate.js" },
    "./node": { types: "./node/tollgate.d.ts", default: "./node/tollgate.js" },
    "./bundler": { types: "./tollgate.d.ts", default: "./tollgate.js" },
    "./tollgate_bg.wasm": "./tollgate_bg.wasm",
    "./web/tollgate_bg.wasm": "./web/tollgate_bg.wasm",
    "./package.json": "./package.json",
  },
  keywords: ["quota", "rate-limit", "wasm", "persian"],
  // The CommonJS build loads its JS snippet (an ES module, src/wasm/values.rs)
  // with require(), which these versions do without a flag.
  engines: { node: "^20.19.0 || >=22.12.0" },
};
writeFileSync("pkg/package.json", JSON.stringify(pkg, null, 2) + "\n");
