export { MemoryLimiter, type MemoryLimiterOptions } from "./memory-limiter.js";
