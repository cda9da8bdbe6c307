import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { resolveConfig } from "../src/config/keyguard-config.js";
import { KeyGuard } from "../src/keyguard.js";
import { generateRawKey } from "../src/keys/key-format.js";
import type { GuardRequest } from "../src/pipeline/guard-request.js";
import type { GuardResult, RequestGuard } from "../src/pipeline/request-guard.js";
import { InMemoryLimiter, InMemoryStore } from "./support/in-memory-ports.js";
import { TestClock } from "./support/test-clock.js";

const open: KeyGuard[] = [];
afterEach(async () => {
  for (const kg of open.splice(0)) await kg.close();
});

/**
 * Two KeyGuards on one store and one clock, one with a limiter that answers at once (the
 * pipeline's synchronous path) and one whose limiter only promises (the asynchronous path).
 */
async function twoPaths() {
  const clock = new TestClock(Date.UTC(2026, 5, 1, 12, 0, 0)); // both KeyGuards share it;
  const store = new InMemoryStore();
  const make = (limiter: InMemoryLimiter) => {
    const kg = new KeyGuard({
      config: resolveConfig({ secretKey: "paths-agree-secret", ipBlockThreshold: 3 }, {}),
      store,
      limiter,
      clock,
      onWarning: () => {},
    });
    open.push(kg);
    return kg;
  };
  const now = make(new InMemoryLimiter({ answersNow: true }));
  const later = make(new InMemoryLimiter());
  await now.createOrganization("Acme Corp");
  const create = async (rateLimitPerMinute: number) =>
    (await now.createApiKey({ organization: "Acme Corp", label: "k", rateLimitPerMinute })).rawKey;
  const tight = await create(3);
  const loose = await create(50);
  const revoked = await create(10);
  await now.revokeApiKey(revoked);
  // A well-formed key (valid checksum) that the store does not have.
  const unknown = generateRawKey().rawKey;
  return { clock, guards: [now.guard(), later.guard()], keys: { tight, loose, revoked, unknown } };
}

type KeyChoice = "tight" | "loose" | "revoked" | "unknown" | "malformed" | "missing" | "two";

function requestFor(
  keys: Record<"tight" | "loose" | "revoked" | "unknown", string>,
  choice: KeyChoice,
  client: string,
): GuardRequest {
  const headers: Record<string, string> = {};
  if (choice === "tight" || choice === "loose" || choice === "revoked" || choice === "unknown") {
    headers["x-api-key"] = keys[choice];
  } else if (choice === "malformed") headers["x-api-key"] = "kg_live_not-a-key";
  else if (choice === "two") {
    headers["x-api-key"] = keys.tight;
    headers.authorization = `Bearer ${keys.loose}`;
  }
  return {
    method: "GET",
    path: "/api/data",
    remoteAddress: client,
    header: (name) => headers[name],
  };
}

/** What a client sees of a result. */
function seen(result: GuardResult) {
  return result.allowed
    ? { allowed: true, headers: result.headers }
    : {
        allowed: false,
        status: result.status,
        headers: result.headers,
        code: result.problem.code,
        detail: result.problem.detail,
      };
}

describe("the synchronous and asynchronous paths of the pipeline agree", () => {
  it("answers every generated sequence of requests the same way on both paths", async () => {
    const step = fc.record({
      key: fc.constantFrom<KeyChoice>(
        "tight",
        "loose",
        "revoked",
        "unknown",
        "malformed",
        "missing",
        "two",
      ),
      client: fc.constantFrom("203.0.113.7", "203.0.113.8", "2001:db8::1"),
      cost: fc.integer({ min: 0, max: 3 }),
      advanceMs: fc.constantFrom(0, 0, 1, 500, 20_000, 61_000),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        const { clock, guards, keys } = await twoPaths();
        for (const { key, client, cost, advanceMs } of steps) {
          clock.advance(advanceMs);
          const request = requestFor(keys, key, client);
          const [synchronous, promised] = guards as [RequestGuard, RequestGuard];
          const now = await synchronous.checkNow(request, cost);
          const later = await promised.checkNow(request, cost);
          expect(seen(now)).toEqual(seen(later));
        }
        for (const kg of open.splice(0)) await kg.close();
      }),
      { numRuns: 60 },
    );
  });
});
