/**
 * One server under load: `bench-server.ts <framework> <variant> <sqlite file>`, printing
 * `READY <port>`. Variants: `bare` (no limiter), `keyguard` (key auth + limits + headers +
 * usage logging on SQLite), `headers` (only the five rate-limit headers KeyGuard sends, see
 * `fiveRateLimitHeaders`), `peer` (the framework's own rate limiter), `flexible`
 * (rate-limiter-flexible's memory limiter in a hook); for Fastify also `keyguard-redis`,
 * `peer-redis` (@fastify/rate-limit's Redis store) and `flexible-redis` (RateLimiterRedis),
 * on the Redis at BENCH_REDIS_URL. Limits are set so nothing is refused:
 * what is measured is the cost of checking, not of refusing.
 *
 * Diagnostic switches for profiling the KeyGuard variant (not used by `pnpm bench`):
 * BENCH_NO_USAGE=1 (no usage events), BENCH_NO_HEADERS=1 (no rate-limit headers),
 * BENCH_ALGO=gcra|sliding-window-counter (another key algorithm).
 */
import type { AddressInfo } from "node:net";
import rateLimitFastify from "@fastify/rate-limit";
import { KeyGuard, resolveConfig, type Store } from "@keyguard/core";
import { keyPolicies, policyHeaderParts, rateLimitHeaders } from "@keyguard/core/internal";
import { keyguard as keyguardExpress } from "@keyguard/express";
import { keyguard as keyguardFastify } from "@keyguard/fastify";
import { keyguard as keyguardKoa } from "@keyguard/koa";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createRedisBackend } from "@keyguard/limiter-redis";
import { createKyselyStore } from "@keyguard/store-kysely";
import Router from "@koa/router";
import express from "express";
import rateLimitExpress from "express-rate-limit";
import Fastify from "fastify";
import { Redis } from "ioredis";
import Koa from "koa";
import rateLimitKoa from "koa-ratelimit";
import { RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible";
import { BENCH_SECRET } from "./bench-processes.js";

const [framework, variant, databaseFile] = process.argv.slice(2) as [string, string, string];
const HUGE = 1_000_000_000;
const body = { message: "Authorized!" };

let lookups = 0;
async function createBenchKeyGuard(): Promise<KeyGuard> {
  const store = await createKyselyStore({ url: `sqlite:${databaseFile}` });
  // Counts store look-ups, to show floods of bad keys cost no database queries.
  const counted = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      if (property !== "findApiKeyByHash") return value.bind(target);
      return (hash: string) => {
        lookups++;
        return value.call(target, hash);
      };
    },
  }) as Store;
  const redis = variant.endsWith("-redis")
    ? await createRedisBackend({ url: REDIS_URL, prefix: `${REDIS_PREFIX}kg:` })
    : undefined;
  const kg = new KeyGuard({
    config: resolveConfig(
      { secretKey: BENCH_SECRET, ipBlockThreshold: Number.MAX_SAFE_INTEGER },
      {},
    ),
    store: counted,
    limiter: redis?.limiter ?? new MemoryLimiter(),
    changeFeed: redis?.changeFeed,
  });
  await kg.init();
  if (process.env.BENCH_NO_USAGE === "1") kg.recordUsage = () => {};
  return kg;
}

const flexible = new RateLimiterMemory({ points: HUGE, duration: 60 });

/**
 * The `headers` variant: the five rate-limit fields KeyGuard sends by default, with values
 * that change per request as KeyGuard's do, and nothing behind them (no key, no limit). It
 * shows what the response headers alone cost each framework.
 */
let headerCountdown = HUGE;
const MINUTE_HEADER_PARTS = policyHeaderParts(
  keyPolicies({ rateLimitPerMinute: HUGE, monthlyLimit: null }, "sliding-window-log"),
);
function fiveRateLimitHeaders(): Record<string, string> {
  const now = Date.now();
  headerCountdown--;
  const minute = {
    allowed: true,
    limit: HUGE,
    remaining: headerCountdown,
    resetAtMs: now + 60_000,
    retryAfterMs: 0,
  };
  const decision = { ...minute, policies: [minute] };
  return rateLimitHeaders(MINUTE_HEADER_PARTS, decision, now, "both"); // core's own header builder
}
/** The Redis variants (`*-redis`, Fastify only) share this server; each has its own prefix. */
const REDIS_URL = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const REDIS_PREFIX = process.env.BENCH_REDIS_PREFIX ?? "bench:";

async function startExpress(): Promise<number> {
  const app = express();
  if (variant === "keyguard")
    app.use(keyguardExpress(await createBenchKeyGuard(), { protectedPath: "/api" }));
  if (variant === "peer")
    app.use(
      "/api",
      rateLimitExpress({
        windowMs: 60_000,
        limit: HUGE,
        standardHeaders: "draft-8",
        legacyHeaders: true,
      }),
    );
  if (variant === "headers") {
    app.use("/api", (_req, res, next) => {
      res.set(fiveRateLimitHeaders());
      next();
    });
  }
  if (variant === "flexible") {
    app.use("/api", (req, res, next) => {
      flexible.consume(req.socket.remoteAddress ?? "").then(
        (r) => {
          res.set("x-ratelimit-remaining", String(r.remainingPoints));
          next();
        },
        () => res.status(429).end(),
      );
    });
  }
  app.get("/api/data", (_req, res) => {
    res.json(body);
  });
  app.get("/__bench/lookups", (_req, res) => {
    res.json({ lookups });
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  return (server.address() as AddressInfo).port;
}

async function startFastify(): Promise<number> {
  const app = Fastify();
  if (variant === "keyguard" || variant === "keyguard-redis")
    await app.register(keyguardFastify, {
      kg: await createBenchKeyGuard(),
      protectedPath: "/api",
      ...(process.env.BENCH_NO_HEADERS === "1" ? { rateLimitHeaders: false as const } : {}),
      ...(process.env.BENCH_ALGO ? { algorithm: process.env.BENCH_ALGO as "gcra" } : {}),
    });
  if (variant === "headers") {
    app.addHook("onRequest", async (_request, reply) => {
      reply.headers(fiveRateLimitHeaders());
    });
  }
  if (variant === "peer") await app.register(rateLimitFastify, { max: HUGE, timeWindow: 60_000 });
  if (variant === "peer-redis") {
    await app.register(rateLimitFastify, {
      max: HUGE,
      timeWindow: 60_000,
      redis: new Redis(REDIS_URL),
      nameSpace: `${REDIS_PREFIX}peer:`,
    });
  }
  if (variant === "flexible" || variant === "flexible-redis") {
    const limiter =
      variant === "flexible"
        ? flexible
        : new RateLimiterRedis({
            storeClient: new Redis(REDIS_URL),
            points: HUGE,
            duration: 60,
            keyPrefix: `${REDIS_PREFIX}flexible`,
          });
    app.addHook("onRequest", async (request, reply) => {
      try {
        const r = await limiter.consume(request.ip);
        reply.header("x-ratelimit-remaining", String(r.remainingPoints));
      } catch {
        return reply.code(429).send();
      }
    });
  }
  app.get("/api/data", async () => body);
  app.get("/__bench/lookups", { config: { rateLimit: false } }, async () => ({ lookups }));
  await app.listen({ port: 0, host: "127.0.0.1" });
  return (app.server.address() as AddressInfo).port;
}

async function startKoa(): Promise<number> {
  const app = new Koa();
  const router = new Router();
  router.get("/api/data", (ctx) => {
    ctx.body = body;
  });
  router.get("/__bench/lookups", (ctx) => {
    ctx.body = { lookups };
  });
  if (variant === "keyguard")
    app.use(keyguardKoa(await createBenchKeyGuard(), { protectedPath: "/api" }));
  if (variant === "peer") {
    app.use(
      rateLimitKoa({
        driver: "memory",
        db: new Map(),
        duration: 60_000,
        max: HUGE,
        id: (ctx) => ctx.ip,
      }),
    );
  }
  if (variant === "headers") {
    app.use(async (ctx, next) => {
      ctx.set(fiveRateLimitHeaders());
      await next();
    });
  }
  if (variant === "flexible") {
    app.use(async (ctx, next) => {
      try {
        const r = await flexible.consume(ctx.ip);
        ctx.set("x-ratelimit-remaining", String(r.remainingPoints));
      } catch {
        ctx.status = 429;
        return;
      }
      await next();
    });
  }
  app.use(router.routes());
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  return (server.address() as AddressInfo).port;
}

const starters: Record<string, () => Promise<number>> = {
  express: startExpress,
  fastify: startFastify,
  koa: startKoa,
};
const start = starters[framework];
if (!start) throw new Error(`unknown framework ${framework}`);
const port = await start();
process.stdout.write(`READY ${port}\n`);
// A clean exit on SIGINT/SIGTERM lets --cpu-prof write its profile when profiling a run.
process.on("SIGINT", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
