import {
  describeStoreConformance,
  dropSchema,
  dumpKeyGuardTables,
  postgresAvailable,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { describe, expect, it } from "vitest";
import { createKyselyStore } from "../src/index.js";

const available = await postgresAvailable();

describe.runIf(available)("PostgreSQL", () => {
  describeStoreConformance("PostgreSQL (pg)", async () => {
    const schema = uniqueSchemaName("store");
    return {
      open: () => createKyselyStore({ url: TEST_POSTGRES_URL, schema }),
      dumpContents: () => dumpKeyGuardTables(schema),
      dispose: () => dropSchema(schema),
    };
  });
});

describe.runIf(available)("PostgreSQL schemas", () => {
  it("tells an un-migrated schema from a migrated one, creating nothing", async () => {
    const schema = uniqueSchemaName("empty");
    try {
      // A schema that does not exist yet, and one that exists but is empty: neither has it.
      const store = await createKyselyStore({ url: TEST_POSTGRES_URL, schema });
      expect(await store.hasSchema()).toBe(false);
      await withPostgresClient((client) => client.query(`create schema ${schema}`));
      expect(await store.hasSchema()).toBe(false);
      expect(await store.hasSchema()).toBe(false); // asking created nothing
      await store.migrate();
      expect(await store.hasSchema()).toBe(true);
      await store.close();
    } finally {
      await dropSchema(schema);
    }
  });

  it("names a database that does not exist, as database_unavailable", async () => {
    const url = TEST_POSTGRES_URL.replace(/\/[^/?]*(\?.*)?$/, "/keyguard_no_such_database");
    const store = await createKyselyStore({ url });
    await expect(store.migrate()).rejects.toMatchObject({
      code: "database_unavailable",
      message:
        'The PostgreSQL database "keyguard_no_such_database" does not exist: create it (e.g. createdb), or check the database URL.',
    });
    await store.close();
  });

  it("migrates a schema while another schema of the database already has KeyGuard's tables", async () => {
    const first = uniqueSchemaName("first");
    const second = uniqueSchemaName("second");
    try {
      const one = await createKyselyStore({ url: TEST_POSTGRES_URL, schema: first });
      await one.migrate();
      await one.close();
      // The second schema is chosen by the URL's search_path, as a user's DATABASE_URL may.
      await withPostgresClient((client) => client.query(`create schema ${second}`));
      const two = await createKyselyStore({
        url: `${TEST_POSTGRES_URL}?options=-c%20search_path%3D${second}`,
      });
      await two.migrate();
      await two.close();
      const tables = await withPostgresClient((client) =>
        client.query<{ table_name: string }>(
          "select table_name from information_schema.tables where table_schema = $1 order by 1",
          [second],
        ),
      );
      expect(tables.rows.map((row) => row.table_name)).toEqual([
        "api_keys",
        "audit_events",
        "credit_spending",
        "ip_blocks",
        "ip_rules",
        "keyguard_migration",
        "keyguard_migration_lock",
        "organizations",
        "secret_fingerprints",
        "usage_logs",
        "usage_rollups",
        "webhook_attempts",
        "webhook_deliveries",
        "webhook_endpoints",
        "webhook_notices",
      ]);
    } finally {
      await dropSchema(first);
      await dropSchema(second);
    }
  });

  it("migrates while other schemas of the database are created, altered and dropped", async () => {
    // Another application (or test) busy with DDL must not make a migration fail: a scan of
    // the whole catalog would meet columns and schemas vanishing under it.
    let churning = true;
    const churn = (async () => {
      while (churning) {
        const other = uniqueSchemaName("churn");
        await withPostgresClient(async (client) => {
          await client.query(`create schema ${other}`);
          await client.query(`create table ${other}.t (id serial, note text)`);
          for (let round = 0; round < 5; round++) {
            await client.query(`alter table ${other}.t add column extra int`);
            await client.query(`alter table ${other}.t drop column extra`);
          }
          await client.query(`drop schema ${other} cascade`);
        });
      }
    })();
    const schemas: string[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        const schema = uniqueSchemaName("busy");
        schemas.push(schema);
        const store = await createKyselyStore({ url: TEST_POSTGRES_URL, schema });
        await store.migrate();
        await store.close();
      }
    } finally {
      churning = false;
      await churn;
      for (const schema of schemas) await dropSchema(schema);
    }
  });
});
