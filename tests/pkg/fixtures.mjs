// Shared inputs for the package tests: a fixed config of their own
// (tests/pkg/config.json: a free plan and a premium plan; the demo page uses
// the Worker's worker/default-config.json instead), a premium subscription
// and a fixed clock.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const root = new URL("../../", import.meta.url);

/** The nodejs build of the package (CommonJS), as shipped. */
export const pkg = require("../../pkg/node/tollgate.js");
/**
 * The same code built with the `replayCase` conformance export (feature
 * `conformance`, target/pkg-test/ from `make pkg`): the shared vectors are
 * replayed through it. The shipped package does not carry the replayer.
 */
export const conformance = require("../../target/pkg-test/node/tollgate.js");
export const config = JSON.parse(readFileSync(new URL("tests/pkg/config.json", root), "utf8"));

/** 2026-11-23 22:10 in Tehran. */
export const NOW = Date.parse("2026-11-23T18:40:00Z");
export const premium = { id: "sub-42", plan: "premium", active: true, starts_at: 1790000000, ends_at: 1800000000 };
export const free = { id: "sub-7", plan: "free", active: true, starts_at: 1790000000, ends_at: null };

export const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
export const JPEG = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0]);
export const PDF = new TextEncoder().encode("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n");
export const TEXT = new TextEncoder().encode("سلام! this is a plain text note.\n");

export const PERSIAN = /[\u0600-\u06FF]/;
