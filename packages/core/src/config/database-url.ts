import { isAbsolute, resolve } from "node:path";
import { KeyGuardError } from "../errors/keyguard-error.js";

/** Where the data lives, decided from `databaseUrl`. */
export type DatabaseTarget =
  | { readonly dialect: "sqlite"; readonly filename: string }
  | { readonly dialect: "postgres"; readonly connectionString: string };

/**
 * Reads a database URL in any spelling KeyGuard accepts:
 *
 * - `sqlite:keyguard.db` (relative to `cwd`), `sqlite:/abs/path.db`, `sqlite::memory:`
 * - `sqlite:///keyguard.db` / `sqlite:////abs/path.db` and keyguard-python's
 *   `sqlite+aiosqlite:///...` (SQLAlchemy's three slashes = relative, four = absolute)
 * - `postgres://...`, `postgresql://...` and keyguard-python's `postgresql+asyncpg://...`
 *
 * Anything else is an `invalid_config` error that names the field and the accepted forms.
 */
export function parseDatabaseUrl(url: string, cwd: string = process.cwd()): DatabaseTarget {
  const trimmed = url.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === "postgres" || scheme === "postgresql" || scheme === "postgresql+asyncpg") {
    const connectionString = `postgresql:${trimmed.slice(scheme.length + 1)}`;
    try {
      const parsed = new URL(connectionString);
      if (!parsed.host) throw new Error("no host");
    } catch (cause) {
      throw invalid(url, "it is not a valid PostgreSQL URL (postgres://user@host:5432/db)", cause);
    }
    return { dialect: "postgres", connectionString };
  }
  if (scheme === "sqlite" || scheme === "sqlite+aiosqlite" || scheme === "sqlite3") {
    let path = trimmed.slice(scheme.length + 1);
    if (path.startsWith("///"))
      path = path.slice(3); // sqlite:///rel, sqlite:////abs
    else if (path.startsWith("//")) path = path.slice(2);
    path = decodeURIComponent(path.split("?")[0] ?? "");
    if (path === "") throw invalid(url, "it names no file (e.g. sqlite:keyguard.db)");
    if (path === ":memory:") return { dialect: "sqlite", filename: ":memory:" };
    return { dialect: "sqlite", filename: isAbsolute(path) ? path : resolve(cwd, path) };
  }
  throw invalid(
    url,
    scheme
      ? `the scheme "${scheme}:" is not supported`
      : "it has no scheme (did you mean sqlite:<file>?)",
  );
}

function invalid(url: string, why: string, cause?: unknown): KeyGuardError {
  return new KeyGuardError(
    "invalid_config",
    `databaseUrl "${redactUrl(url)}" is unusable: ${why}. Use sqlite:<file>, sqlite:/abs/path or postgres://user@host:5432/db.`,
    { cause, details: { field: "databaseUrl" } },
  );
}

/** Hides a password in a URL before it goes into a message or a log line. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, "$1:***@");
}
