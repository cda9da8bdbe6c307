/**
 * IP blocks in Redis: one hash per client, one field per scope (`global`, or `path:/login`),
 * valued `"<untilMs>|<reason>"`. The hash expires with its longest block, so nothing has
 * to be swept.
 */
export const IP_BLOCKS_LUA = `
-- The longest block on a client that covers path at now: until, reason, scope.
local function find_block(key, now, path)
  local fields = redis.call('HMGET', key, 'global', 'path:' .. path)
  local best_until, best_reason, best_scope = nil, nil, nil
  for i = 1, 2 do
    local value = fields[i]
    if value then
      local sep = string.find(value, '|', 1, true)
      local until_ms = tonumber(string.sub(value, 1, sep - 1))
      if until_ms > now and (best_until == nil or until_ms > best_until) then
        best_until = until_ms
        best_reason = string.sub(value, sep + 1)
        if i == 1 then best_scope = 'global' else best_scope = 'path' end
      end
    end
  end
  return best_until, best_reason, best_scope
end
`;

/** Field name of a block in its client's hash. */
export function blockField(scope: "global" | "path", path: string | undefined): string {
  return scope === "global" ? "global" : `path:${path}`;
}

/**
 * KEYS[1] the client's block hash. ARGV: field, untilMs, reason, now. Sets the block
 * (replacing one of the same scope) and keeps the hash alive until its last block ends.
 * TTLs are relative to the caller's `now`, like every time KeyGuard decides with.
 */
export const BLOCK_LUA = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
local last = 0
for _, value in ipairs(redis.call('HVALS', KEYS[1])) do
  local until_ms = tonumber(string.sub(value, 1, string.find(value, '|', 1, true) - 1))
  if until_ms > last then last = until_ms end
end
redis.call('PEXPIRE', KEYS[1], math.max(1, last - tonumber(ARGV[4])))
return last
`;
