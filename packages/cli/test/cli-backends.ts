import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyGuard, resolveConfig } from "@keyguard/core";
import { createKyselyStore } from "@keyguard/store-kysely";
import {
  dropSchema,
  dumpKeyGuardTables,
  postgresAvailable,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { afterEach, beforeEach, expect } from "vitest";
import { type CliResult, keyguard } from "./keyguard-process.js";

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
    // keyguard-python's asyncpg spelling, with the schema chosen through libpq's options parameter.
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

/** The backends the CLI suites run on: SQLite, and PostgreSQL when it answers (always in CI). */
export const cliBackends: readonly CliBackend[] = [
  sqliteBackend,
  ...((await postgresAvailable()) ? [postgresBackend] : []),
];

/** What a CLI suite's tests use: the test's own database and the CLI run against it. */
export interface CliHarness {
  /** This test's database (only inside a test or its hooks). */
  readonly db: CliDatabase;
  /** Runs `keyguard args` on this test's database, with `env` added to its variables. */
  run(args: string[], env?: Record<string, string>): Promise<CliResult>;
  /** The JSON a command printed, asserting it succeeded and said nothing on stderr. */
  json(result: CliResult): ReturnType<typeof JSON.parse>;
}

/**
 * Gives each test of the calling `describe` a fresh database of `backend` (made before,
 * disposed of after), and the CLI run against it.
 *
 * @example
 * describe.each(cliBackends)("keyguard audit on $name", (backend) => {
 *   const { run, json } = useCliDatabase(backend);
 *   it("...", async () => expect((await run(["init"])).code).toBe(0));
 * });
 */
export function useCliDatabase(backend: CliBackend): CliHarness {
  let current: CliDatabase | undefined;
  beforeEach(async () => {
    current = await backend.create();
  });
  afterEach(async () => {
    await current?.dispose();
    current = undefined;
  });
  const db = (): CliDatabase => {
    if (current === undefined) throw new Error("the CLI database exists only inside a test");
    return current;
  };
  return {
    get db() {
      return db();
    },
    run: (args, env = {}) => keyguard(args, { cwd: db().cwd, env: { ...db().env, ...env } }),
    json(result) {
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      return JSON.parse(result.stdout);
    },
  };
}
