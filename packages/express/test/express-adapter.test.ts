import { join } from "node:path";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import {
  describeAdapterConcurrencyConformance,
  describeAdapterConformance,
  type StartAdapterApp,
  serveNodeServer,
} from "@keyguard/testkit";
import express from "express";
import { blockRequest, keyguard, rateLimitByIp, requireScopes } from "../src/index.js";

const startExpress: StartAdapterApp = async (kg, options, record) => {
  const app = express();
  app.use(keyguard(kg, options));
  app.get("/health", (req, res) => {
    record("/health", req.apiKey);
    res.json({ status: "ok" });
  });
  app.get("/api/data", (req, res) => {
    record("/api/data", req.apiKey);
    res.json({ message: "Authorized!" });
  });
  app.get("/api/profile", (req, res) => {
    record("/api/profile", req.apiKey);
    res.json({
      org_id: req.apiKey?.orgId,
      key_label: req.apiKey?.label,
      scopes: req.apiKey?.scopes,
    });
  });
  app.get("/api/admin", requireScopes("admin"), (req, res) => {
    record("/api/admin", req.apiKey);
    res.json({ ok: true });
  });
  app.get("/api/fail", (req, res) => {
    record("/api/fail", req.apiKey);
    res.status(500).json({ error: "boom" });
  });
  app.get("/api/slow", async (req, res, next) => {
    try {
      await record("/api/slow", req.apiKey);
      res.json({ ok: true });
    } catch (error) {
      next(error);
    }
  });
  app.post("/api/withdraw", async (req, res) => {
    record("/api/withdraw", req.apiKey);
    await blockRequest(kg, req, { duration: "1 hour", scope: "path" });
    res.json({ error: "Suspicious activity. Endpoint locked for 1 hour." });
  });
  app.get("/search", rateLimitByIp(kg, { limit: 5 }), (req, res) => {
    record("/search", req.apiKey);
    res.json({ results: [] });
  });
  app.post("/login", rateLimitByIp(kg, { limit: 3, lockout: "1 hour" }), (req, res) => {
    record("/login", req.apiKey);
    res.json({ ok: true });
  });
  app.post("/signup", rateLimitByIp(kg, { limit: 2, lockout: "4:00 PM" }), (req, res) => {
    record("/signup", req.apiKey);
    res.json({ ok: true });
  });
  app.post("/heavy", rateLimitByIp(kg, { limit: 1, lockout: 600, scope: "global" }), (req, res) => {
    record("/heavy", req.apiKey);
    res.json({ ok: true });
  });
  return serveNodeServer(app.listen(0));
};

const onSqliteAndMemory = {
  openStore: (directory: string) =>
    createKyselyStore({ url: `sqlite:${join(directory, "keyguard.db")}` }),
  createLimiter: () => new MemoryLimiter(),
};

describeAdapterConformance("Express", startExpress, onSqliteAndMemory);
describeAdapterConcurrencyConformance("Express", startExpress, onSqliteAndMemory);
