import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { KeyGuardError } from "@keyguard/core";
import { loadOptionalModule } from "@keyguard/core/internal";
import type BetterSqlite3 from "better-sqlite3";

/** better-sqlite3's `Database` constructor. */
export type BetterSqlite3Database = typeof BetterSqlite3;

/** What is read from better-sqlite3's package.json before its native binding is loaded. */
export interface SqliteDriverManifest {
  readonly version: string;
  readonly engines?: { readonly node?: string };
}

/**
 * The oldest Node major each better-sqlite3 major runs on, where that is above KeyGuard's own
 * floor (Node 20). 13.x is built against V8 APIs Node 20 does not have: loading it there kills
 * the process with SIGSEGV (exit 139) before anything is printed, so it must never be loaded.
 */
const KNOWN_NODE_FLOORS: ReadonlyArray<{
  readonly driverMajor: number;
  readonly nodeMajor: number;
}> = [{ driverMajor: 13, nodeMajor: 22 }];

const majorOf = (version: string): number => Number.parseInt(version.replace(/^v/, ""), 10);

/** The Node major an `engines.node` of the form `>=22` (or `>= 22.1.0`) asks for at least. */
function enginesFloor(range: string | undefined): number | undefined {
  const match = range === undefined ? null : /^\s*>=\s*v?(\d+)/.exec(range);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/**
 * Why the installed better-sqlite3 cannot run on this Node, or `undefined` when it can. Pure:
 * the caller reads the manifest and passes the Node version.
 *
 * @example
 * ```ts
 * sqliteDriverIncompatibility({ version: "13.0.0", engines: { node: ">=22" } }, "20.19.0");
 * // "better-sqlite3 13.0.0 is installed, but it needs Node 22 or newer and this is Node 20.19.0 ..."
 * ```
 */
export function sqliteDriverIncompatibility(
  manifest: SqliteDriverManifest,
  nodeVersion: string,
): string | undefined {
  const driverMajor = majorOf(manifest.version);
  const nodeMajor = majorOf(nodeVersion);
  if (!Number.isFinite(driverMajor) || !Number.isFinite(nodeMajor)) return undefined;
  const floors = KNOWN_NODE_FLOORS.filter((floor) => driverMajor >= floor.driverMajor).map(
    (floor) => floor.nodeMajor,
  );
  const declared = enginesFloor(manifest.engines?.node);
  if (declared !== undefined) floors.push(declared);
  const needed = Math.max(0, ...floors);
  if (nodeMajor >= needed) return undefined;
  return (
    `better-sqlite3 ${manifest.version} is installed, but it needs Node ${needed} or newer and ` +
    `this is Node ${nodeVersion.replace(/^v/, "")} (loading it would crash the process). ` +
    "Install the version that supports this Node: npm install better-sqlite3@12"
  );
}

/**
 * Loads better-sqlite3 as resolved from `from` (default: this module, which is where a plain
 * `import("better-sqlite3")` would look), after reading its package.json: a driver built for
 * a newer Node is a `driver_incompatible` error naming both versions, not a segfault, and a
 * missing one is `driver_missing`. `from` and `nodeVersion` exist for tests.
 */
export async function loadBetterSqlite3(
  options: { from?: string | URL; nodeVersion?: string } = {},
): Promise<BetterSqlite3Database> {
  const require = createRequire(options.from ?? import.meta.url);
  const manifestPath = await loadOptionalModule(
    "better-sqlite3",
    "The SQLite store (databaseUrl sqlite:...)",
    async () => require.resolve("better-sqlite3/package.json"),
  );
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as SqliteDriverManifest;
  const problem = sqliteDriverIncompatibility(manifest, options.nodeVersion ?? process.version);
  if (problem !== undefined) throw new KeyGuardError("driver_incompatible", problem);
  return require("better-sqlite3") as BetterSqlite3Database;
}
