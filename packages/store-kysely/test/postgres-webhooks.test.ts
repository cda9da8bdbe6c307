import {
  describeWebhookConformance,
  dropSchema,
  dumpKeyGuardTables,
  postgresAvailable,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
} from "@keyguard/testkit";
import { describe } from "vitest";
import { createKyselyStore } from "../src/index.js";

describe.runIf(await postgresAvailable())("PostgreSQL", () => {
  describeWebhookConformance("PostgreSQL (pg)", async () => {
    const schema = uniqueSchemaName("webhooks");
    return {
      open: () => createKyselyStore({ url: TEST_POSTGRES_URL, schema }),
      dumpContents: () => dumpKeyGuardTables(schema),
      dispose: () => dropSchema(schema),
    };
  });
});
