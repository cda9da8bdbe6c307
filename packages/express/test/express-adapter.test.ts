import { join } from "node:path";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { describeAdapterConformance, serveNodeServer } from "@keyguard/testkit";
import express from "express";
import { blockRequest, keyguard, rateLimitByIp, requireScopes } from "../src/index.js";

describeAdapterConformance(
  "Express",
  async (kg, options) => {
    const app = express();
    app.use(keyguard(kg, options));
    app.get("/health", (_req, res) => {
      res.json({ status: "ok" });
    });
    app.get("/api/data", (_req, res) => {
      res.json({ message: "Authorized!" });
    });
    app.get("/api/profile", (req, res) => {
      res.json({
        org_id: req.apiKey?.orgId,
        key_label: req.apiKey?.label,
        scopes: req.apiKey?.scopes,
      });
    });
    app.get("/api/admin", requireScopes("admin"), (_req, res) => {
      res.json({ ok: true });
    });
    app.get("/api/fail", (_req, res) => {
      res.status(500).json({ error: "boom" });
    });
    app.post("/api/withdraw", async (req, res) => {
      await blockRequest(kg, req, { duration: "1 hour", scope: "path" });
      res.json({ error: "Suspicious activity. Endpoint locked for 1 hour." });
    });
    app.get("/search", rateLimitByIp(kg, { limit: 5 }), (_req, res) => {
      res.json({ results: [] });
    });
    app.post("/login", rateLimitByIp(kg, { limit: 3, lockout: "1 hour" }), (_req, res) => {
      res.json({ ok: true });
    });
    app.post("/signup", rateLimitByIp(kg, { limit: 2, lockout: "4:00 PM" }), (_req, res) => {
      res.json({ ok: true });
    });
    app.post(
      "/heavy",
      rateLimitByIp(kg, { limit: 1, lockout: 600, scope: "global" }),
      (_req, res) => {
        res.json({ ok: true });
      },
    );
    return serveNodeServer(app.listen(0));
  },
  {
    openStore: (directory) =>
      createKyselyStore({ url: `sqlite:${join(directory, "keyguard.db")}` }),
    createLimiter: () => new MemoryLimiter(),
  },
);
