import type { AddressInfo } from "node:net";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { describeAdminBodyTimeout } from "@keyguard/testkit";
import Fastify from "fastify";
import { answerClientError, keyguardAdmin } from "../src/index.js";

// Fastify's own requestTimeout is left at its default, 0: the admin API's bound is the only one.
describeAdminBodyTimeout(
  "Fastify",
  async (kg, options) => {
    const app = Fastify({ clientErrorHandler: answerClientError });
    await app.register(keyguardAdmin, { kg, prefix: "/admin", ...options });
    await app.listen({ port: 0, host: "127.0.0.1" });
    return {
      url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      close: () => app.close(),
    };
  },
  {
    openStore: () => createKyselyStore({ url: "sqlite::memory:" }),
    createLimiter: () => new MemoryLimiter(),
  },
);
