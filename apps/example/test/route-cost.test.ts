import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard } from "@keyguard/express";
import { afterEach, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, startExampleProcess } from "./example-process.js";

describe.each(["express", "fastify", "koa"])(
  "example app: %s, GET /api/report at cost 5",
  (framework) => {
    const cleanups: Array<() => void> = [];
    afterEach(() => {
      for (const cleanup of cleanups.splice(0)) cleanup();
    });

    it("spends 5 of the key's window per report and 1 per other request", async () => {
      const directory = mkdtempSync(join(tmpdir(), `keyguard-example-cost-${framework}-`));
      cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
      const databaseUrl = `sqlite:${join(directory, "keyguard.db")}`;
      const admin = await createKeyGuard({ secretKey: EXAMPLE_SECRET, databaseUrl }, { env: {} });
      await admin.createOrganization("Acme Corp");
      const reports = await admin.createApiKey({
        organization: "Acme Corp",
        label: "reports",
        rateLimitPerMinute: 10,
      });
      const mixed = await admin.createApiKey({
        organization: "Acme Corp",
        label: "mixed",
        rateLimitPerMinute: 10,
      });
      await admin.close();

      const server = await startExampleProcess(framework, { KEYGUARD_DATABASE_URL: databaseUrl });
      cleanups.push(() => server.child.kill("SIGKILL"));
      const get = (path: string, rawKey: string) =>
        fetch(`${server.url}${path}`, { headers: { "x-api-key": rawKey } });

      const first = await get("/api/report", reports.rawKey);
      expect(first.status).toBe(200);
      const report = (await first.json()) as Record<string, unknown>;
      expect(report).toMatchObject({ key_label: "reports", total_requests: expect.any(Number) });
      expect(Array.isArray(report.hours)).toBe(true);
      expect(first.headers.get("ratelimit-policy")).toBe('"minute";q=10;w=60');
      expect(first.headers.get("ratelimit")).toMatch(/^"minute";r=5;t=\d+$/);
      const second = await get("/api/report", reports.rawKey);
      expect(second.status).toBe(200);
      expect(second.headers.get("ratelimit")).toMatch(/^"minute";r=0;t=\d+$/);
      const refused = await get("/api/report", reports.rawKey);
      expect(refused.status).toBe(429);
      expect(refused.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(await refused.json()).toMatchObject({ code: "rate_limited" });
      expect(refused.headers.get("ratelimit")).toMatch(/^"minute";r=0;t=\d+$/);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);

      // Another route spends 1 of the same window; a report after it, 5.
      const data = await get("/api/data", mixed.rawKey);
      expect(data.status).toBe(200);
      expect(data.headers.get("ratelimit")).toMatch(/^"minute";r=9;t=\d+$/);
      expect((await get("/api/report", mixed.rawKey)).headers.get("ratelimit")).toMatch(
        /^"minute";r=4;t=\d+$/,
      );
      expect((await get("/api/profile", mixed.rawKey)).headers.get("ratelimit")).toMatch(
        /^"minute";r=3;t=\d+$/,
      );
      // Without a key the report is refused like every protected route.
      expect((await fetch(`${server.url}/api/report`)).status).toBe(401);

      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
    });
  },
);
