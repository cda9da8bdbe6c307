import {
  describeStoreConformance,
  dropSchema,
  dumpKeyGuardTables,
  postgresAvailable,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
} from "@keyguard/testkit";
import { describe } from "vitest";
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
