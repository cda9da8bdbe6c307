import type { ApiKeyInfo } from "../domain/api-key.js";
import { keyPolicies, type LimitPolicy } from "../limits/limit-policy.js";
import type { RateLimitAlgorithm } from "../limits/window-decision.js";
import { type PolicyHeaderParts, policyHeaderParts } from "./rate-limit-headers.js";

/** What a key's settings decide about its requests' limits, computed once per key. */
export interface KeyLimits {
  readonly policies: readonly LimitPolicy[];
  readonly headers: PolicyHeaderParts;
  /** The index of the `credits` policy in `policies`, -1 for a key without credits. */
  readonly creditsIndex: number;
}

/**
 * A key's policies and constant header parts, kept with the cached key object itself
 * (weakly: they go when the verification cache drops or replaces the key, which is also
 * how a changed limit reaches them). A request costs one `WeakMap` look-up.
 */
export class KeyLimitsCache {
  readonly #algorithm: RateLimitAlgorithm;
  readonly #byKey = new WeakMap<ApiKeyInfo, KeyLimits>();

  constructor(algorithm: RateLimitAlgorithm) {
    this.#algorithm = algorithm;
  }

  of(key: ApiKeyInfo): KeyLimits {
    let limits = this.#byKey.get(key);
    if (limits === undefined) {
      const policies = keyPolicies(key, this.#algorithm);
      limits = {
        policies,
        headers: policyHeaderParts(policies),
        creditsIndex: policies.findIndex((policy) => policy.algorithm === "credits"),
      };
      this.#byKey.set(key, limits);
    }
    return limits;
  }
}
