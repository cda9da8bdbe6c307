import { createServer } from "node:http";
import { join } from "node:path";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { describeRouteCostConformance, serveNodeServer } from "@keyguard/testkit";
import Router from "@koa/router";
import Koa from "koa";
import { keyguard } from "../src/index.js";

describeRouteCostConformance(
  "Koa",
  async (kg) => {
    const app = new Koa();
    // Costlier routes on a router of their own, ahead of the app-wide guard: answered
    // there, they never reach it (it would charge them 1 more).
    const costly = new Router();
    costly.get("/api/report", keyguard(kg, { cost: 5 }), (ctx) => {
      ctx.body = { report: "ready" };
    });
    costly.get("/api/peek", keyguard(kg, { cost: 0 }), (ctx) => {
      ctx.body = { peek: true };
    });
    costly.get("/api/batch", keyguard(kg, { cost: (ctx) => Number(ctx.query.n) }), (ctx) => {
      ctx.body = { batch: true };
    });
    const broken = () => {
      throw new Error("cost broke");
    };
    costly.get("/api/broken", keyguard(kg, { cost: broken }), (ctx) => {
      ctx.body = { reached: true };
    });
    const router = new Router();
    router.get("/api/data", (ctx) => {
      ctx.body = { message: "Authorized!" };
    });
    app.use(costly.routes());
    app.use(keyguard(kg, { protectedPath: "/api" }));
    app.use(router.routes());
    return serveNodeServer(createServer(app.callback()).listen(0));
  },
  (kg, cost) => {
    keyguard(kg, { cost: cost as number });
  },
  {
    openStore: (directory) =>
      createKyselyStore({ url: `sqlite:${join(directory, "keyguard.db")}` }),
    createLimiter: () => new MemoryLimiter(),
  },
);
