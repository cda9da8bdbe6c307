import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { describeMetricsConformance, serveNodeServer } from "@keyguard/testkit";
import Koa from "koa";
import { keyguard, keyguardMetrics } from "../src/index.js";

describeMetricsConformance(
  "Koa",
  async (kg, options) => {
    const app = new Koa();
    app.use(keyguardMetrics(kg, { ...options, path: "/metrics" }));
    app.use(keyguard(kg, { protectedPath: "/api" }));
    app.use(async (ctx) => {
      if (ctx.path.startsWith("/api/")) ctx.body = { ok: true };
    });
    return serveNodeServer(app.listen(0));
  },
  {
    openStore: () => createKyselyStore({ url: "sqlite::memory:" }),
    createLimiter: () => new MemoryLimiter(),
  },
);
