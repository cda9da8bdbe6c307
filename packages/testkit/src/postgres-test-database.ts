import { randomBytes } from "node:crypto";
import pg from "pg";

/** The PostgreSQL server the tests use (trust auth, database `test`). */
export const TEST_POSTGRES_URL =
  process.env.KEYGUARD_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/**
 * Whether the test PostgreSQL server answers. With `CI=true` an unreachable server is an
 * error (CI must run these suites, never skip them); locally the suite is skipped with a
 * loud message.
 */
export async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({
    connectionString: TEST_POSTGRES_URL,
    connectionTimeoutMillis: 3_000,
  });
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch (error) {
    const message = `PostgreSQL is not answering at ${TEST_POSTGRES_URL} (${(error as Error).message}).`;
    if (process.env.CI === "true") {
      throw new Error(
        `${message} CI must run the PostgreSQL suites: start the server (see README).`,
      );
    }
    console.warn(`\n!!! SKIPPING PostgreSQL tests: ${message}\n`);
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A fresh, uniquely named schema for one test (so test files can run in parallel). */
export function uniqueSchemaName(label = "t"): string {
  return `kg_${label}_${randomBytes(6).toString("hex")}`;
}

/** Runs SQL against the test server outside any store (set-up, inspection, clean-up). */
export async function withPostgresClient<T>(
  fn: (client: pg.Client) => Promise<T>,
  schema?: string,
): Promise<T> {
  const client = new pg.Client({
    connectionString: TEST_POSTGRES_URL,
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export function dropSchema(schema: string): Promise<void> {
  return withPostgresClient(async (client) => {
    await client.query(`drop schema if exists "${schema}" cascade`);
  });
}

/** Every row of KeyGuard's tables in `schema`, as JSON text: to search for secrets. */
export function dumpKeyGuardTables(schema: string): Promise<string> {
  return withPostgresClient(async (client) => {
    const rows: unknown[] = [];
    for (const table of ["organizations", "api_keys", "usage_logs", "usage_rollups"]) {
      rows.push((await client.query(`select * from "${schema}"."${table}"`)).rows);
    }
    return JSON.stringify(rows);
  });
}
