import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import {
  describeAdminConformanceOnDatabases,
  type StartAdminApp,
  serveNodeServer,
} from "@keyguard/testkit";
import express from "express";
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

await describeAdminConformanceOnDatabases("Express", startAdminApp, {
  openStore: createKyselyStore,
  createLimiter: () => new MemoryLimiter(),
});
