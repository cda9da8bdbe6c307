import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard, isKeyGuardError } from "@keyguard/core";
import { loadOptionalModule, timeOrderedId, usageSpoolFor } from "@keyguard/core/internal";
import {
  dropSchema,
  postgresAvailable,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { afterEach, describe, expect, it } from "vitest";

const pgAvailable = await postgresAvailable();

describe("createKeyGuard", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("works with zero infrastructure: a SQLite file from databaseUrl, migrated", async () => {
    const dir = mkdtempSync(join(tmpdir(), "keyguard-create-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "keyguard.db");
    const kg = await createKeyGuard(
      { secretKey: "my-secret", databaseUrl: `sqlite:${path}` },
      { env: {} },
    );
    cleanups.push(() => kg.close());
    expect(existsSync(path)).toBe(true);
    expect(kg.store.dialect).toBe("sqlite");
    await kg.createOrganization("My Project");
    const { rawKey } = await kg.createApiKey({ organization: "My Project", label: "dev-key" });
    expect((await kg.verifyKey(rawKey)).outcome).toBe("valid");
  });

  it("reads keyguard-python's sqlite+aiosqlite URL from KEYGUARD_DATABASE_URL", async () => {
    const dir = mkdtempSync(join(tmpdir(), "keyguard-create-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const kg = await createKeyGuard(
      {},
      {
        env: {
          KEYGUARD_SECRET_KEY: "secret-from-env",
          KEYGUARD_DATABASE_URL: `sqlite+aiosqlite:///${join(dir, "env.db")}`,
        },
      },
    );
    cleanups.push(() => kg.close());
    expect(existsSync(join(dir, "env.db"))).toBe(true);
  });

  it("fails with a clear error, and leaves nothing open, when the database cannot be used", async () => {
    const error = await createKeyGuard(
      { secretKey: "my-secret", databaseUrl: "sqlite:/no/such/dir/kg.db" },
      { env: {} },
    ).catch((e: unknown) => e);
    expect(isKeyGuardError(error, "database_unavailable")).toBe(true);
    expect((error as Error).message).toMatch(/\/no\/such\/dir does not exist/);

    const refused = await createKeyGuard(
      { secretKey: "my-secret", databaseUrl: "postgres://nobody@127.0.0.1:1/none" },
      { env: {} },
    ).catch((e: unknown) => e);
    expect(isKeyGuardError(refused, "database_unavailable")).toBe(true);
    expect((refused as Error).message).toMatch(/postgres database is unavailable.*ECONNREFUSED/);
  });

  it("replays a spool whose file holds a row the store refuses, writing the others", async () => {
    const dir = mkdtempSync(join(tmpdir(), "keyguard-create-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "keyguard.db");
    const first = await createKeyGuard(
      { secretKey: "spool-secret", databaseUrl: `sqlite:${path}` },
      { env: {} },
    );
    await first.createOrganization("Acme");
    const { key } = await first.createApiKey({ organization: "Acme", label: "k" });
    await first.close();
    // What a shutdown during an outage spooled: the application also recorded usage for a
    // key id the database has no key for (recordUsage takes any), which the store refuses.
    const spool = usageSpoolFor({ dialect: "sqlite", filename: path }, { maxSpoolBytes: 1e6 });
    const at = Date.now() - 60_000;
    const event = (keyId: string, n: number) => ({
      id: timeOrderedId(at + n),
      keyId,
      path: "/api/data",
      method: "GET",
      statusCode: 200,
      latencyMs: 1,
      ipAddress: null,
      timestamp: new Date(at + n),
      requestCount: 2,
      charged: true,
    });
    await spool?.save([event(key.id, 1), event("no-such-key", 2), event(key.id, 3)]);
    const warnings: string[] = [];
    const reported: unknown[] = [];
    const second = await createKeyGuard(
      { secretKey: "spool-secret", databaseUrl: `sqlite:${path}` },
      {
        env: {},
        onWarning: (_code, message) => warnings.push(message),
        onBackgroundError: (error) => reported.push(error),
      },
    );
    cleanups.push(() => second.close());
    // The rows the store takes are written, and the file does not block every later start.
    expect(await second.store.countAllowedRequests(key.id, new Date(at - 1_000))).toBe(4);
    expect(readdirSync(dir).filter((name) => name.includes("usage-spool"))).toEqual([]);
    expect(warnings.join("\n")).toMatch(/1 row\(s\) the store refused were dropped/);
    expect(reported).toEqual([]);
  });

  it("names the package to install when a driver is missing", async () => {
    const error = await loadOptionalModule(
      "keyguard-no-such-driver",
      "The test store",
      () => import("keyguard-no-such-driver" as string),
    ).catch((e: unknown) => e);
    expect(isKeyGuardError(error, "driver_missing")).toBe(true);
    expect((error as Error).message).toBe(
      'The test store needs the "keyguard-no-such-driver" package, which is not installed. Install it with: npm install keyguard-no-such-driver',
    );
  });

  it.runIf(pgAvailable)("uses PostgreSQL for a postgresql+asyncpg:// URL", async () => {
    const schema = uniqueSchemaName("create");
    cleanups.push(() => dropSchema(schema));
    await withPostgresClient((c) => c.query(`create schema ${schema}`));
    // The schema is chosen through the URL's own options parameter, as a user could.
    const url = `${TEST_POSTGRES_URL.replace(/^postgres(ql)?:/, "postgresql+asyncpg:")}?options=-c%20search_path%3D${schema}`;
    const kg = await createKeyGuard({ secretKey: "my-secret", databaseUrl: url }, { env: {} });
    cleanups.push(() => kg.close());
    expect(kg.store.dialect).toBe("postgres");
    await kg.createOrganization("Acme Corp");
    const rows = await withPostgresClient((c) =>
      c.query(`select name from ${schema}.organizations`),
    );
    expect(rows.rows).toEqual([{ name: "Acme Corp" }]);
  });
});
