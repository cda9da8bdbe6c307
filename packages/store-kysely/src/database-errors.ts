import { isKeyGuardError, KeyGuardError } from "@keyguard/core";

interface DriverError {
  code?: unknown;
  constraint?: unknown;
  message?: unknown;
}

/** True when a driver error is a unique-constraint violation (SQLite or PostgreSQL). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as DriverError | undefined)?.code;
  return (
    code === "23505" ||
    code === "SQLITE_CONSTRAINT_UNIQUE" ||
    code === "SQLITE_CONSTRAINT_PRIMARYKEY"
  );
}

const UNAVAILABLE_SQLITE = /^SQLITE_(CANTOPEN|READONLY|IOERR|FULL|BUSY|LOCKED|NOTADB|CORRUPT|PERM)/;
const UNAVAILABLE_NODE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EPIPE",
  "EAI_AGAIN",
  // The PostgreSQL pool's own: the database was found out moments ago, so it is not waited on.
  "KEYGUARD_DATABASE_DOWN",
]);

/**
 * True when a driver error means "the database cannot be used right now" (down,
 * unreachable, read-only, full, locked) rather than a mistake in a query.
 */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as DriverError).code;
  if (typeof code === "string") {
    if (UNAVAILABLE_SQLITE.test(code) || UNAVAILABLE_NODE.has(code)) return true;
    // PostgreSQL: 08 connection exception, 57P admin shutdown / crash, 53 insufficient
    // resources, 57014 query_canceled (statement_timeout: the server is overloaded or locked).
    if (/^(08|57P|53)/.test(code) || code === "57014") return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is not queryable|Client was closed and is not queryable/i.test(
    error.message,
  );
}

/**
 * Turns a driver failure into a KeyGuard error the caller can act on; errors that are
 * already KeyGuard errors, and genuine bugs, pass through untouched (with their stack).
 */
export function toStoreError(error: unknown, dialect: string): unknown {
  if (isKeyGuardError(error)) return error;
  // PostgreSQL invalid_catalog_name: the URL names a database the server does not have.
  if ((error as DriverError | undefined)?.code === "3D000") {
    const detail = error instanceof Error ? error.message : String(error);
    return new KeyGuardError(
      "database_unavailable",
      `The PostgreSQL ${detail}: create it (e.g. createdb), or check the database URL.`,
      { cause: error },
    );
  }
  if (isUnavailable(error)) {
    const detail = error instanceof Error ? error.message : String(error);
    return new KeyGuardError(
      "database_unavailable",
      `The ${dialect} database is unavailable: ${detail}`,
      {
        cause: error,
      },
    );
  }
  return error;
}
