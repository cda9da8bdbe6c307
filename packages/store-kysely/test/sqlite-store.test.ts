import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeStoreConformance } from "@keyguard/testkit";
import { describe, expect, it } from "vitest";
import { createKyselyStore } from "../src/index.js";
import { createSqliteTestDatabase } from "./sqlite-test-database.js";

describeStoreConformance("SQLite (better-sqlite3)", async () => createSqliteTestDatabase());

describe("SQLite schema check", () => {
  it("tells an empty database file from a migrated one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "keyguard-has-schema-"));
    try {
      const file = join(dir, "empty.db");
      writeFileSync(file, "");
      const store = await createKyselyStore({ url: `sqlite:${file}` });
      expect(await store.hasSchema()).toBe(false);
      await store.migrate();
      expect(await store.hasSchema()).toBe(true);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
