import { realpathSync } from "node:fs";
import { type DatabaseTarget, KeyGuardError } from "@keyguard/core";
import { parseDatabaseUrl } from "@keyguard/core/internal";

/**
 * A database named on the command line (`--from`, `--to`): a URL in any spelling
 * `databaseUrl` accepts, or a bare path to a SQLite file (`keyguard.db`).
 */
export function parseDatabaseArgument(text: string, flag: string, cwd: string): DatabaseTarget {
  const value = text.trim();
  if (value === "")
    throw new KeyGuardError(
      "invalid_input",
      `${flag} needs a database (a SQLite file or a postgres:// URL)`,
    );
  const hasScheme = /^[a-z][a-z0-9+.-]*:/i.test(value) && !/^[a-z]:[\\/]/i.test(value);
  try {
    return parseDatabaseUrl(hasScheme ? value : `sqlite:${value}`, cwd);
  } catch (error) {
    // Core names its own field (databaseUrl); here the user typed the flag.
    if (error instanceof KeyGuardError) {
      throw new KeyGuardError("invalid_input", error.message.replace(/^databaseUrl\b/, flag), {
        cause: error,
      });
    }
    throw error;
  }
}

/** Whether two targets are the same database (the same file, or the same connection string). */
export function sameDatabase(a: DatabaseTarget, b: DatabaseTarget): boolean {
  if (a.dialect === "sqlite" && b.dialect === "sqlite") {
    return canonicalPath(a.filename) === canonicalPath(b.filename);
  }
  if (a.dialect === "postgres" && b.dialect === "postgres") {
    return a.connectionString === b.connectionString;
  }
  return false;
}

function canonicalPath(filename: string): string {
  try {
    return realpathSync(filename);
  } catch {
    return filename;
  }
}
