import { join } from "node:path";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { describeRouteCostConformance, serveNodeServer } from "@keyguard/testkit";
import express from "express";
import { keyguard } from "../src/index.js";

describeRouteCostConformance(
  "Express",
  async (kg) => {
    const app = express();
    // Costlier routes first: answered there, they never reach the app-wide guard below,
    // which would charge them 1 more.
    app.get("/api/report", keyguard(kg, { cost: 5 }), (_req, res) => {
      res.json({ report: "ready" });
    });
    app.get("/api/peek", keyguard(kg, { cost: 0 }), (_req, res) => {
      res.json({ peek: true });
    });
    app.get("/api/batch", keyguard(kg, { cost: (req) => Number(req.query.n) }), (_req, res) => {
      res.json({ batch: true });
    });
    const broken = () => {
      throw new Error("cost broke");
    };
    app.get("/api/broken", keyguard(kg, { cost: broken }), (_req, res) => {
      res.json({ reached: true });
    });
    app.use(keyguard(kg, { protectedPath: "/api" }));
    app.get("/api/data", (_req, res) => {
      res.json({ message: "Authorized!" });
    });
    return serveNodeServer(app.listen(0));
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
