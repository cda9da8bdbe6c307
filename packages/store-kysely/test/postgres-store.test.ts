import {
  describeStoreConformance,
  dropSchema,
  postgresAvailable,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { describe } from "vitest";
import { createKyselyStore } from "../src/index.js";

const available = await postgresAvailable();

describe.runIf(available)("PostgreSQL", () => {
  describeStoreConformance("PostgreSQL (pg)", async () => {
    const schema = uniqueSchemaName("store");
    return {
      open: () => createKyselyStore({ url: TEST_POSTGRES_URL, schema }),
      dumpContents: () =>
        withPostgresClient(async (client) => {
          const rows: unknown[] = [];
          for (const table of ["organizations", "api_keys", "usage_logs"]) {
            rows.push((await client.query(`select * from "${schema}"."${table}"`)).rows);
          }
          return JSON.stringify(rows);
        }),
      dispose: () => dropSchema(schema),
    };
  });
});
