import { afterEach, describe, expect, it } from "vitest";
import { resolveConfig } from "../src/config/keyguard-config.js";
import { QuotaSeedLostError } from "../src/errors/quota-seed-lost.js";
import { KeyGuard } from "../src/keyguard.js";
import type { GuardRequest } from "../src/pipeline/guard-request.js";
import type { GuardResult } from "../src/pipeline/request-guard.js";
import type { LimitDecision, LimitRequest } from "../src/ports/limiter.js";
import { SuppressedErrors } from "../src/util/background-error.js";
import { InMemoryLimiter, InMemoryStore } from "./support/in-memory-ports.js";

/**
 * A limiter that can fail the way Redis does: an error reply on every decision, or a
 * seeded quota that is gone (Redis lost its data) once.
 */
class FaultyLimiter extends InMemoryLimiter {
  failWith: unknown;
  #lost = false;
  readonly seeds: [string, number][] = [];
  readonly #listeners = new Set<() => void>();

  override async decide(request: LimitRequest): Promise<LimitDecision> {
    if (this.failWith !== undefined) throw this.failWith;
    if (this.#lost && request.key !== undefined) {
      this.#lost = false;
      throw new QuotaSeedLostError(request.key.id);
    }
    return super.decide(request);
  }

  async seedQuota(keyId: string, _monthStartMs: number, used: number): Promise<void> {
    this.seeds.push([keyId, used]);
  }

  onStateLost(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Redis lost the counts without telling (FLUSHALL): the next decision finds out. */
  loseSilently(): void {
    this.#lost = true;
  }

  /** Redis reconnected, maybe to an empty server. */
  reconnect(): void {
    for (const listener of this.#listeners) listener();
  }
}

const open: KeyGuard[] = [];
afterEach(async () => {
  for (const kg of open.splice(0)) await kg.close();
});

async function setup() {
  const limiter = new FaultyLimiter();
  const reported: unknown[] = [];
  const kg = new KeyGuard({
    config: resolveConfig({ secretKey: "guard-failures-secret" }, {}),
    store: new InMemoryStore(),
    limiter,
    onBackgroundError: (error) => reported.push(error),
    onWarning: () => {},
  });
  open.push(kg);
  await kg.createOrganization("Acme Corp");
  const { rawKey } = await kg.createApiKey({
    organization: "Acme Corp",
    label: "k",
    monthlyLimit: 1000,
  });
  const request: GuardRequest = {
    method: "GET",
    path: "/api/data",
    remoteAddress: "203.0.113.7",
    header: (name) => (name === "x-api-key" ? rawKey : undefined),
  };
  return { kg, limiter, reported, request };
}

const codeOf = (result: GuardResult) => (result.allowed ? "allowed" : result.problem.code);

function oomReply(): Error {
  const error = new Error("OOM command not allowed when used memory > 'maxmemory'.");
  error.name = "ReplyError";
  return error;
}

describe("limiter failures are answered and reported", () => {
  it("reports the first 503 of a kind with its cause, and counts the rest", async () => {
    const { kg, limiter, reported, request } = await setup();
    const guard = kg.guard();
    const lenient = kg.guard({ failOpen: true });
    limiter.failWith = oomReply();
    for (let i = 0; i < 100; i++)
      expect(codeOf(await guard.check(request))).toBe("service_unavailable");
    for (let i = 0; i < 10; i++) expect(codeOf(await lenient.check(request))).toBe("allowed");
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatchObject({
      code: "service_unavailable",
      message: expect.stringMatching(/answered 503: OOM command not allowed/),
      cause: limiter.failWith,
    });
    await kg.close();
    expect(reported).toHaveLength(2);
    expect(reported[1]).toBeInstanceOf(SuppressedErrors);
    expect(reported[1]).toMatchObject({ kind: "service_unavailable/redis:OOM", count: 109 });
  });
});

describe("a limiter that lost a seeded quota", () => {
  it("is seeded again and asked once more: the request gets an ordinary answer", async () => {
    const { kg, limiter, reported, request } = await setup();
    const guard = kg.guard();
    expect(codeOf(await guard.check(request))).toBe("allowed");
    expect(limiter.seeds).toHaveLength(1);
    expect(codeOf(await guard.check(request))).toBe("allowed");
    expect(limiter.seeds).toHaveLength(1); // once per key and month

    limiter.loseSilently();
    expect(codeOf(await guard.check(request))).toBe("allowed");
    expect(limiter.seeds).toHaveLength(2);
    expect(reported).toEqual([]);
  });

  it("is seeded again before the next decision after a reconnection", async () => {
    const { kg, limiter, request } = await setup();
    const guard = kg.guard();
    await guard.check(request);
    limiter.reconnect();
    expect(codeOf(await guard.check(request))).toBe("allowed");
    expect(limiter.seeds).toHaveLength(2);
    await guard.check(request);
    expect(limiter.seeds).toHaveLength(2);
    // A busy key's requests arriving together share one seed (one store query).
    limiter.reconnect();
    const together = await Promise.all(Array.from({ length: 50 }, () => guard.check(request)));
    expect(together.map(codeOf)).toEqual(Array(50).fill("allowed"));
    expect(limiter.seeds).toHaveLength(3);
  });
});
