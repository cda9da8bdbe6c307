import type { Limiter } from "@keyguard/core";
import { describe } from "vitest";
import { describeBlockRules } from "./limiter-conformance/blocks.js";
import {
  type ConcurrencyConformanceOptions,
  describeConcurrencyRules,
} from "./limiter-conformance/concurrency.js";
import { describeCreditRules } from "./limiter-conformance/credits.js";
import { describePolicyRules } from "./limiter-conformance/policies.js";
import { describeQuotaRules } from "./limiter-conformance/quota.js";
import { describeWindowRules } from "./limiter-conformance/windows.js";

/**
 * The behaviour every Limiter must have, by capability (one file each under
 * `limiter-conformance/`): windows per algorithm, the monthly quota, several policies per
 * request (all or nothing, organizations, costs, shadow mode), concurrency caps, blocks
 * and buckets. A
 * backend's test file:
 *
 * ```ts
 * describeLimiterConformance("memory", async () => new MemoryLimiter());
 * ```
 *
 * Time is passed explicitly (the suites' fixed clock), so windows, quotas and block
 * expiry are tested without sleeps.
 */
export function describeLimiterConformance(
  name: string,
  createLimiter: () => Promise<Limiter>,
  options: ConcurrencyConformanceOptions = {},
): void {
  describe(`Limiter conformance: ${name}`, () => {
    describeWindowRules(createLimiter);
    describeQuotaRules(createLimiter);
    describeCreditRules(createLimiter);
    describePolicyRules(createLimiter);
    describeConcurrencyRules(createLimiter, options);
    describeBlockRules(createLimiter);
  });
}
