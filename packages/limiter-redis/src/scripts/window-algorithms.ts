/**
 * The three rate-limit algorithms in Lua, with the same arithmetic as core's pure
 * functions (`slidingWindowLog`, `slidingWindowCounter`, `gcra`), so a decision does not
 * depend on which backend made it. Each decides a number of requests arriving together (a
 * batch of one, usually) as if they came one by one, and answers in integers (see below);
 * refused requests change nothing. Every key written gets a TTL: idle state expires on
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

-- Each algorithm decides up to \`count\` requests arriving together at \`now\` (0: only
-- look), exactly as if they had come one after another, and counts the allowed ones with
-- one write. It returns {allowed, remaining, resetAtMs, retryAfterMs} as they stand after
-- the allowed ones (retryAfterMs: when the next request would pass, 0 if it would now),
-- followed by each allowed request's own remaining and resetAtMs.

-- The seed's sliding window log: a list of allowed requests' times, oldest first.
local function sliding_log(key, now, limit, window, count)
  local horizon = now - window
  local expired = 0
  local oldest = redis.call('LINDEX', key, 0)
  while oldest and tonumber(oldest) <= horizon do
    expired = expired + 1
    oldest = redis.call('LINDEX', key, expired)
  end
  if expired > 0 then redis.call('LTRIM', key, expired, -1) end
  local counted = redis.call('LLEN', key)
  local first = tonumber(oldest) or now
  local allowed = math.max(0, math.min(count, limit - counted))
  local reply = {allowed, math.max(0, limit - counted - allowed), first + window, 0}
  if counted + allowed >= limit then reply[4] = first + window - now end
  if allowed > 0 then
    local times = {}
    for i = 1, allowed do
      times[i] = now
      reply[3 + 2 * i] = limit - counted - i
      reply[4 + 2 * i] = first + window
    end
    redis.call('RPUSH', key, unpack(times))
    keep_alive(key, window, 2 * window)
  end
  return reply
end

-- Cloudflare's sliding window counter: this and the previous fixed window's counts.
local function sliding_counter(key, now, limit, window, count)
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
  local reply = {0, 0, reset, 0}
  local allowed = 0
  while allowed < count and estimated + allowed + 1 <= limit do
    allowed = allowed + 1
    reply[3 + 2 * allowed] = math.max(0, math.floor(limit - (estimated + allowed)))
    reply[4 + 2 * allowed] = reset
  end
  reply[1] = allowed
  if allowed > 0 then
    current = current + allowed
    estimated = estimated + allowed
    redis.call('HSET', key, 'start', window_start, 'current', current, 'previous', previous)
    keep_alive(key, 2 * window, 3 * window)
  end
  if estimated + 1 <= limit then
    reply[2] = math.max(0, math.floor(limit - estimated))
  else
    local retry = window_start + window - now
    if previous > 0 and current + 1 <= limit then
      local needed = (limit - current - 1) / previous
      retry = math.max(1, math.ceil((1 - needed) * window - elapsed))
    end
    reply[4] = retry
  end
  return reply
end

-- GCRA: the theoretical arrival time of the next request, kept with sub-ms precision.
local function gcra(key, now, limit, window, count)
  local interval = window / limit
  local tat = math.max(tonumber(redis.call('GET', key)) or 0, now)
  local reply = {0, 0, 0, 0}
  local allowed = 0
  local stored
  while allowed < count do
    local new_tat = tat + interval
    if now < new_tat - window then break end
    allowed = allowed + 1
    reply[3 + 2 * allowed] = math.max(0, math.floor((window - (new_tat - now)) / interval))
    reply[4 + 2 * allowed] = math.ceil(new_tat)
    -- The state is stored to the microsecond; the next request starts from that value.
    stored = string.format('%.3f', new_tat)
    tat = tonumber(stored)
  end
  reply[1] = allowed
  if allowed > 0 then
    -- The state matters until the arrival time passes, never more than a window ahead.
    redis.call('SET', key, stored, 'KEEPTTL')
    keep_alive(key, window + math.ceil(interval), 2 * window + math.ceil(interval))
  end
  reply[3] = math.ceil(tat)
  local allow_at = tat + interval - window
  if now < allow_at then
    reply[4] = math.ceil(allow_at - now)
  else
    reply[2] = math.max(0, math.floor((window - (tat - now)) / interval))
  end
  return reply
end

local ALGORITHMS = { sliding_log, sliding_counter, gcra }

local function count_in_window(key, algorithm, now, limit, window, count)
  return ALGORITHMS[algorithm](key, now, limit, window, count)
end
`;

/** Algorithm names as the scripts number them (`ALGORITHMS` above). */
export const ALGORITHM_NUMBER = {
  "sliding-window-log": 1,
  "sliding-window-counter": 2,
  gcra: 3,
} as const;
