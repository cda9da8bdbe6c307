import type { AddressInfo } from "node:net";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import {
  describeAdminConformance,
  kyselyTestDatabases,
  postgresAvailable,
  type StartAdminApp,
} from "@keyguard/testkit";
import Fastify from "fastify";
import { describe } from "vitest";
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

const databases = kyselyTestDatabases(createKyselyStore);
const createLimiter = () => new MemoryLimiter();
describeAdminConformance("Fastify on SQLite", startAdminApp, {
  openStore: databases.sqlite,
  createLimiter,
});
describe.runIf(await postgresAvailable())("PostgreSQL", () => {
  describeAdminConformance("Fastify on PostgreSQL", startAdminApp, {
    openStore: databases.postgres,
    createLimiter,
  });
});
