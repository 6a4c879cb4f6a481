// Headless Chromium (/usr/bin/chromium from apt) driven by playwright-core,
// as TOOLCHAIN.md prescribes: never `npx playwright install`.
import { chromium } from "playwright-core";
import { existsSync } from "node:fs";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run"];

/** Why the browser tests cannot run here, or null. */
export function missingBrowser() {
  return existsSync(CHROMIUM) ? null : `${CHROMIUM} not found (scripts/install-tools.sh installs chromium with apt)`;
}

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
}
