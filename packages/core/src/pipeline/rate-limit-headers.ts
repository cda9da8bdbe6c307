import type { LimitPolicy } from "../limits/limit-policy.js";
import type { WindowDecision } from "../limits/window-decision.js";
import type { LimitDecision } from "../ports/limiter.js";

/**
 * Which rate-limit headers responses carry:
 * - `"legacy"`: `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (epoch s),
 *   describing the policy closest to refusing (on a refusal: the violated one that lasts
 *   longest)
 * - `"draft-8"`: the IETF `RateLimit-Policy` and `RateLimit` fields, one item per policy
 *   (draft-ietf-httpapi-ratelimit-headers-08 to -11 share this syntax:
 *   `"name";q=10;w=1` and `"name";r=3;t=1`)
 * - `"both"` (default), or `false` for none.
 */
export type RateLimitHeaderStyle = "legacy" | "draft-8" | "both" | false;

/**
 * The parts of a key's headers that only its settings decide: built once per cached key
 * (`KeyLimitsCache`), so a request only fills in its figures.
 */
export interface PolicyHeaderParts {
  /** The whole `RateLimit-Policy` value (with the credits' `q` as the key states its grant). */
  readonly policy: string;
  /**
   * For a key with credits: `RateLimit-Policy` around the credits' `q`, which the decision
   * fills in. A balance's `q` is its current period's credits, and a refill can make that
   * differ from the grant the cached key carries (a grant of 500, refilled to 100 a day).
   */
  readonly creditsQuota?: {
    readonly index: number;
    readonly before: string;
    readonly after: string;
    /** The grant, for a decision that reports no state for the credits. */
    readonly granted: number;
  };
  /** Per advertised policy, its index in the request's policies and `"name";r=`. */
  readonly items: readonly PolicyHeaderItem[];
}

/** One advertised policy: its index in the request's policies and its `"name";r=`. */
interface PolicyHeaderItem {
  readonly index: number;
  readonly prefix: string;
  /**
   * Its state has no `t` (reset): a concurrency cap (a slot comes back when a request
   * ends), or credits without a refill (only a top-up adds to them).
   */
  readonly untimed?: true;
}

/**
 * The constant header parts of a list of policies. Shadow policies are left out: they
 * refuse nothing, so a client has nothing to pace itself by. A concurrency cap is
 * `"concurrency";q=5;qu="concurrent-requests"` (the draft's quota unit for requests in
 * flight; no window) and its state `"concurrency";r=2` (no reset: a slot comes back when
 * a request ends, not at a known time).
 */
export function policyHeaderParts(policies: readonly LimitPolicy[]): PolicyHeaderParts {
  const declared: string[] = [];
  const items: PolicyHeaderItem[] = [];
  let creditsAt: { index: number; item: number; granted: number } | undefined;
  policies.forEach((policy, index) => {
    if (policy.mode !== "enforce") return;
    if (policy.algorithm === "credits") {
      creditsAt = { index, item: declared.length, granted: policy.limit };
    }
    if (policy.algorithm === "concurrency") {
      declared.push(`"${policy.name}";q=${policy.limit};qu="concurrent-requests"`);
      items.push({ index, prefix: `"${policy.name}";r=`, untimed: true });
      return;
    }
    if (policy.windowMs === 0) {
      // Credits without a refill: a quota with no window.
      declared.push(`"${policy.name}";q=${policy.limit}`);
      items.push({ index, prefix: `"${policy.name}";r=`, untimed: true });
      return;
    }
    declared.push(`"${policy.name}";q=${policy.limit};w=${Math.round(policy.windowMs / 1000)}`);
    items.push({ index, prefix: `"${policy.name}";r=` });
  });
  const policy = declared.join(", ");
  if (creditsAt === undefined) return { policy, items };
  // Split the declared list at the credits item's `q=` value.
  const item = declared[creditsAt.item] as string;
  const q = item.indexOf(";q=") + 3;
  const end = item.indexOf(";", q);
  const before = [...declared.slice(0, creditsAt.item), item.slice(0, q)].join(", ");
  const rest = end === -1 ? "" : item.slice(end);
  const later = declared.slice(creditsAt.item + 1);
  const after = later.length === 0 ? rest : `${rest}, ${later.join(", ")}`;
  return {
    policy,
    items,
    creditsQuota: { index: creditsAt.index, before, after, granted: creditsAt.granted },
  };
}

/** One policy's `"name";r=3;t=1` (as it stands: `r=0` if the decision did not report it). */
function stateItem(item: PolicyHeaderItem, state: WindowDecision | undefined, now: number): string {
  const prefix = item.prefix;
  if (state === undefined) return `${prefix}0`;
  if (item.untimed === true) return `${prefix}${state.remaining}`;
  return `${prefix}${state.remaining};t=${Math.max(0, Math.ceil((state.resetAtMs - now) / 1000))}`;
}

/** Headers describing a decision's policies, from their constant parts. */
export function rateLimitHeaders(
  parts: PolicyHeaderParts,
  decision: LimitDecision,
  now: number,
  style: RateLimitHeaderStyle,
): Record<string, string> {
  const headers: Record<string, string> = {};
  if (style === false) return headers;
  if (style === "legacy" || style === "both") {
    headers["x-ratelimit-limit"] = String(decision.limit);
    headers["x-ratelimit-remaining"] = String(decision.remaining);
    headers["x-ratelimit-reset"] = String(Math.ceil(decision.resetAtMs / 1000));
  }
  const items = parts.items;
  if ((style === "draft-8" || style === "both") && items.length > 0) {
    const credits = parts.creditsQuota;
    headers["ratelimit-policy"] =
      credits === undefined
        ? parts.policy
        : `${credits.before}${decision.policies[credits.index]?.limit ?? credits.granted}${credits.after}`;
    // Single template strings, an indexed loop: this runs on every request.
    const first = items[0] as PolicyHeaderItem;
    let value = stateItem(first, decision.policies[first.index], now);
    for (let i = 1; i < items.length; i++) {
      const item = items[i] as PolicyHeaderItem;
      value = `${value}, ${stateItem(item, decision.policies[item.index], now)}`;
    }
    headers.ratelimit = value;
  }
  return headers;
}
