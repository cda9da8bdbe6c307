import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyGuard, resolveConfig } from "@keyguard/core";
import { createKyselyStore } from "@keyguard/store-kysely";
import {
  dropSchema,
  dumpKeyGuardTables,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";

/** A database the CLI is pointed at, plus ways for the test to look inside it. */
export interface CliDatabase {
  /** Working directory of the CLI process (the SQLite default file lives here). */
  readonly cwd: string;
  /** KEYGUARD_* variables selecting this database (none: the default sqlite:keyguard.db). */
  readonly env: Record<string, string>;
  /** Everything persisted, as text. */
  dump(): Promise<string>;
  /** A KeyGuard on the same database, for setting up usage the CLI then reports. */
  openKeyGuard(secretKey: string): Promise<KeyGuard>;
  dispose(): Promise<void>;
}

export interface CliBackend {
  readonly name: string;
  /** What the CLI says after a change about how soon running servers see it. */
  readonly propagation: string;
  create(): Promise<CliDatabase>;
}

export const sqliteBackend: CliBackend = {
  name: "SQLite (default ./keyguard.db)",
  propagation: "Running servers on this database file see this within 1 s.",
  async create() {
    const cwd = mkdtempSync(join(tmpdir(), "keyguard-cli-"));
    return {
      cwd,
      env: {},
      async dump() {
        return readdirSync(cwd)
          .map((file) => readFileSync(join(cwd, file)).toString("latin1"))
          .join("\n");
      },
      async openKeyGuard(secretKey) {
        const store = await createKyselyStore({ url: `sqlite:${join(cwd, "keyguard.db")}` });
        return new KeyGuard({ config: resolveConfig({ secretKey }, {}), store });
      },
      async dispose() {
        rmSync(cwd, { recursive: true, force: true });
      },
    };
  },
};

export const postgresBackend: CliBackend = {
  name: "PostgreSQL (KEYGUARD_DATABASE_URL)",
  propagation:
    "Running servers see this at once (PostgreSQL notifies them); servers that use Redis only with --redis here.",
  async create() {
    const cwd = mkdtempSync(join(tmpdir(), "keyguard-cli-pg-"));
    const schema = uniqueSchemaName("cli");
    await withPostgresClient((client) => client.query(`create schema ${schema}`));
    // The seed's asyncpg spelling, with the schema chosen through libpq's options parameter.
    const url = `${TEST_POSTGRES_URL.replace(/^postgres(ql)?:/, "postgresql+asyncpg:")}?options=-c%20search_path%3D${schema}`;
    return {
      cwd,
      env: { KEYGUARD_DATABASE_URL: url },
      dump: () => dumpKeyGuardTables(schema),
      async openKeyGuard(secretKey) {
        const store = await createKyselyStore({ url });
        return new KeyGuard({ config: resolveConfig({ secretKey }, {}), store });
      },
      async dispose() {
        rmSync(cwd, { recursive: true, force: true });
        await dropSchema(schema);
      },
    };
  },
};
