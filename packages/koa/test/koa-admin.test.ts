import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import {
  describeAdminConformance,
  kyselyTestDatabases,
  postgresAvailable,
  type StartAdminApp,
  serveNodeServer,
} from "@keyguard/testkit";
import Koa from "koa";
import { describe } from "vitest";
import { keyguard, keyguardAdmin } from "../src/index.js";

const startAdminApp: StartAdminApp = async (kg) => {
  const app = new Koa();
  app.use(keyguardAdmin(kg, { prefix: "/admin" }));
  app.use(keyguard(kg));
  app.use((ctx) => {
    if (ctx.path === "/api/data") ctx.body = { message: "Authorized!" };
  });
  return serveNodeServer(app.listen(0));
};

const databases = kyselyTestDatabases(createKyselyStore);
const createLimiter = () => new MemoryLimiter();
describeAdminConformance("Koa on SQLite", startAdminApp, {
  openStore: databases.sqlite,
  createLimiter,
});
describe.runIf(await postgresAvailable())("PostgreSQL", () => {
  describeAdminConformance("Koa on PostgreSQL", startAdminApp, {
    openStore: databases.postgres,
    createLimiter,
  });
});
