import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { describeAdminBodyTimeout, serveNodeServer } from "@keyguard/testkit";
import express from "express";
import { keyguardAdmin } from "../src/index.js";

describeAdminBodyTimeout(
  "Express",
  async (kg, options) => {
    const app = express();
    app.use("/admin", keyguardAdmin(kg, options));
    return serveNodeServer(app.listen(0));
  },
  {
    openStore: () => createKyselyStore({ url: "sqlite::memory:" }),
    createLimiter: () => new MemoryLimiter(),
  },
);
