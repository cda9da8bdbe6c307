import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyGuard, resolveConfig } from "@keyguard/core";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { rawRequest, serveNodeServer } from "@keyguard/testkit";
import express from "express";
import { afterEach, expect, it } from "vitest";
import { keyguard, rateLimitByIp } from "../src/index.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

it("guards a mounted keyguard() and keys a mounted limit by the whole routed path", async () => {
  const directory = mkdtempSync(join(tmpdir(), "kg-express-mount-"));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const store = await createKyselyStore({ url: `sqlite:${join(directory, "keyguard.db")}` });
  const kg = new KeyGuard({
    config: resolveConfig({ secretKey: "express-mount-secret" }, {}),
    store,
    limiter: new MemoryLimiter(),
  });
  await kg.init();
  cleanups.push(() => kg.close());
  const ran: string[] = [];
  const app = express();
  app.use("/api", keyguard(kg));
  app.get("/api/data", (_req, res) => {
    ran.push("data");
    res.json({ message: "Authorized!" });
  });
  const auth = express.Router();
  auth.post("/login", rateLimitByIp(kg, { limit: 1 }), (_req, res) => {
    ran.push("login");
    res.json({ ok: true });
  });
  app.use("/auth", auth);
  const server = await serveNodeServer(app.listen(0));
  cleanups.push(() => server.close());
  const send = async (method: string, target: string) =>
    (
      await rawRequest(
        server.url,
        `${method} ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      )
    ).status;

  for (const target of ["/api/data", "http://h/api/data", "/API/data#x", "/api/data?x"]) {
    expect(await send("GET", target), target).toBe(401);
  }
  expect(ran).toEqual([]);
  // One bucket for /auth/login, however it is spelled; /login of another mount is not it.
  expect(await send("POST", "/auth/login")).toBe(200);
  for (const target of ["/auth/login#1", "http://h/auth/login", "/AUTH/login/", "/auth/login?a"]) {
    expect(await send("POST", target), target).toBe(429);
  }
  expect(ran).toEqual(["login"]);
});
