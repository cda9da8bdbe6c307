import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import {
  describeAdminConformance,
  kyselyTestDatabases,
  postgresAvailable,
  type StartAdminApp,
  serveNodeServer,
} from "@keyguard/testkit";
import express from "express";
import { describe } from "vitest";
import { keyguard, keyguardAdmin } from "../src/index.js";

const startAdminApp: StartAdminApp = async (kg) => {
  const app = express();
  app.use("/admin", keyguardAdmin(kg));
  app.use(keyguard(kg));
  app.get("/api/data", (_req, res) => {
    res.json({ message: "Authorized!" });
  });
  return serveNodeServer(app.listen(0));
};

const databases = kyselyTestDatabases(createKyselyStore);
const createLimiter = () => new MemoryLimiter();
describeAdminConformance("Express on SQLite", startAdminApp, {
  openStore: databases.sqlite,
  createLimiter,
});
describe.runIf(await postgresAvailable())("PostgreSQL", () => {
  describeAdminConformance("Express on PostgreSQL", startAdminApp, {
    openStore: databases.postgres,
    createLimiter,
  });
});
