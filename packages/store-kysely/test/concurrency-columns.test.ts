import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard } from "@keyguard/core";
import {
  dropSchema,
  postgresAvailable,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { describe, expect, it } from "vitest";

const pgAvailable = await postgresAvailable();

/** Keys' and organizations' concurrency caps through the store, on both databases. */
async function roundTrip(databaseUrl: string): Promise<void> {
  const kg = await createKeyGuard(
    { secretKey: "concurrency-columns-secret", databaseUrl },
    { env: {} },
  );
  try {
    await kg.createOrganization("Acme");
    const { rawKey, key } = await kg.createApiKey({
      organization: "Acme",
      label: "capped",
      concurrency: { limit: 7 },
    });
    expect(key.concurrency).toEqual({ limit: 7 });
    await kg.updateApiKey(key.id, { concurrency: { limit: 9, mode: "shadow" } });
    expect((await kg.getApiKey(key.id)).concurrency).toEqual({ limit: 9, mode: "shadow" });
    const org = await kg.setOrganizationConcurrency("Acme", { limit: 40 });
    expect(org.concurrency).toEqual({ limit: 40 });
    // A verified key carries both: the guard builds its policies from them.
    expect(await kg.verifyKey(rawKey)).toMatchObject({
      outcome: "valid",
      key: { concurrency: { limit: 9, mode: "shadow" }, organizationConcurrency: { limit: 40 } },
    });
    // A rotation's successor keeps the cap, as it keeps the other limits.
    const rotated = await kg.rotateApiKey(key.id);
    expect(rotated.key.concurrency).toEqual({ limit: 9, mode: "shadow" });
    await kg.updateApiKey(rotated.key.id, { concurrency: null });
    expect((await kg.getApiKey(rotated.key.id)).concurrency).toBeNull();
    expect((await kg.setOrganizationConcurrency("Acme", null)).concurrency).toBeNull();
    expect((await kg.listOrganizations())[0]?.concurrency).toBeNull();
  } finally {
    await kg.close();
  }
}

describe("concurrency columns (migration 0018)", () => {
  it("keep keys' and organizations' caps on SQLite", async () => {
    const directory = mkdtempSync(join(tmpdir(), "keyguard-concurrency-columns-"));
    try {
      await roundTrip(`sqlite:${join(directory, "k.db")}`);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it.runIf(pgAvailable)("keep keys' and organizations' caps on PostgreSQL", async () => {
    const schema = uniqueSchemaName("concurrency");
    try {
      await withPostgresClient((client) => client.query(`create schema ${schema}`));
      await roundTrip(`${TEST_POSTGRES_URL}?options=-c%20search_path%3D${schema}`);
    } finally {
      await dropSchema(schema);
    }
  });
});
