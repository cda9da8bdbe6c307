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
          const tables = ["organizations", "api_keys", "usage_logs"];
          const rows = await Promise.all(
            tables.map((table) => client.query(`select * from "${schema}"."${table}"`)),
          );
          return JSON.stringify(rows.map((r) => r.rows));
        }),
      dispose: () => dropSchema(schema),
    };
  });
});
