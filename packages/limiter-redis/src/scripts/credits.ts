/**
 * A balance of prepaid credits in Lua, with the arithmetic of core's `checkCredits`: the
 * count is what the key's rotation lineage spent in the balance period its key names;
 * `limit` is the period's credits and `period_end` the next refill (0 without a refill).
 * Answers like the window algorithms (see `WINDOW_ALGORITHMS_LUA`), except that a balance
 * without a refill that refuses answers `retryAfterMs` -1: no time helps, only a top-up
 * (the decoder reports it refused with no retry time).
 *
 * A period with a refill is kept a day past its end, as a month's quota is; one without is
 * kept 60 days after its last spending (refreshed at most once a month), then seeded again
 * from the store if it is used once more.
 */
export const CREDITS_LUA = `
local CREDITS_IDLE_TTL = 60 * 86400000

local function credits_balance(key, now, limit, period_end, count, cost, write)
  local spent = tonumber(redis.call('GET', key)) or 0
  local check = math.max(cost, 1)
  local allowed = 0
  if spent + check <= limit then
    if cost > 0 then allowed = math.min(count, math.floor((limit - spent) / cost)) else allowed = count end
  end
  local reset = period_end
  if reset == 0 then reset = now end
  local reply = {allowed, 0, reset, 0}
  for i = 1, allowed do
    reply[3 + 2 * i] = limit - spent - i * cost
    reply[4 + 2 * i] = reset
  end
  if write and allowed * cost > 0 then
    local after = redis.call('INCRBY', key, allowed * cost)
    if period_end > 0 then
      if after == allowed * cost then redis.call('PEXPIRE', key, period_end + 86400000 - now) end
    else
      keep_alive(key, CREDITS_IDLE_TTL / 2, CREDITS_IDLE_TTL)
    end
  end
  spent = spent + allowed * cost
  reply[2] = math.max(0, limit - spent)
  if spent + check > limit then
    if period_end > 0 then reply[4] = period_end - now else reply[4] = -1 end
  end
  return reply
end
`;

/** How long a seeded balance without a refill is kept (ms), as `CREDITS_LUA` keeps it. */
export const CREDITS_IDLE_TTL_MS = 60 * 86_400_000;
