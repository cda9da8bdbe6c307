import { IP_BLOCKS_LUA } from "./ip-blocks.js";
import { WINDOW_ALGORITHMS_LUA } from "./window-algorithms.js";

/** How the decide script answers, in its first reply element. */
export const OUTCOME = {
  allowed: 1,
  ipBlocked: 2,
  rateLimited: 3,
  quotaExceeded: 4,
  quotaSeedLost: 5,
} as const;

/**
 * Protected requests of one key, from one client to one path, decided atomically in one
 * round trip: usually one request, or all of those that arrived in the same turn of the
 * event loop (decided as if one after another).
 *
 * KEYS: [1] the key's rate window, [2] the key's quota for this month, [3] the client's
 * block hash (left out on Redis Cluster, where it lives in another slot).
 * ARGV: now, path, algorithm number, limit per minute, window ms, monthly limit (-1 for
 * none), end of this month (ms), number of requests, 1 if the caller seeded this month's
 * quota (`SEED_QUOTA_LUA` creates the count, so it exists from then on) else 0.
 *
 * Reply when a seeded count is missing: {OUTCOME.quotaSeedLost}. Redis lost it (restarted
 * empty, was flushed, failed over, evicted it), whether or not a connection dropped;
 * nothing is counted, and the caller seeds it again from the store. The check is the GET
 * the quota needs anyway, per key and in the key's own slot, so it costs nothing and holds
 * on a Cluster where one master alone lost its data.
 *
 * Reply when the client is blocked: {OUTCOME.ipBlocked, blockUntil, blockReason,
 * blockScope}. Otherwise: {refusal of the requests not allowed (OUTCOME, or 0 if all
 * were), allowed count, then for the refused: remaining, resetAtMs, retryAfterMs; the quota
 * remaining after the allowed requests (-1 without a quota: what the refused ones report,
 * and the i-th allowed one had this plus allowed - 1 - i left); then each allowed request's
 * remaining and resetAtMs}. Nothing is counted unless a request is allowed.
 */
export const DECIDE_LUA = `${WINDOW_ALGORITHMS_LUA}${IP_BLOCKS_LUA}
local now = tonumber(ARGV[1])
local algorithm = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local window = tonumber(ARGV[5])
local monthly = tonumber(ARGV[6])
local month_end = tonumber(ARGV[7])
local count = tonumber(ARGV[8])
local seeded = ARGV[9] == '1'

if KEYS[3] then
  local until_ms, reason, scope = find_block(KEYS[3], now, ARGV[2])
  if until_ms then return {${OUTCOME.ipBlocked}, until_ms, reason, scope} end
end

local wanted = count
local used = 0
if monthly >= 0 then
  local stored = redis.call('GET', KEYS[2])
  if not stored and seeded then return {${OUTCOME.quotaSeedLost}} end
  used = tonumber(stored) or 0
  if used >= monthly then
    local rate = count_in_window(KEYS[1], algorithm, now, limit, window, 0)
    return {${OUTCOME.quotaExceeded}, 0, rate[2], rate[3], month_end - now, 0}
  end
  wanted = math.min(count, monthly - used)
end

local rate = count_in_window(KEYS[1], algorithm, now, limit, window, wanted)
local allowed = rate[1]
local quota_remaining = -1
if monthly >= 0 then
  if allowed > 0 then
    used = redis.call('INCRBY', KEYS[2], allowed)
    -- Set once, when the month's count is created: kept a day past the month's end, so a
    -- late request still finds its month's count.
    if used == allowed then redis.call('PEXPIRE', KEYS[2], month_end + 86400000 - now) end
  end
  quota_remaining = monthly - used
end
local reply
if allowed < wanted then
  reply = {${OUTCOME.rateLimited}, allowed, 0, rate[3], rate[4], quota_remaining}
elseif allowed < count then
  reply = {${OUTCOME.quotaExceeded}, allowed, rate[2], rate[3], month_end - now, quota_remaining}
else
  reply = {0, allowed, 0, 0, 0, quota_remaining}
end
for i = 5, #rate do reply[#reply + 1] = rate[i] end
return reply
`;

/**
 * KEYS[1] a bucket's window. ARGV: now, algorithm number, limit, window ms.
 * Reply: {allowed (1/0), remaining, resetAtMs, retryAfterMs}.
 */
export const HIT_LUA = `${WINDOW_ALGORITHMS_LUA}
local rate = count_in_window(KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[4]), 1)
if rate[1] == 1 then return {1, rate[5], rate[6], 0} end
return {0, 0, rate[3], rate[4]}
`;

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
