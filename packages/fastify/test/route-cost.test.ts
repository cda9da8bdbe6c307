import { join } from "node:path";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { describeRouteCostConformance } from "@keyguard/testkit";
import Fastify from "fastify";
import { keyguard } from "../src/index.js";

describeRouteCostConformance(
  "Fastify",
  async (kg) => {
    const app = Fastify();
    await app.register(keyguard, { kg, protectedPath: "/api" });
    app.get("/api/data", async () => ({ message: "Authorized!" }));
    app.get("/api/report", { config: { keyguard: { cost: 5 } } }, async () => ({
      report: "ready",
    }));
    app.get("/api/peek", { config: { keyguard: { cost: 0 } } }, async () => ({ peek: true }));
    app.get(
      "/api/batch",
      { config: { keyguard: { cost: (request) => Number((request.query as { n?: string }).n) } } },
      async () => ({ batch: true }),
    );
    const broken = () => {
      throw new Error("cost broke");
    };
    app.get("/api/broken", { config: { keyguard: { cost: broken } } }, async () => ({
      reached: true,
    }));
    const url = await app.listen({ port: 0, host: "127.0.0.1" });
    return { url, close: () => app.close() };
  },
  async (kg, cost) => {
    // Both must refuse a bad cost (or accept a good one) alike: a route's config, as the
    // route is registered, and the plugin's option, as the plugin is.
    const outcomes = await Promise.all([
      settle(async () => {
        const app = Fastify();
        try {
          await app.register(keyguard, { kg });
          app.get(
            "/api/report",
            { config: { keyguard: { cost: cost as number } } },
            async () => ({}),
          );
          await app.ready();
        } finally {
          await app.close();
        }
      }),
      settle(async () => {
        const app = Fastify();
        try {
          await app.register(keyguard, { kg, cost: cost as number });
          await app.ready();
        } finally {
          await app.close();
        }
      }),
    ]);
    const [route, plugin] = outcomes;
    if (route === undefined && plugin === undefined) return;
    if (route === undefined || plugin === undefined) {
      throw new Error(
        `only the ${route === undefined ? "plugin" : "route"} refused ${String(cost)}`,
      );
    }
    throw route;
  },
  {
    openStore: (directory) =>
      createKyselyStore({ url: `sqlite:${join(directory, "keyguard.db")}` }),
    createLimiter: () => new MemoryLimiter(),
  },
);

/** What `run` threw, or `undefined`. */
async function settle(run: () => Promise<void>): Promise<unknown> {
  try {
    await run();
    return undefined;
  } catch (error) {
    return error ?? new Error("threw nothing");
  }
}
