import { describe, expect, it } from "vitest";
import { VerificationCache } from "../src/cache/verification-cache.js";
import type { StoredApiKey } from "../src/domain/api-key.js";
import { KeyGuardError } from "../src/errors/keyguard-error.js";

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

describe("VerificationCache: refresh ahead and stale-if-error", () => {
  const unavailable = () =>
    Promise.reject(new KeyGuardError("database_unavailable", "The database is unavailable"));
  const setup = (staleIfErrorMs = 3_600_000) => {
    let now = 1_000_000;
    const clock = { now: () => now };
    const refreshErrors: unknown[] = [];
    const cache = new VerificationCache({
      maxEntries: 10,
      ttlMs: 10_000,
      staleIfErrorMs,
      negativeTtlMs: 1_000,
      clock,
      onRefreshError: (error) => refreshErrors.push(error),
    });
    return { cache, advance: (ms: number) => (now += ms), refreshErrors };
  };
  /** A load that counts its calls and answers what `answer` says at call time. */
  const counting = (answer: () => Promise<StoredApiKey | undefined>) => {
    const load = Object.assign(
      () => {
        load.calls += 1;
        return answer();
      },
      { calls: 0 },
    );
    return load;
  };
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  it("answers a fresh key without loading, and refreshes it in the background near its TTL", async () => {
    const { cache, advance } = setup();
    await cache.resolve("h", async () => key("v1"));
    let version = "v2";
    const load = counting(async () => key(version));
    advance(7_000);
    expect(cache.lookup("h", load)?.key?.id).toBe("v1");
    expect(load.calls).toBe(0);
    advance(1_000); // 8 s of 10: refreshed ahead of expiry, the request still answered at once
    expect(cache.lookup("h", load)?.key?.id).toBe("v1");
    expect(cache.lookup("h", load)?.key?.id).toBe("v1");
    expect(load.calls).toBe(1); // one refresh in flight per key, however many requests
    await settle();
    expect(cache.lookup("h", load)?.key?.id).toBe("v2");
    version = "v3";
    advance(9_000); // the refreshed entry is 9 s old: refreshed again, never expired
    expect(cache.lookup("h", load)?.key?.id).toBe("v2");
    await settle();
    expect(cache.lookup("h", load)?.key?.id).toBe("v3");
    expect(load.calls).toBe(2);
  });

  it("makes a caller wait for the store once an idle key's TTL has passed", async () => {
    const { cache, advance } = setup();
    await cache.resolve("h", async () => key("v1"));
    advance(10_000);
    const load = counting(async () => key("v2"));
    expect(cache.lookup("h", load)).toBeUndefined();
    expect((await cache.resolve("h", load)).key?.id).toBe("v2");
    expect(load.calls).toBe(1); // the waiting caller shared the refresh lookup() started
  });

  it("keeps answering a cached key while the store is unavailable, up to staleIfErrorMs past its TTL", async () => {
    const { cache, advance, refreshErrors } = setup(60_000);
    await cache.resolve("h", async () => key("v1"));
    const down = counting(unavailable);
    advance(8_000);
    expect(cache.lookup("h", down)?.key?.id).toBe("v1"); // background refresh fails...
    await settle();
    advance(5_000); // ...and past the TTL the key is still answered without waiting
    expect(cache.lookup("h", down)?.key?.id).toBe("v1");
    expect(cache.peek("h")).toBeUndefined(); // (it is not fresh)
    const calls = down.calls;
    for (let i = 0; i < 100; i++) expect(cache.lookup("h", down)?.key?.id).toBe("v1");
    expect(down.calls - calls).toBeLessThanOrEqual(1); // retries are spaced, not per request
    await settle();
    advance(60_000); // 10 s TTL + 60 s stale bound passed: no longer answered
    expect(cache.lookup("h", down)).toBeUndefined();
    await expect(cache.resolve("h", down)).rejects.toMatchObject({ code: "database_unavailable" });
    expect(refreshErrors).toEqual([]); // an outage is not reported as a refresh bug
  });

  it("answers a stale key to a waiting caller when its load finds the store unavailable", async () => {
    const { cache, advance } = setup();
    await cache.resolve("h", async () => key("v1"));
    advance(20_000);
    expect((await cache.resolve("h", unavailable)).key?.id).toBe("v1");
  });

  it("after expireAll (notices missed) re-reads every key before answering it, stale only while the store is out", async () => {
    const { cache } = setup(60_000);
    await cache.resolve("h", async () => key("v1"));
    await cache.resolve("gone", async () => undefined);
    cache.expireAll();
    // A fresh key is not answered from the cache any more: the caller waits for the store.
    const load = counting(async () => key("v2"));
    expect(cache.lookup("h", load)).toBeUndefined();
    expect((await cache.resolve("h", load)).key?.id).toBe("v2");
    expect(load.calls).toBe(1);
    // Unknown hashes are forgotten too.
    expect(cache.peek("gone")).toBeUndefined();
    // While the store cannot answer, the expired key is still answered (stale-if-error).
    cache.expireAll();
    expect((await cache.resolve("h", unavailable)).key?.id).toBe("v2");
  });

  it("refuses (throws) past the TTL when stale-if-error is off", async () => {
    const { cache, advance } = setup(0);
    await cache.resolve("h", async () => key("v1"));
    advance(10_000);
    expect(cache.lookup("h", unavailable)).toBeUndefined();
    await expect(cache.resolve("h", unavailable)).rejects.toMatchObject({
      code: "database_unavailable",
    });
  });

  it("recovers: the first refresh after the outage replaces the stale entry", async () => {
    const { cache, advance } = setup();
    await cache.resolve("h", async () => key("v1"));
    advance(12_000);
    await cache.resolve("h", unavailable);
    advance(1_000); // past the retry spacing
    const up = counting(async () => ({ ...key("v1"), isActive: false }));
    expect(cache.lookup("h", up)?.key?.isActive).toBe(true); // stale answer, refresh started
    await settle();
    expect(cache.lookup("h", up)?.key?.isActive).toBe(false); // the store said revoked
  });

  it("drops a key the store no longer has, and does not serve unknown hashes stale", async () => {
    const { cache, advance } = setup();
    await cache.resolve("h", async () => key("v1"));
    advance(8_000);
    expect(cache.lookup("h", async () => undefined)?.key?.id).toBe("v1");
    await settle();
    expect(cache.lookup("h", unavailable)).toMatchObject({ key: undefined }); // now unknown
    advance(1_001); // the negative entry expired: an outage now means "cannot tell"
    expect(cache.lookup("h", unavailable)).toBeUndefined();
    await expect(cache.resolve("h", unavailable)).rejects.toMatchObject({
      code: "database_unavailable",
    });
  });

  it("applies an invalidation at once, even while a stale entry is being served", async () => {
    const { cache, advance } = setup();
    await cache.resolve("h", async () => key("v1"));
    advance(12_000);
    await cache.resolve("h", unavailable);
    cache.invalidate("h");
    expect(cache.lookup("h", unavailable)).toBeUndefined();
    await expect(cache.resolve("h", unavailable)).rejects.toMatchObject({
      code: "database_unavailable",
    });
  });

  it("reports a refresh that failed for another reason, and keeps the answer meanwhile", async () => {
    const { cache, advance, refreshErrors } = setup();
    await cache.resolve("h", async () => key("v1"));
    advance(8_000);
    expect(cache.lookup("h", () => Promise.reject(new Error("bug")))?.key?.id).toBe("v1");
    await settle();
    expect(refreshErrors.map(String)).toEqual(["Error: bug"]);
    expect(cache.lookup("h", async () => key("v2"))?.key?.id).toBe("v1");
  });
});
