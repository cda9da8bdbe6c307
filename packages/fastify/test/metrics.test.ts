import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { describeMetricsConformance } from "@keyguard/testkit";
import Fastify from "fastify";
import { keyguard, keyguardMetrics } from "../src/index.js";

describeMetricsConformance(
  "Fastify",
  async (kg, options) => {
    const app = Fastify();
    await app.register(keyguard, { kg, protectedPath: "/api" });
    app.get("/metrics", keyguardMetrics(kg, options));
    app.get("/api/*", async () => ({ ok: true }));
    await app.listen({ port: 0, host: "127.0.0.1" });
    const { port } = app.server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
  },
  {
    openStore: () => createKyselyStore({ url: "sqlite::memory:" }),
    createLimiter: () => new MemoryLimiter(),
  },
);
