/**
 * The three rate-limit algorithms in Lua, with the same arithmetic as core's pure
 * functions (`slidingWindowLog`, `slidingWindowCounter`, `gcra`), so a decision does not
 * depend on which backend made it. Each takes the Redis key holding its state and returns
 * `{allowed (1/0), remaining, resetAtMs, retryAfterMs}` as integers; refused requests
 * change nothing. Every key written gets a TTL: idle state expires on its own.
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

-- The seed's sliding window log: a list of allowed requests' times, oldest first.
local function sliding_log(key, now, limit, window, count_it)
  local horizon = now - window
  local expired = 0
  local oldest = redis.call('LINDEX', key, 0)
  while oldest and tonumber(oldest) <= horizon do
    expired = expired + 1
    oldest = redis.call('LINDEX', key, expired)
  end
  if expired > 0 then redis.call('LTRIM', key, expired, -1) end
  local counted = redis.call('LLEN', key)
  if counted < limit then
    if count_it then
      redis.call('RPUSH', key, now)
      keep_alive(key, window, 2 * window)
      counted = counted + 1
    end
    local first = tonumber(oldest) or now
    return {1, limit - counted, first + window, 0}
  end
  local first = tonumber(oldest)
  return {0, 0, first + window, first + window - now}
end

-- Cloudflare's sliding window counter: this and the previous fixed window's counts.
local function sliding_counter(key, now, limit, window, count_it)
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
  if estimated + 1 <= limit then
    if count_it then
      redis.call('HSET', key, 'start', window_start, 'current', current + 1, 'previous', previous)
      keep_alive(key, 2 * window, 3 * window)
      estimated = estimated + 1
    end
    return {1, math.max(0, math.floor(limit - estimated)), window_start + window, 0}
  end
  local retry = window_start + window - now
  if previous > 0 and current + 1 <= limit then
    local needed = (limit - current - 1) / previous
    retry = math.max(1, math.ceil((1 - needed) * window - elapsed))
  end
  return {0, 0, window_start + window, retry}
end

-- GCRA: the theoretical arrival time of the next request, kept with sub-ms precision.
local function gcra(key, now, limit, window, count_it)
  local interval = window / limit
  local tat = math.max(tonumber(redis.call('GET', key)) or 0, now)
  local new_tat = tat + interval
  local allow_at = new_tat - window
  if now < allow_at then
    return {0, 0, math.ceil(tat), math.ceil(allow_at - now)}
  end
  if count_it then
    -- The state matters until the arrival time passes, never more than a window ahead.
    redis.call('SET', key, string.format('%.3f', new_tat), 'KEEPTTL')
    keep_alive(key, window + math.ceil(interval), 2 * window + math.ceil(interval))
    tat = new_tat
  end
  return {1, math.max(0, math.floor((window - (tat - now)) / interval)), math.ceil(tat), 0}
end

local ALGORITHMS = { sliding_log, sliding_counter, gcra }

local function count_in_window(key, algorithm, now, limit, window, count_it)
  return ALGORITHMS[algorithm](key, now, limit, window, count_it)
end
`;

/** Algorithm names as the scripts number them (`ALGORITHMS` above). */
export const ALGORITHM_NUMBER = {
  "sliding-window-log": 1,
  "sliding-window-counter": 2,
  gcra: 3,
} as const;
