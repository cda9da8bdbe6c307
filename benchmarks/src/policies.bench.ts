import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type GuardRequest, KeyGuard, type LimitSpec, resolveConfig } from "@keyguard/core";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { describeComparison, sideBySide } from "./side-by-side.js";

const SECRET = "benchmark-secret-0123456789";
/** High enough that no request in a run is refused: every decision charges every policy. */
const HIGH = 1_000_000_000;

function windows(count: number): LimitSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    name: `w${i}`,
    limit: HIGH,
    windowSeconds: 10 + i,
    algorithm: "gcra" as const,
  }));
}

function requestWith(rawKey: string): GuardRequest {
  const headers: Record<string, string> = { "x-api-key": rawKey };
  return {
    method: "GET",
    path: "/api/data",
    remoteAddress: "203.0.113.7",
    header: (name) => headers[name],
  };
}

/**
 * The valid-key decision through the whole pipeline (`RequestGuard.check`: client, rules,
 * blocks, cached verification, one all-or-nothing `MemoryLimiter.decide`, headers) for a
 * key with one policy against keys with more, side by side in one process: what each extra
 * policy costs in process. Usage logging is left out: it is per request, not per policy.
 */
export async function runPolicyBenchmarks(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "keyguard-bench-policies-"));
  const store = await createKyselyStore({ url: `sqlite:${join(dir, "bench.db")}` });
  const kg = new KeyGuard({
    config: resolveConfig({ secretKey: SECRET }, {}),
    store,
    limiter: new MemoryLimiter(),
  });
  try {
    await kg.init();
    await kg.createOrganization("Bench Org");
    await kg.createOrganization("Bench Org Shared");
    await kg.setOrganizationLimits("Bench Org Shared", windows(2));
    const create = async (label: string, extra: object, organization = "Bench Org") =>
      (
        await kg.createApiKey({
          organization,
          label,
          rateLimitPerMinute: HIGH,
          monthlyLimit: null,
          ...extra,
        })
      ).rawKey;
    const guard = kg.guard({ algorithm: "gcra" });
    const subjects: { name: string; policies: number; rawKey: string }[] = [
      {
        name: "minute + 1 window",
        policies: 2,
        rawKey: await create("two", { limits: windows(1) }),
      },
      {
        name: "minute + month + 3 windows",
        policies: 5,
        rawKey: await create("five", { limits: windows(3), monthlyLimit: HIGH }),
      },
      {
        name: "minute + month + 10 windows + credits + 2 org windows",
        policies: 15,
        rawKey: await create(
          "fifteen",
          { limits: windows(10), monthlyLimit: HIGH, credits: { remaining: HIGH } },
          "Bench Org Shared",
        ),
      },
    ];
    const oneKey = await create("one", {});
    const one = requestWith(oneKey);
    const baseline = { name: "one policy (minute)", fn: () => guard.check(one) };
    // Warm each key into the verification cache (and its quota and credits seeds).
    for (const rawKey of [oneKey, ...subjects.map((s) => s.rawKey)]) {
      const result = await guard.check(requestWith(rawKey));
      if (!result.allowed) throw new Error(`benchmark key refused: ${result.problem.code}`);
    }
    const lines: string[] = [];
    for (const subject of subjects) {
      const request = requestWith(subject.rawKey);
      const result = await sideBySide(baseline, {
        name: subject.name,
        fn: () => guard.check(request),
      });
      const extra = subject.policies - 1;
      const perPolicy = (result.subjectNsPerOp - result.baselineNsPerOp) / extra;
      lines.push(
        `${describeComparison(result, "each extra policy <= 300 ns")}\n  per extra policy: ${perPolicy.toFixed(0)} ns (${extra} more)`,
      );
    }
    return lines;
  } finally {
    await kg.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
