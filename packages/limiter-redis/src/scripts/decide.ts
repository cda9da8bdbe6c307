import { IP_BLOCKS_LUA } from "./ip-blocks.js";
import { WINDOW_ALGORITHMS_LUA } from "./window-algorithms.js";

/** How the decide script answers, in its first reply element. */
export const OUTCOME = { allowed: 1, ipBlocked: 2, rateLimited: 3, quotaExceeded: 4 } as const;

/**
 * One protected request, decided atomically in one round trip.
 *
 * KEYS: [1] the key's rate window, [2] the key's quota for this month, [3] the client's
 * block hash (left out on Redis Cluster, where it lives in another slot).
 * ARGV: now, path, algorithm number, limit per minute, window ms, monthly limit (-1 for
 * none), end of this month (ms).
 *
 * Reply: {outcome, limit, remaining, resetAtMs, retryAfterMs, quotaRemaining (-1 none),
 * blockUntil, blockReason, blockScope}. Nothing is counted unless the request is allowed.
 */
export const DECIDE_LUA = `${WINDOW_ALGORITHMS_LUA}${IP_BLOCKS_LUA}
local now = tonumber(ARGV[1])
local algorithm = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local monthly = tonumber(ARGV[6])
local month_end = tonumber(ARGV[7])

if KEYS[3] then
  local until_ms, reason, scope = find_block(KEYS[3], now, ARGV[2])
  if until_ms then
    return {${OUTCOME.ipBlocked}, limit, 0, until_ms, until_ms - now, -1, until_ms, reason, scope}
  end
end

local used = 0
if monthly >= 0 then
  used = tonumber(redis.call('GET', KEYS[2])) or 0
  if used >= monthly then
    local rate = count_in_window(KEYS[1], algorithm, now, limit, window, false)
    return {${OUTCOME.quotaExceeded}, limit, rate[2], rate[3], month_end - now, 0}
  end
end

local rate = count_in_window(KEYS[1], algorithm, now, limit, window, true)
if rate[1] == 0 then
  return {${OUTCOME.rateLimited}, limit, 0, rate[3], rate[4], -1}
end
local quota_remaining = -1
if monthly >= 0 then
  used = redis.call('INCR', KEYS[2])
  -- Set once, when the month's count is created: kept a day past the month's end, so a
  -- late request still finds its month's count.
  if used == 1 then redis.call('PEXPIRE', KEYS[2], month_end + 86400000 - now) end
  quota_remaining = monthly - used
end
return {${OUTCOME.allowed}, limit, rate[2], rate[3], 0, quota_remaining}
`;

/** KEYS[1] a bucket's window. ARGV: now, algorithm number, limit, window ms. */
export const HIT_LUA = `${WINDOW_ALGORITHMS_LUA}
return count_in_window(KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[4]), true)
`;

/**
 * KEYS[1] a key's quota for a month. ARGV: requests already used (from the store), time to
 * live (ms). Raises the count to `used` if Redis knows fewer (after a Redis restart, say).
 */
export const SEED_QUOTA_LUA = `
local used = tonumber(ARGV[1])
if (tonumber(redis.call('GET', KEYS[1])) or 0) < used then
  redis.call('SET', KEYS[1], used, 'PX', ARGV[2])
end
return 0
`;
