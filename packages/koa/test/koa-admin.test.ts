import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import {
  describeAdminConformanceOnDatabases,
  type StartAdminApp,
  serveNodeServer,
} from "@keyguard/testkit";
import Koa from "koa";
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

await describeAdminConformanceOnDatabases("Koa", startAdminApp, {
  openStore: createKyselyStore,
  createLimiter: () => new MemoryLimiter(),
});
