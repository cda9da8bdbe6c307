import type { IpBlock } from "@keyguard/core";
import {
  type LimitDecision,
  type LimitPolicy,
  type PolicyState,
  policyDecision,
  type WindowDecision,
} from "@keyguard/core/internal";
import { CONCURRENCY_SLOTS_LUA } from "./concurrency-slots.js";
import { IP_BLOCKS_LUA } from "./ip-blocks.js";
import { WINDOW_ALGORITHMS_LUA } from "./window-algorithms.js";

/** How the decide script answers, in its first reply element. */
export const OUTCOME = {
  decided: 0,
  ipBlocked: 2,
  quotaSeedLost: 5,
} as const;

/**
 * Protected requests of one key, from one client to one path, with one cost, decided
 * atomically in one round trip against all of the key's policies: usually one request, or
 * all of those that arrived in the same turn of the event loop (decided as if one after
 * another). All or nothing: every policy is first asked how many of the requests it would
 * take; the enforced ones' smallest answer is how many are allowed, and only then is each
 * policy charged that many (a shadow policy as many as it would take of them).
 *
 * KEYS: [1..n] each policy's counter, [n+1] the client's block hash (left out on Redis
 * Cluster, where it lives in another slot).
 * ARGV: now, path, number of requests, cost, what the caller seeded (`SEED_QUOTA_LUA`
 * creates the count, so it exists from then on): 1 this month's quota, 2 the credits'
 * balance period, 3 both, 0 neither; n; then per policy: algorithm number, limit, window
 * ms (the month's end for a calendar month, the next refill or 0 for credits), 1 enforce /
 * 0 shadow; last, the base name of the concurrency slots the call takes (see
 * `CONCURRENCY_SLOTS_LUA`; a concurrency cap's "window" is its slots' lease).
 *
 * Reply when a seeded count is missing: {OUTCOME.quotaSeedLost}. Redis lost it (restarted
 * empty, was flushed, failed over, evicted it), whether or not a connection dropped;
 * nothing is counted, and the caller seeds it again from the store. The check is per key
 * and in the key's own slot, so it holds on a Cluster where one master alone lost its data.
 *
 * Reply when the client is blocked: {OUTCOME.ipBlocked, blockUntil, blockReason,
 * blockScope}. Otherwise: {OUTCOME.decided, allowed count, n, then per policy: how many it
 * would have taken, how many it was charged, its remaining, resetAtMs and retryAfterMs
 * after them, and the remaining and resetAtMs of each request it was charged for}.
 */
export const DECIDE_LUA = `${WINDOW_ALGORITHMS_LUA}${CONCURRENCY_SLOTS_LUA}${IP_BLOCKS_LUA}
local now = tonumber(ARGV[1])
local count = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local seeds = tonumber(ARGV[5])
local seeded = seeds % 2 == 1
local credits_seeded = seeds >= 2
local n = tonumber(ARGV[6])
slot_base = ARGV[7 + 4 * n] or ''

if KEYS[n + 1] then
  local until_ms, reason, scope = find_block(KEYS[n + 1], now, ARGV[2])
  if until_ms then return {${OUTCOME.ipBlocked}, until_ms, reason, scope} end
end

local algorithms, limits, windows, enforced = {}, {}, {}, {}
for i = 1, n do
  local base = 6 + 4 * (i - 1)
  algorithms[i] = tonumber(ARGV[base + 1])
  limits[i] = tonumber(ARGV[base + 2])
  windows[i] = tonumber(ARGV[base + 3])
  enforced[i] = ARGV[base + 4] == '1'
  if algorithms[i] == 4 and seeded and redis.call('EXISTS', KEYS[i]) == 0 then
    return {${OUTCOME.quotaSeedLost}}
  end
  if algorithms[i] == 5 and credits_seeded and redis.call('EXISTS', KEYS[i]) == 0 then
    return {${OUTCOME.quotaSeedLost}}
  end
end

local reply = {${OUTCOME.decided}, 0, n}
if n == 1 and enforced[1] then
  -- One policy: asked and charged in one pass.
  local rate = count_in_window(KEYS[1], algorithms[1], now, limits[1], windows[1], count, cost, true)
  reply[2] = rate[1]
  reply[4] = rate[1]
  for i = 1, #rate do reply[4 + i] = rate[i] end
  return reply
end

local takes = {}
local allowed = count
for i = 1, n do
  takes[i] = count_in_window(KEYS[i], algorithms[i], now, limits[i], windows[i], count, cost, false)[1]
  if enforced[i] and takes[i] < allowed then allowed = takes[i] end
end
reply[2] = allowed
for i = 1, n do
  local charged = math.min(allowed, takes[i])
  local rate = count_in_window(KEYS[i], algorithms[i], now, limits[i], windows[i], charged, cost, true)
  reply[#reply + 1] = takes[i]
  for j = 1, #rate do reply[#reply + 1] = rate[j] end
end
return reply
`;

/** What a decide script call answered, decoded (see {@link decodeDecideReply}). */
export type DecideOutcome =
  | { readonly kind: "decided"; readonly decisions: LimitDecision[] }
  | { readonly kind: "blocked"; readonly block: IpBlock }
  | { readonly kind: "seed-lost" };

/**
 * The decide script's reply as one decision per request of the batch (the first `allowed`
 * are allowed; the rest share one refusal), for `policies` in the order they were sent.
 */
export function decodeDecideReply(
  reply: readonly (number | string)[],
  policies: readonly LimitPolicy[],
  count: number,
  client: string,
  path: string,
): DecideOutcome {
  const outcome = Number(reply[0]);
  if (outcome === OUTCOME.quotaSeedLost) return { kind: "seed-lost" };
  if (outcome === OUTCOME.ipBlocked) {
    const scope = reply[3] === "path" ? "path" : "global";
    return {
      kind: "blocked",
      block: {
        client,
        scope,
        ...(scope === "path" ? { path } : {}),
        untilMs: Number(reply[1]),
        reason: String(reply[2]),
      },
    };
  }
  const allowed = Number(reply[1]);
  const n = policies.length;
  if (Number(reply[2]) !== n) {
    throw new Error(`decide script answered for ${reply[2]} policies, ${n} were asked`);
  }
  const takes: number[] = new Array(n);
  const charged: number[] = new Array(n);
  const after: WindowDecision[] = new Array(n);
  const pairsAt: number[] = new Array(n);
  let at = 3;
  for (let i = 0; i < n; i++) {
    const { limit } = policies[i] as LimitPolicy;
    takes[i] = Number(reply[at]);
    charged[i] = Number(reply[at + 1]);
    // -1: refused with nothing to wait for (credits without a refill).
    const retryAfterMs = Number(reply[at + 4]);
    after[i] = {
      allowed: retryAfterMs === 0,
      limit,
      remaining: Number(reply[at + 2]),
      resetAtMs: Number(reply[at + 3]),
      retryAfterMs: Math.max(0, retryAfterMs),
    };
    pairsAt[i] = at + 5;
    at += 5 + 2 * (charged[i] as number);
  }
  const decisions: LimitDecision[] = [];
  for (let j = 0; j < allowed; j++) {
    const states: PolicyState[] = new Array(n);
    let shadowRefused: number[] | undefined;
    for (let i = 0; i < n; i++) {
      if (j < (charged[i] as number)) {
        const pair = (pairsAt[i] as number) + 2 * j;
        states[i] = {
          allowed: true,
          limit: (policies[i] as LimitPolicy).limit,
          remaining: Number(reply[pair]),
          resetAtMs: Number(reply[pair + 1]),
          retryAfterMs: 0,
        };
      } else {
        // A shadow policy that would have refused this one: not charged for it.
        states[i] = after[i] as WindowDecision;
        shadowRefused ??= [];
        shadowRefused.push(i);
      }
    }
    decisions.push(policyDecision(policies, states, undefined, shadowRefused));
  }
  if (allowed < count) {
    const violated: number[] = [];
    for (let i = 0; i < n; i++) {
      if ((policies[i] as LimitPolicy).mode === "enforce" && takes[i] === allowed) violated.push(i);
    }
    const refused = policyDecision(policies, after, violated, undefined);
    while (decisions.length < count) decisions.push(refused);
  }
  return { kind: "decided", decisions };
}

/**
 * KEYS[1] a bucket's window. ARGV: now, algorithm number, limit, window ms, cost.
 * Reply: {allowed (1/0), remaining, resetAtMs, retryAfterMs} (see {@link decodeHitReply}).
 */
export const HIT_LUA = `${WINDOW_ALGORITHMS_LUA}
local rate = count_in_window(KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[4]), 1, tonumber(ARGV[5]), true)
if rate[1] == 1 then
  if rate[5] then return {1, rate[5], rate[6], 0} end
  return {1, rate[2], rate[3], 0}
end
return {0, rate[2], rate[3], rate[4]}
`;

/** The hit script's reply as the bucket's figures after the event. */
export function decodeHitReply(reply: readonly (number | string)[], limit: number): WindowDecision {
  return {
    allowed: Number(reply[0]) === 1,
    limit,
    remaining: Number(reply[1]),
    resetAtMs: Number(reply[2]),
    retryAfterMs: Number(reply[3]),
  };
}

/**
 * KEYS[1] a key's quota for a month. ARGV: requests already used (from the store), time to
 * live (ms). Raises the count to `used` if Redis knows fewer (after a Redis restart, say),
 * and creates it even at 0: from now on a missing count means Redis lost it.
 */
export const SEED_QUOTA_LUA = `
local used = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]))
if current == nil or current < used then
  redis.call('SET', KEYS[1], used, 'PX', ARGV[2])
end
return 0
`;
