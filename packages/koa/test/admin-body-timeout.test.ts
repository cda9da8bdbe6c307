import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { describeAdminBodyTimeout, serveNodeServer } from "@keyguard/testkit";
import Koa from "koa";
import { keyguardAdmin } from "../src/index.js";

describeAdminBodyTimeout(
  "Koa",
  async (kg, options) => {
    const app = new Koa();
    app.use(keyguardAdmin(kg, { prefix: "/admin", ...options }));
    return serveNodeServer(app.listen(0));
  },
  {
    openStore: () => createKyselyStore({ url: "sqlite::memory:" }),
    createLimiter: () => new MemoryLimiter(),
  },
);
