import { describe, expect, it } from "vitest";
import { VerificationCache } from "../src/cache/verification-cache.js";
import type { StoredApiKey } from "../src/domain/api-key.js";

const key = (id: string, orgId = "org-1"): StoredApiKey => ({
  id,
  orgId,
  label: id,
  prefix: "kg_live_abcd",
  keyHash: `hash-${id}`,
  isActive: true,
  scopes: [],
  rateLimitPerMinute: 60,
  monthlyLimit: null,
  createdAt: new Date(0),
  expiresAt: null,
  lastUsedAt: null,
  quotaId: id,
  replacedBy: null,
  organizationName: "Org",
  organizationStatus: "active",
});

describe("VerificationCache", () => {
  const clock = { now: () => 0 };

  it("stays within its bounds however many keys are looked up", async () => {
    const cache = new VerificationCache({
      maxEntries: 100,
      negativeMaxEntries: 50,
      ttlMs: 60_000,
      negativeTtlMs: 5_000,
      clock,
    });
    for (let i = 0; i < 10_000; i++) {
      await cache.resolve(`h${i}`, async () => (i % 2 ? key(`k${i}`) : undefined));
    }
    expect(cache.size).toBe(150);
    expect(cache.negativeSize).toBe(50);
  });

  it("keeps known keys however many unknown hashes are looked up", async () => {
    const cache = new VerificationCache({
      maxEntries: 100,
      ttlMs: 60_000,
      negativeTtlMs: 5_000,
      clock,
    });
    for (let i = 0; i < 100; i++) await cache.resolve(`known${i}`, async () => key(`k${i}`));
    for (let i = 0; i < 10_000; i++) await cache.resolve(`unknown${i}`, async () => undefined);
    for (let i = 0; i < 100; i++) expect(cache.peek(`known${i}`)?.key?.id).toBe(`k${i}`);
    expect(cache.negativeSize).toBe(100); // negativeMaxEntries defaults to maxEntries
    expect(cache.peek("unknown9999")).toMatchObject({ key: undefined });
  });

  it("does not remember an answer that an invalidation overtook", async () => {
    const cache = new VerificationCache({
      maxEntries: 10,
      ttlMs: 60_000,
      negativeTtlMs: 5_000,
      clock,
    });
    let release: (value: StoredApiKey) => void = () => {};
    const pending = cache.resolve("h", () => new Promise((resolve) => (release = resolve)));
    cache.invalidate("h");
    release(key("stale"));
    expect((await pending).key?.id).toBe("stale");
    expect(cache.peek("h")).toBeUndefined();
  });

  it("forgets a whole organization", async () => {
    const cache = new VerificationCache({
      maxEntries: 10,
      ttlMs: 60_000,
      negativeTtlMs: 5_000,
      clock,
    });
    await cache.resolve("a", async () => key("a", "org-1"));
    await cache.resolve("b", async () => key("b", "org-2"));
    cache.invalidateOrganization("org-1");
    expect(cache.peek("a")).toBeUndefined();
    expect(cache.peek("b")?.key?.id).toBe("b");
  });

  it("does not cache a failed lookup", async () => {
    const cache = new VerificationCache({
      maxEntries: 10,
      ttlMs: 60_000,
      negativeTtlMs: 5_000,
      clock,
    });
    await expect(cache.resolve("h", async () => Promise.reject(new Error("down")))).rejects.toThrow(
      "down",
    );
    expect(cache.peek("h")).toBeUndefined();
    expect((await cache.resolve("h", async () => key("k"))).key?.id).toBe("k");
  });
});
