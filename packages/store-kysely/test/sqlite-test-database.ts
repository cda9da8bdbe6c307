import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestDatabase } from "@keyguard/testkit";
import { createKyselyStore } from "../src/index.js";

/** A SQLite file in a fresh temporary directory. */
export function createSqliteTestDatabase(): TestDatabase & { readonly path: string } {
  const directory = mkdtempSync(join(tmpdir(), "keyguard-sqlite-"));
  const path = join(directory, "keyguard.db");
  return {
    path,
    sharedWriteLock: true,
    open: () => createKyselyStore({ url: `sqlite:${path}` }),
    async dumpContents() {
      // The main file and the WAL: a secret must be in neither.
      return readdirSync(directory)
        .map((file) => readFileSync(join(directory, file)).toString("latin1"))
        .join("\n");
    },
    async dispose() {
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
