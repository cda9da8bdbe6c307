import { describe, expect, it } from "vitest";
import { type CreateDatabase, storeHarness } from "./support.js";

/** Migrations: idempotent, and safe to run from several stores at once. */
export function describeMigrations(createDatabase: CreateDatabase): void {
  describe("migrations", () => {
    const { setup, track } = storeHarness(createDatabase);
    it("are idempotent", async () => {
      const { kg } = await setup();
      await kg.createOrganization("Acme Corp");
      await kg.init();
      await kg.init();
      expect((await kg.listOrganizations()).map((o) => o.name)).toEqual(["Acme Corp"]);
    });

    it("can run from two stores at once", async () => {
      const database = await createDatabase();
      track(() => database.dispose());
      const stores = await Promise.all([database.open(), database.open(), database.open()]);
      track(async () => {
        await Promise.all(stores.map((s) => s.close()));
      });
      await Promise.all(stores.map((s) => s.migrate()));
      expect(await stores[0]?.listOrganizations()).toEqual([]);
    });
  });
}
