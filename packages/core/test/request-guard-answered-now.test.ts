import { afterEach, describe, expect, it } from "vitest";
import { resolveConfig } from "../src/config/keyguard-config.js";
import { KeyGuard } from "../src/keyguard.js";
import type { GuardRequest } from "../src/pipeline/guard-request.js";
import type { GuardResult } from "../src/pipeline/request-guard.js";
import type { LimitDecision, LimitRequest } from "../src/ports/limiter.js";
import { InMemoryLimiter, InMemoryStore } from "./support/in-memory-ports.js";

const open: KeyGuard[] = [];
afterEach(async () => {
  for (const kg of open.splice(0)) await kg.close();
});

async function setup(limiter: InMemoryLimiter, failOpen = false) {
  const errors: unknown[] = [];
  const kg = new KeyGuard({
    config: resolveConfig({ secretKey: "answered-now-secret" }, {}),
    store: new InMemoryStore(),
    limiter,
    onBackgroundError: (error) => errors.push(error),
  });
  open.push(kg);
  await kg.createOrganization("Acme Corp");
  const { rawKey } = await kg.createApiKey({
    organization: "Acme Corp",
    label: "k",
    rateLimitPerMinute: 2,
  });
  return { guard: kg.guard({ failOpen }), rawKey, errors };
}

function request(rawKey: string): GuardRequest {
  return {
    method: "GET",
    path: "/api/data",
    remoteAddress: "203.0.113.7",
    header: (name) => (name === "x-api-key" ? rawKey : undefined),
  };
}

function settled(result: GuardResult | Promise<GuardResult>): GuardResult {
  expect(result).not.toBeInstanceOf(Promise);
  return result as GuardResult;
}

describe("checkNow answers at once what it can decide in memory", () => {
  it("answers a cached key with an in-process limiter before returning, limits included", async () => {
    const { guard, rawKey } = await setup(new InMemoryLimiter({ answersNow: true }));
    // The first request looks the key up in the store: promised.
    const first = guard.checkNow(request(rawKey));
    expect(first).toBeInstanceOf(Promise);
    expect((await first).allowed).toBe(true);
    const second = settled(guard.checkNow(request(rawKey)));
    expect(second.allowed).toBe(true);
    expect(second.headers["ratelimit"]).toBe('"minute";r=0;t=60');
    const third = settled(guard.checkNow(request(rawKey)));
    expect(third).toMatchObject({ allowed: false, status: 429 });
    expect(third.allowed ? undefined : third.problem.code).toBe("rate_limited");
  });

  it("promises the same answers when the limiter only promises them", async () => {
    const { guard, rawKey } = await setup(new InMemoryLimiter());
    await guard.check(request(rawKey)); // cached now
    const promised = guard.checkNow(request(rawKey));
    expect(promised).toBeInstanceOf(Promise);
    const result = await promised;
    expect(result.allowed).toBe(true);
    expect(result.headers["ratelimit"]).toBe('"minute";r=0;t=60');
  });

  it("answers 503 at once when the in-process limiter throws, and lets it through with failOpen", async () => {
    class Failing extends InMemoryLimiter {
      override readonly decideNow = (_request: LimitRequest): LimitDecision => {
        throw new Error("limiter state corrupted");
      };
    }
    for (const failOpen of [false, true]) {
      const { guard, rawKey, errors } = await setup(new Failing(), failOpen);
      await guard.check(request(rawKey)); // cached
      const result = await guard.checkNow(request(rawKey)); // the retry after a failure is promised
      if (failOpen) expect(result).toMatchObject({ allowed: true, headers: {} });
      else {
        expect(result).toMatchObject({ allowed: false, status: 503 });
        expect(result.headers["retry-after"]).toBe("5");
      }
      expect(String(errors.at(-1))).toContain("limiter state corrupted");
    }
  });

  it("treats a limiter whose decide throws instead of rejecting like one that rejects", async () => {
    class Throwing extends InMemoryLimiter {
      override decide(_request: LimitRequest): Promise<LimitDecision> {
        throw new Error("limiter bookkeeping broke");
      }
    }
    for (const failOpen of [false, true]) {
      const { guard, rawKey, errors } = await setup(new Throwing(), failOpen);
      await guard.check(request(rawKey)); // cached
      const result = await guard.checkNow(request(rawKey));
      if (failOpen) expect(result).toMatchObject({ allowed: true, headers: {} });
      else expect(result).toMatchObject({ allowed: false, status: 503 });
      expect(String(errors.at(-1))).toContain("limiter bookkeeping broke");
    }
  });

  it("answers 503 rather than throwing when the client cannot be told", async () => {
    const { guard } = await setup(new InMemoryLimiter({ answersNow: true }));
    const broken: GuardRequest = {
      method: "GET",
      path: "/api/data",
      get remoteAddress(): string {
        throw new Error("socket gone");
      },
      header: () => undefined,
    };
    const result = await guard.checkNow(broken);
    expect(result).toMatchObject({ allowed: false, status: 503 });
  });

  it("turns a cost function that throws into a 503, not an exception", async () => {
    const { guard, rawKey } = await setup(new InMemoryLimiter({ answersNow: true }));
    await guard.check(request(rawKey));
    const result = settled(
      guard.checkNow(request(rawKey), () => {
        throw new Error("cost lookup failed");
      }),
    );
    expect(result).toMatchObject({ allowed: false, status: 503 });
  });
});
