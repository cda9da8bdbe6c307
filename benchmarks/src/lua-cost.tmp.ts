import { RedisLimiter } from "@keyguard/limiter-redis";
import { Redis } from "ioredis";

const url = "redis://127.0.0.1:6379";
const admin = new Redis(url);
await admin.config("RESETSTAT");
const limiter = new RedisLimiter({ redis: new Redis(url), prefix: "luacost:" });
for (const monthly of [null, 1e9]) {
  for (const algorithm of ["sliding-window-log", "sliding-window-counter", "gcra"] as const) {
    await admin.config("RESETSTAT");
    const now = Date.now();
    for (let i = 0; i < 20000; i++) {
      await limiter.decide({
        now: now + i,
        client: "1.2.3.4",
        path: "/api/data",
        algorithm,
        key: { id: `k-${algorithm}-${monthly}`, rateLimitPerMinute: 1e9, monthlyLimit: monthly },
      });
    }
    const info = await admin.info("commandstats");
    console.log(algorithm, monthly, /cmdstat_evalsha:[^\r\n]*/.exec(info)?.[0]);
  }
}
await admin.config("RESETSTAT");
admin.defineCommand("peer", {
  numberOfKeys: 1,
  lua: "local c = redis.call('INCR', KEYS[1]) local t = redis.call('PTTL', KEYS[1]) if t < 0 then redis.call('PEXPIRE', KEYS[1], 60000) t = 60000 end return {c, t}",
});
for (let i = 0; i < 20000; i++) await (admin as any).peer("luacost:peer");
console.log("peer-like", /cmdstat_evalsha:[^\r\n]*/.exec(await admin.info("commandstats"))?.[0]);
await limiter.close();
admin.disconnect();
