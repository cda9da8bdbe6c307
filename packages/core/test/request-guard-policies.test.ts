import { afterEach, describe, expect, it } from "vitest";
import { resolveConfig } from "../src/config/keyguard-config.js";
import { KeyGuard } from "../src/keyguard.js";
import type { ShadowRefusal } from "../src/limits/shadow-refusal.js";
import type { GuardRequest } from "../src/pipeline/guard-request.js";
import type { GuardResult } from "../src/pipeline/request-guard.js";
import { InMemoryLimiter, InMemoryStore } from "./support/in-memory-ports.js";
import { TestClock } from "./support/test-clock.js";

const open: KeyGuard[] = [];
afterEach(async () => {
  for (const kg of open.splice(0)) await kg.close();
});

async function setup() {
  const clock = new TestClock();
  const shadow: ShadowRefusal[] = [];
  const kg = new KeyGuard({
    config: resolveConfig({ secretKey: "request-guard-secret" }, {}),
    store: new InMemoryStore(),
    limiter: new InMemoryLimiter(),
    clock,
    onWarning: () => {},
    onShadowRefusal: (refusal) => shadow.push(refusal),
  });
  open.push(kg);
  await kg.createOrganization("Acme Corp");
  return { kg, clock, shadow };
}

const request = (rawKey?: string): GuardRequest => ({
  method: "GET",
  path: "/api/data",
  remoteAddress: "203.0.113.7",
  header: (name) => (name === "x-api-key" ? rawKey : undefined),
});

function problemOf(result: GuardResult) {
  if (result.allowed) throw new Error("allowed");
  return result.problem;
}

describe("the pipeline's policies (fake clock)", () => {
  it("reports shadow refusals to the hook and in stats, letting the requests through", async () => {
    const { kg, shadow } = await setup();
    const { rawKey, key } = await kg.createApiKey({
      organization: "Acme Corp",
      label: "trial",
      limits: [{ name: "trial", limit: 1, windowSeconds: 60, mode: "shadow" }],
    });
    const guard = kg.guard();
    for (let i = 0; i < 3; i++) expect((await guard.check(request(rawKey))).allowed).toBe(true);
    expect(shadow).toEqual([
      { keyId: key.id, orgId: key.orgId, policy: "trial" },
      { keyId: key.id, orgId: key.orgId, policy: "trial" },
    ]);
    expect((await kg.stats()).shadowRefusals).toBe(2);
    // Not advertised: a shadow window refuses nothing a client should pace itself by.
    const result = await guard.check(request(rawKey));
    expect(result.allowed && result.headers["ratelimit-policy"]).toBe('"minute";q=60;w=60');
  });

  it("applies an organization's new limits at once to its keys in use", async () => {
    const { kg } = await setup();
    const { rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
    const guard = kg.guard();
    expect((await guard.check(request(rawKey))).allowed).toBe(true); // cached now
    await kg.setOrganizationLimits("Acme Corp", [{ name: "minute", limit: 1, windowSeconds: 60 }]);
    expect((await guard.check(request(rawKey))).allowed).toBe(true);
    const refused = await guard.check(request(rawKey));
    expect(problemOf(refused)).toMatchObject({
      code: "rate_limited",
      "violated-policies": ["org.minute"],
    });
    await kg.setOrganizationLimits("Acme Corp", []);
    expect((await guard.check(request(rawKey))).allowed).toBe(true);
  });

  it("answers a wrong cost 503 and reports it, instead of guessing", async () => {
    const errors: unknown[] = [];
    const clock = new TestClock();
    const kg = new KeyGuard({
      config: resolveConfig({ secretKey: "request-guard-secret" }, {}),
      store: new InMemoryStore(),
      limiter: new InMemoryLimiter(),
      clock,
      onBackgroundError: (error) => errors.push(error),
    });
    open.push(kg);
    await kg.createOrganization("Acme Corp");
    const { rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
    const result = await kg.guard().check(request(rawKey), 1.5);
    expect(problemOf(result).code).toBe("service_unavailable");
    expect(errors).toHaveLength(1);
  });

  it("counts a rateLimitByIp rule's cost per request", async () => {
    const { kg, clock } = await setup();
    const rule = kg.ipRateLimit({ limit: 10, cost: 4 });
    const outcomes = [];
    for (let i = 0; i < 3; i++) outcomes.push((await rule.check(request())).allowed);
    expect(outcomes).toEqual([true, true, false]);
    clock.advance(60_000);
    expect((await rule.check(request())).allowed).toBe(true);
    expect(() => kg.ipRateLimit({ limit: 10, cost: -1 })).toThrow(/cost must be a whole number/);
  });
});
