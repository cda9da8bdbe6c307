import { CREDITS_LUA } from "./credits.js";

/**
 * The policy algorithms in Lua, with the same arithmetic as core's pure functions
 * (`checkSlidingWindowLog`, `checkSlidingWindowCounter`, `checkGcra`, `checkMonthlyQuota`),
 * so a decision does not depend on which backend made it. Each decides a number of
 * requests of one cost arriving together (a batch of one, usually) as if they came one by
 * one, and answers in integers (see below). Each writes only when told to (`write`), so a
 * script can first ask every policy how many requests it would take and then charge them
 * all the same number: all or nothing. Every key written gets a TTL: idle state expires on
 * its own.
 *
 * Prepended to the scripts that need them (Redis runs each script as one unit, so a
 * decision is atomic across every process).
 */
export const WINDOW_ALGORITHMS_LUA = `
-- Writes cost far more than reads inside a script (each is propagated), so TTLs are
-- refreshed only when the remaining one is shorter than the state must live: at most
-- about once per window, not once per request.
local function keep_alive(key, at_least, ttl)
  if redis.call('PTTL', key) < at_least then redis.call('PEXPIRE', key, ttl) end
end

-- Each algorithm decides up to \`count\` requests of \`cost\` arriving together at \`now\`
-- exactly as if they had come one after another (cost 0: each passes if one of cost 1
-- would, and spends nothing), and with \`write\` counts the allowed ones with one write.
-- It returns {allowed, remaining, resetAtMs, retryAfterMs} as they stand after the
-- allowed ones (retryAfterMs: when the next request would pass, 0 if it would now),
-- followed by each allowed request's own remaining and resetAtMs.

-- keyguard-python's sliding window log: a list of allowed requests' times, oldest first.
local function sliding_log(key, now, limit, window, count, cost, write)
  local horizon = now - window
  local expired = 0
  local oldest = redis.call('LINDEX', key, 0)
  while oldest and tonumber(oldest) <= horizon do
    expired = expired + 1
    oldest = redis.call('LINDEX', key, expired)
  end
  local counted = redis.call('LLEN', key) - expired
  local first = tonumber(oldest) or now
  local check = math.max(cost, 1)
  local allowed = 0
  if counted + check <= limit then
    if cost > 0 then allowed = math.min(count, math.floor((limit - counted) / cost)) else allowed = count end
  end
  local used = counted + allowed * cost
  local reply = {allowed, math.max(0, limit - used), first + window, 0}
  -- The next request passes once enough of the counted ones have left the window.
  local leaving = used + check - limit
  if leaving > 0 then
    local freed = now
    if leaving <= counted then freed = tonumber(redis.call('LINDEX', key, expired + leaving - 1)) end
    reply[4] = freed + window - now
  end
  for i = 1, allowed do
    reply[3 + 2 * i] = limit - counted - i * cost
    reply[4 + 2 * i] = first + window
  end
  if write then
    if expired > 0 then redis.call('LTRIM', key, expired, -1) end
    local pushes = allowed * cost
    if pushes > 0 then
      local times = {}
      for i = 1, math.min(pushes, 1000) do times[i] = now end
      while pushes > 0 do
        if pushes < #times then
          for i = pushes + 1, #times do times[i] = nil end
        end
        redis.call('RPUSH', key, unpack(times))
        pushes = pushes - #times
      end
      keep_alive(key, window, 2 * window)
    end
  end
  return reply
end

-- Cloudflare's sliding window counter: this and the previous fixed window's counts.
local function sliding_counter(key, now, limit, window, count, cost, write)
  local window_start = now - (now % window)
  local state = redis.call('HMGET', key, 'start', 'current', 'previous')
  local start = tonumber(state[1]) or 0
  local current = tonumber(state[2]) or 0
  local previous = tonumber(state[3]) or 0
  if start ~= window_start then
    if window_start - start == window then previous = current else previous = 0 end
    current = 0
  end
  local elapsed = now - window_start
  local estimated = previous * (1 - elapsed / window) + current
  local reset = window_start + window
  local check = math.max(cost, 1)
  local reply = {0, 0, reset, 0}
  local allowed = 0
  while allowed < count and estimated + allowed * cost + check <= limit do
    allowed = allowed + 1
    reply[3 + 2 * allowed] = math.max(0, math.floor(limit - (estimated + allowed * cost)))
    reply[4 + 2 * allowed] = reset
  end
  reply[1] = allowed
  current = current + allowed * cost
  estimated = estimated + allowed * cost
  if write and allowed * cost > 0 then
    redis.call('HSET', key, 'start', window_start, 'current', current, 'previous', previous)
    keep_alive(key, 2 * window, 3 * window)
  end
  reply[2] = math.max(0, math.floor(limit - estimated))
  if estimated + check > limit then
    local retry = window_start + window - now
    if previous > 0 and current + check <= limit then
      local needed = (limit - current - check) / previous
      retry = math.max(1, math.ceil((1 - needed) * window - elapsed))
    end
    reply[4] = retry
  end
  return reply
end

-- GCRA: the theoretical arrival time of the next request, kept with sub-ms precision.
local function gcra(key, now, limit, window, count, cost, write)
  local interval = window / limit
  local tat = math.max(tonumber(redis.call('GET', key)) or 0, now)
  local check = math.max(cost, 1)
  local reply = {0, 0, 0, 0}
  local allowed = 0
  local stored
  while allowed < count do
    if now < tat + check * interval - window then break end
    allowed = allowed + 1
    local new_tat = tat + cost * interval
    reply[3 + 2 * allowed] = math.max(0, math.floor((window - (new_tat - now)) / interval))
    reply[4 + 2 * allowed] = math.ceil(new_tat)
    if cost > 0 then
      -- The state is stored to the microsecond; the next request starts from that value.
      stored = string.format('%.3f', new_tat)
      tat = tonumber(stored)
    end
  end
  reply[1] = allowed
  if write and stored then
    -- The state matters until the arrival time passes, never more than a window ahead.
    redis.call('SET', key, stored, 'KEEPTTL')
    keep_alive(key, window + math.ceil(interval), 2 * window + math.ceil(interval))
  end
  reply[3] = math.ceil(tat)
  local allow_at = tat + check * interval - window
  if now < allow_at then reply[4] = math.ceil(allow_at - now) end
  reply[2] = math.max(0, math.floor((window - (tat - now)) / interval))
  return reply
end

-- A calendar-month quota: the month's count (its key names the month); \`window\` is the
-- month's end. Kept a day past it, so a late request still finds its month's count.
local function calendar_month(key, now, limit, month_end, count, cost, write)
  local used = tonumber(redis.call('GET', key)) or 0
  local check = math.max(cost, 1)
  local allowed = 0
  if used + check <= limit then
    if cost > 0 then allowed = math.min(count, math.floor((limit - used) / cost)) else allowed = count end
  end
  local reply = {allowed, 0, month_end, 0}
  for i = 1, allowed do
    reply[3 + 2 * i] = limit - used - i * cost
    reply[4 + 2 * i] = month_end
  end
  if write and allowed * cost > 0 then
    local after = redis.call('INCRBY', key, allowed * cost)
    -- Set once, when the month's count is created.
    if after == allowed * cost then redis.call('PEXPIRE', key, month_end + 86400000 - now) end
  end
  used = used + allowed * cost
  reply[2] = math.max(0, limit - used)
  if used + check > limit then reply[4] = month_end - now end
  return reply
end

${CREDITS_LUA}
local ALGORITHMS = { sliding_log, sliding_counter, gcra, calendar_month, credits_balance }

local function count_in_window(key, algorithm, now, limit, window, count, cost, write)
  return ALGORITHMS[algorithm](key, now, limit, window, count, cost, write)
end
`;

/** Algorithm names as the scripts number them (`ALGORITHMS` above). */
export const ALGORITHM_NUMBER = {
  "sliding-window-log": 1,
  "sliding-window-counter": 2,
  gcra: 3,
  "calendar-month": 4,
  credits: 5,
  /** Counted by `CONCURRENCY_SLOTS_LUA`, which wraps `count_in_window`. */
  concurrency: 6,
} as const;
