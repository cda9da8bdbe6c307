export {
  createRedisBackend,
  type RedisBackend,
  type RedisBackendOptions,
} from "./create-redis-backend.js";
export { RedisChangeFeed, type RedisChangeFeedOptions } from "./redis-change-feed.js";
export { RedisKeyNames } from "./redis-key-names.js";
export {
  DEFAULT_SLOT_LEASE_MS,
  RedisLimiter,
  type RedisLimiterOptions,
} from "./redis-limiter.js";
