import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Store } from "@keyguard/core";
import { dropSchema, TEST_POSTGRES_URL, uniqueSchemaName } from "./postgres-test-database.js";

/** Opens a store the way `@keyguard/store-kysely`'s `createKyselyStore` does. */
export type OpenKyselyStore = (options: { url: string; schema?: string }) => Promise<Store>;

/** A fresh, empty database for one test, and how to throw it away. */
export interface DisposableStore {
  readonly store: Store;
  /** Another store on the same database (as a restarted or second process opens it). */
  reopen(): Promise<Store>;
  dispose(): Promise<void>;
}

/**
 * The two databases suites run on: a SQLite file in a temporary directory, and a schema of
 * its own on the test PostgreSQL server. Takes the store factory as a parameter so testkit
 * does not depend on the store package (which depends on testkit for its own tests).
 */
export function kyselyTestDatabases(open: OpenKyselyStore) {
  return {
    sqlite: async (): Promise<DisposableStore> => {
      const directory = mkdtempSync(join(tmpdir(), "keyguard-db-"));
      const url = `sqlite:${join(directory, "keyguard.db")}`;
      const store = await open({ url });
      return {
        store,
        reopen: () => open({ url }),
        async dispose() {
          rmSync(directory, { recursive: true, force: true });
        },
      };
    },
    postgres: async (): Promise<DisposableStore> => {
      const schema = uniqueSchemaName("db");
      const store = await open({ url: TEST_POSTGRES_URL, schema });
      return {
        store,
        reopen: () => open({ url: TEST_POSTGRES_URL, schema }),
        dispose: () => dropSchema(schema),
      };
    },
  };
}
