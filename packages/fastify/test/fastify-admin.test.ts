import type { AddressInfo } from "node:net";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { describeAdminConformanceOnDatabases, type StartAdminApp } from "@keyguard/testkit";
import Fastify from "fastify";
import { keyguard, keyguardAdmin } from "../src/index.js";

const startAdminApp: StartAdminApp = async (kg) => {
  const app = Fastify();
  // No protectedPath: every route is protected unless it opts out, as the admin routes do.
  await app.register(keyguard, { kg });
  await app.register(keyguardAdmin, { kg, prefix: "/admin" });
  app.get("/api/data", async () => ({ message: "Authorized!" }));
  await app.listen({ port: 0, host: "127.0.0.1" });
  return {
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    close: () => app.close(),
  };
};

await describeAdminConformanceOnDatabases("Fastify", startAdminApp, {
  openStore: createKyselyStore,
  createLimiter: () => new MemoryLimiter(),
});
