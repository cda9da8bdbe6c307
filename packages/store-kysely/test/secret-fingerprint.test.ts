import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  isKeyGuardError,
  KeyGuard,
  type KeyGuardConfigInput,
  resolveConfig,
  type Store,
} from "@keyguard/core";
import { secretFingerprint } from "@keyguard/core/internal";
import {
  dropSchema,
  FakeClock,
  postgresAvailable,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createKyselyStore, type KyselyStore } from "../src/index.js";

const OLD = "the-old-secret-0123456789";
const NEW = "the-new-secret-9876543210";
const OTHER = "somebody-elses-secret-42";

interface Database {
  open(): Promise<KyselyStore>;
  /** Every stored row, as text (to look for secrets). */
  dump(): Promise<string>;
  dispose(): Promise<void>;
}

const sqlite = async (): Promise<Database> => {
  const directory = mkdtempSync(join(tmpdir(), "keyguard-secret-"));
  const url = `sqlite:${join(directory, "keyguard.db")}`;
  return {
    open: () => createKyselyStore({ url }),
    async dump() {
      return readdirSync(directory)
        .map((file) => readFileSync(join(directory, file)).toString("latin1"))
        .join("\n");
    },
    async dispose() {
      rmSync(directory, { recursive: true, force: true });
    },
  };
};

const postgres = async (): Promise<Database> => {
  const schema = uniqueSchemaName("secret");
  return {
    open: () => createKyselyStore({ url: TEST_POSTGRES_URL, schema }),
    dump: () =>
      withPostgresClient(async (client) => {
        const rows: unknown[] = [];
        for (const table of ["organizations", "api_keys", "secret_fingerprints"]) {
          rows.push((await client.query(`select * from "${schema}"."${table}"`)).rows);
        }
        return JSON.stringify(rows);
      }),
    dispose: () => dropSchema(schema),
  };
};

const backends = [
  { name: "SQLite", create: sqlite },
  ...((await postgresAvailable()) ? [{ name: "PostgreSQL", create: postgres }] : []),
];

describe.each(backends)("secret fingerprints on $name", ({ create }) => {
  let db: Database;
  const open: KeyGuard[] = [];
  let clock: FakeClock;
  beforeEach(async () => {
    db = await create();
    clock = new FakeClock();
  });
  afterEach(async () => {
    for (const kg of open.splice(0)) await kg.close().catch(() => {});
    await db.dispose();
  });

  /** A started KeyGuard (init: migrate + secret check) on the test's database. */
  const start = async (
    config: Partial<KeyGuardConfigInput>,
    onWarning?: (code: string, message: string) => void,
    wrap: (store: Store) => Store = (store) => store,
  ) => {
    const store = wrap(await db.open());
    const kg = new KeyGuard({
      config: resolveConfig({ cache: { negativeTtlMs: 5_000 }, ...config }, {}),
      store,
      clock,
      onWarning: onWarning ?? (() => {}),
    });
    open.push(kg);
    await kg.init();
    return kg;
  };
  const refusal = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isKeyGuardError(error), String(error)).toBe(true);
    return error as Error & { code: string };
  };

  it("records the first secret and refuses another with one line, never storing a secret", async () => {
    const first = await start({ secretKey: OLD });
    await first.createOrganization("Acme");
    const { rawKey } = await first.createApiKey({ organization: "Acme", label: "a" });

    const error = await refusal(start({ secretKey: OTHER }));
    expect(error.code).toBe("secret_mismatch");
    expect(error.message).not.toContain("\n");
    expect(error.message).toContain(secretFingerprint(OTHER).slice(0, 12));
    expect(error.message).toContain(secretFingerprint(OLD).slice(0, 12));
    expect(error.message).not.toContain(OTHER);

    // The right secret still works, and neither secret is anywhere in the database.
    const again = await start({ secretKey: OLD });
    expect((await again.verifyKey(rawKey)).outcome).toBe("valid");
    const dump = await db.dump();
    expect(dump).toContain(secretFingerprint(OLD));
    for (const text of [OLD, OTHER, rawKey]) expect(dump).not.toContain(text);
  });

  it("a database without a fingerprint adopts the first secret used, and says so", async () => {
    const maker = await start({ secretKey: OLD });
    await maker.createOrganization("Acme");
    await maker.createApiKey({ organization: "Acme", label: "before fingerprints" });
    // As a database migrated before fingerprints were recorded: keys, no fingerprint.
    await maker.store.close();
    const raw = await db.open();
    await raw.db.deleteFrom("secret_fingerprints").execute();
    await raw.close();

    const warnings: string[] = [];
    await start({ secretKey: OLD }, (code, message) => warnings.push(`${code}: ${message}`));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^KEYGUARD_SECRET_ADOPTED: This database recorded no secret/);
    expect(warnings[0]).toContain("1 existing key(s)");
    expect((await refusal(start({ secretKey: OTHER }))).code).toBe("secret_mismatch");
  });

  it("two processes adopting different secrets at once: one wins, the other is refused", async () => {
    const results = await Promise.allSettled([
      start({ secretKey: OLD }),
      start({ secretKey: OTHER }),
    ]);
    const failed = results.filter((r) => r.status === "rejected");
    expect(failed).toHaveLength(1);
    expect((failed[0] as PromiseRejectedResult).reason.code).toBe("secret_mismatch");
  });

  it("rotates: old keys verify through the previous secret until rotated, new keys use the new one", async () => {
    const before = await start({ secretKey: OLD });
    await before.createOrganization("Acme");
    const old = await before.createApiKey({ organization: "Acme", label: "old" });

    const rotation = await before.rotateSecret(NEW);
    expect(rotation).toMatchObject({
      fingerprint: secretFingerprint(NEW),
      previousFingerprint: secretFingerprint(OLD),
      keysToRotate: 1,
    });
    // The KeyGuard that rotated still has the old secret: it makes no key with it any more.
    expect((await refusal(before.createApiKey({ organization: "Acme", label: "x" }))).code).toBe(
      "secret_mismatch",
    );
    // Servers still configured with the old secret refuse to start, saying it was retired.
    const stale = await refusal(start({ secretKey: OLD }));
    expect(stale.code).toBe("secret_mismatch");
    expect(stale.message).toMatch(/was retired by a secret rotation/);
    // Configured with both, before or after: old keys verify, new ones are the new secret's.
    const after = await start({ secretKey: NEW, previousSecretKeys: [OLD] });
    expect((await after.verifyKey(old.rawKey)).outcome).toBe("valid");
    expect((await after.getApiKey(old.rawKey)).id).toBe(old.key.id); // raw-key references too
    const fresh = await after.createApiKey({ organization: "Acme", label: "new" });
    const newOnly = await start({ secretKey: NEW });
    expect((await newOnly.verifyKey(fresh.rawKey)).outcome).toBe("valid");
    expect((await newOnly.verifyKey(old.rawKey)).outcome).toBe("unknown");
    // Rotating the old key gives one that needs no previous secret.
    const rotated = await after.rotateApiKey(old.key.id);
    expect((await newOnly.verifyKey(rotated.rawKey)).outcome).toBe("valid");
    expect((await after.verifyKey(old.rawKey)).outcome).toBe("revoked");
  });

  it("stats count the active keys that still need a previous secret, down to 0 as they are rotated", async () => {
    const before = await start({ secretKey: OLD });
    await before.createOrganization("Acme");
    expect((await before.stats()).previousSecretKeys).toBe(0);
    const kept = await before.createApiKey({ organization: "Acme", label: "kept" });
    const graced = await before.createApiKey({ organization: "Acme", label: "graced" });
    const revoked = await before.createApiKey({ organization: "Acme", label: "revoked" });
    await before.createApiKey({
      organization: "Acme",
      label: "expiring",
      expiresAt: new Date(clock.now() + 60_000),
    });
    await before.revokeApiKey(revoked.key.id);
    // Never rotated: no key needs a previous secret, however old.
    expect((await before.stats()).previousSecretKeys).toBe(0);

    clock.advance(1_000);
    await before.rotateSecret(NEW);
    const after = await start({ secretKey: NEW, previousSecretKeys: [OLD] });
    expect((await after.stats()).previousSecretKeys).toBe(3); // kept, graced, expiring
    clock.advance(1_000);
    await after.createApiKey({ organization: "Acme", label: "new" }); // the new secret's
    const rotated = await after.rotateApiKey(graced.key.id, { gracePeriodMs: 3_600_000 });
    // In its grace period the old key still verifies only through the previous secret.
    expect((await after.stats()).previousSecretKeys).toBe(3);
    clock.advance(3_600_000); // the grace period and the expiring key are over
    expect((await after.stats()).previousSecretKeys).toBe(1);
    await after.rotateApiKey(kept.key.id);
    expect((await after.stats()).previousSecretKeys).toBe(0);
    // At 0 the previous secret can go: every active key verifies without it.
    const newOnly = await start({ secretKey: NEW });
    expect((await newOnly.verifyKey(rotated.rawKey)).outcome).toBe("valid");
    expect((await newOnly.stats()).previousSecretKeys).toBe(0);
  });

  it("refuses previous secrets the database never had, and a rotation to the same secret", async () => {
    const kg = await start({ secretKey: OLD });
    const error = await refusal(start({ secretKey: OLD, previousSecretKeys: [OTHER] }));
    expect(error.code).toBe("secret_mismatch");
    expect(error.message).toMatch(/^previousSecretKeys holds a secret .* never hashed with/);
    expect((await refusal(kg.rotateSecret(OLD))).code).toBe("invalid_input");
    // New secret configured, old one as previous, but nobody rotated: said so.
    const early = await refusal(start({ secretKey: NEW, previousSecretKeys: [OLD] }));
    expect(early.message).toMatch(/rotate the secret first/);
  });

  it("a current-secret key costs no query with previous secrets configured; an old key one per negative TTL", async () => {
    const before = await start({ secretKey: OLD });
    await before.createOrganization("Acme");
    const old = await before.createApiKey({ organization: "Acme", label: "old" });
    await before.rotateSecret(NEW);
    let lookups = 0;
    const counting = (store: Store): Store => {
      const find = store.findApiKeyByHash.bind(store);
      store.findApiKeyByHash = (hash) => {
        lookups++;
        return find(hash);
      };
      return store;
    };
    const kg = await start({ secretKey: NEW, previousSecretKeys: [OLD] }, undefined, counting);
    const current = await kg.createApiKey({ organization: "Acme", label: "current" });
    lookups = 0;
    for (let i = 0; i < 5; i++) expect((await kg.verifyKey(current.rawKey)).outcome).toBe("valid");
    expect(lookups).toBe(1); // the first miss; then the cache, under the current hash only

    lookups = 0;
    for (let i = 0; i < 5; i++) expect((await kg.verifyKey(old.rawKey)).outcome).toBe("valid");
    expect(lookups).toBe(2); // the current hash (unknown), then the previous one (found)
    clock.advance(5_001); // the current hash's "unknown" expires; the found key is still cached
    expect((await kg.verifyKey(old.rawKey)).outcome).toBe("valid");
    expect(lookups).toBe(3);
  });
});
