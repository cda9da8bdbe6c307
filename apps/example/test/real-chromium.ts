import { existsSync } from "node:fs";

/** Debian's Chromium, driven by playwright-core (no browser download: no internet here). */
export const CHROMIUM = "/usr/bin/chromium";

/** The machine has no internet: these keep Chromium from trying to reach Google at start. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Whether the browser tests can run. Without Chromium they are skipped loudly on a
 * developer's machine and fail under CI, which must run them.
 */
export function chromiumAvailable(suite: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  const message = `Chromium is not installed at ${CHROMIUM} (Debian package "chromium").`;
  if (process.env.CI === "true") throw new Error(`${message} CI must run ${suite}.`);
  console.warn(`\n!!! SKIPPING ${suite}: ${message}\n`);
  return false;
}
