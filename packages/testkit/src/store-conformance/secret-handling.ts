import { KeyGuard, resolveConfig } from "@keyguard/core";
import { expect, it } from "vitest";
import { type CreateDatabase, expectCode, storeHarness } from "./support.js";

/**
 * What the store suite checks of the server secret and raw keys (at the suite's top level):
 * a KeyGuard without the secret still reads, and no raw key reaches stdout or stderr.
 */
export function describeSecretHandling(createDatabase: CreateDatabase): void {
  const { setup, track } = storeHarness(createDatabase);

  it("works without the secret for everything that does not hash a raw key", async () => {
    const { kg, database } = await setup();
    await kg.createOrganization("Acme Corp");
    const { rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
    const store = await database.open();
    const readOnly = new KeyGuard({
      config: resolveConfig({}, {}, { requireSecret: false }),
      store,
    });
    track(() => readOnly.close());
    expect((await readOnly.listApiKeys()).map((k) => k.label)).toEqual(["k"]);
    expect((await readOnly.stats()).totalKeys).toBe(1);
    await expectCode(
      readOnly.createApiKey({ organization: "Acme Corp", label: "x" }),
      "invalid_config",
      /secret/,
    );
    await expectCode(readOnly.verifyKey(rawKey), "invalid_config", /secret/);
    expect(await readOnly.listApiKeys()).toHaveLength(1);
  });

  it("never logs a raw key", async () => {
    const written: string[] = [];
    const originals = { out: process.stdout.write, err: process.stderr.write };
    const capture = (chunk: unknown) => {
      written.push(String(chunk));
      return true;
    };
    process.stdout.write = capture as typeof process.stdout.write;
    process.stderr.write = capture as typeof process.stderr.write;
    let rawKey = "";
    try {
      const { kg } = await setup();
      await kg.createOrganization("Acme Corp");
      ({ rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k" }));
      await kg.verifyKey(rawKey);
      await kg.revokeApiKey(rawKey);
      await kg.verifyKey(rawKey);
      await kg.getApiKey(rawKey.slice(0, 12)).catch(() => {});
    } finally {
      process.stdout.write = originals.out;
      process.stderr.write = originals.err;
    }
    expect(rawKey).not.toBe("");
    expect(written.join("")).not.toContain(rawKey);
  });
}
