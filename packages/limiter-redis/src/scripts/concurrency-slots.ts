import { CONCURRENCY_RETRY_MS } from "@keyguard/core/internal";

/**
 * Concurrency caps in Lua, for the decide script: a cap's slots are a sorted set (one per
 * key, one per organization, under the request's hash tag) whose members are the
 * requests in flight, scored by when their lease ends. A live slot is one whose lease has
 * not ended at the request's `now`; an ended one (its process died, or its release was
 * lost) is dropped at the next write. Answers as the window algorithms do (see
 * `WINDOW_ALGORITHMS_LUA`), so the decide script asks and charges a cap like a window:
 * {allowed, remaining, resetAtMs (= now: no reset time), retryAfterMs (0 while a slot is
 * free), then each allowed request's remaining and resetAtMs}.
 *
 * Prepended after the window algorithms: it wraps `count_in_window` so that algorithm 5
 * (`concurrency`) counts slots. The members taken are `<slot_base>:<j>` for the j-th
 * allowed request of the call; the decide script sets `slot_base` from its last argument.
 */
export const CONCURRENCY_SLOTS_LUA = `
local slot_base = ''

-- lease: how long a slot lives unless given back (the policy's "window" argument).
local function count_slots(key, now, limit, lease, count, write)
  local held = redis.call('ZCOUNT', key, '(' .. now, '+inf')
  local allowed = math.min(count, math.max(0, limit - held))
  local reply = {allowed, math.max(0, limit - held - allowed), now, 0}
  if held + allowed >= limit then reply[4] = ${CONCURRENCY_RETRY_MS} end
  for j = 1, allowed do
    reply[3 + 2 * j] = limit - held - j
    reply[4 + 2 * j] = now
  end
  if write and allowed > 0 then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    local members = {}
    for j = 1, allowed do
      members[#members + 1] = now + lease
      members[#members + 1] = slot_base .. ':' .. j
    end
    redis.call('ZADD', key, unpack(members))
    -- The set lives as long as its longest lease: a dead process's slots vanish with it.
    if redis.call('PTTL', key) < lease then redis.call('PEXPIRE', key, lease) end
  end
  return reply
end

local window_count = count_in_window
local function count_in_window(key, algorithm, now, limit, window, count, cost, write)
  if algorithm == 6 then return count_slots(key, now, limit, window, count, write) end
  return window_count(key, algorithm, now, limit, window, count, cost, write)
end
`;

/**
 * KEYS: the slot sets a request holds a slot of (its key's, its organization's: one hash
 * tag). ARGV[1]: its member. Gives the slot back; a slot already given back, or whose
 * lease ended, is simply not there.
 */
export const RELEASE_SLOTS_LUA = `
for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 0
`;

/**
 * KEYS: the slot sets a request holds a slot of. ARGV[1]: its member, ARGV[2]: now (the
 * caller's clock, as the decide script's), ARGV[3]: the lease. Extends a slot still held
 * to now + lease; one given back, or whose lease already ended (another request may hold
 * its place by now), is left alone. Answers how many sets it renewed.
 */
export const RENEW_SLOTS_LUA = `
local now = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local renewed = 0
for i = 1, #KEYS do
  local score = redis.call('ZSCORE', KEYS[i], ARGV[1])
  if score and tonumber(score) > now then
    redis.call('ZADD', KEYS[i], 'XX', now + lease, ARGV[1])
    if redis.call('PTTL', KEYS[i]) < lease then redis.call('PEXPIRE', KEYS[i], lease) end
    renewed = renewed + 1
  end
end
return renewed
`;
