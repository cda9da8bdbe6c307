import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyGuard, resolveConfig } from "@keyguard/core";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import express from "express";
import { afterEach, expect, it } from "vitest";
import { keyguard } from "../src/index.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

it("keeps a used-up monthly quota refused when the memory limiter evicted its count (more metered keys than maxEntries)", async () => {
  const directory = mkdtempSync(join(tmpdir(), "kg-express-quota-evict-"));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const store = await createKyselyStore({ url: `sqlite:${join(directory, "keyguard.db")}` });
  const kg = new KeyGuard({
    config: resolveConfig({ secretKey: "express-evict-secret" }, {}),
    store,
    limiter: new MemoryLimiter({ maxEntries: 2 }),
  });
  await kg.init();
  cleanups.push(() => kg.close());
  await kg.createOrganization("Acme");
  const raw: string[] = [];
  for (let i = 0; i < 3; i++) {
    raw.push(
      (await kg.createApiKey({ organization: "Acme", label: `k${i}`, monthlyLimit: 2 })).rawKey,
    );
  }
  const app = express();
  app.use("/api", keyguard(kg));
  app.get("/api/data", (_req, res) => {
    res.json({ ok: true });
  });
  const server = app.listen(0);
  await new Promise((resolve) => server.once("listening", resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/data`;
  const call = async (key: string) => (await fetch(url, { headers: { "x-api-key": key } })).status;

  expect([await call(raw[0] as string), await call(raw[0] as string)]).toEqual([200, 200]);
  expect(await call(raw[0] as string)).toBe(429);
  await kg.flushUsage(); // the store knows the month's two requests
  // Two other metered keys push the first one's count out of the limiter's LRU.
  expect([await call(raw[1] as string), await call(raw[2] as string)]).toEqual([200, 200]);
  // Counted from zero it would pass twice more; seeded again from the store, it does not.
  expect([await call(raw[0] as string), await call(raw[0] as string)]).toEqual([429, 429]);
});
