import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { describeMetricsConformance, serveNodeServer } from "@keyguard/testkit";
import express from "express";
import { keyguard, keyguardMetrics } from "../src/index.js";

describeMetricsConformance(
  "Express",
  async (kg, options) => {
    const app = express();
    app.get("/metrics", keyguardMetrics(kg, options));
    app.use(keyguard(kg, { protectedPath: "/api" }));
    app.get("/api/*rest", (_req, res) => {
      res.json({ ok: true });
    });
    return serveNodeServer(app.listen(0));
  },
  {
    openStore: () => createKyselyStore({ url: "sqlite::memory:" }),
    createLimiter: () => new MemoryLimiter(),
  },
);
