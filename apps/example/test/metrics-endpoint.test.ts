import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard } from "@keyguard/express";
import { parseExposition, sampleValue } from "@keyguard/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, startExampleProcess } from "./example-process.js";

describe.each(["express", "fastify", "koa"])("example app's /metrics: %s", (framework) => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  async function start(env: Record<string, string>) {
    const directory = mkdtempSync(join(tmpdir(), `keyguard-metrics-${framework}-`));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const databaseUrl = `sqlite:${join(directory, "keyguard.db")}`;
    const admin = await createKeyGuard({ secretKey: EXAMPLE_SECRET, databaseUrl }, { env: {} });
    await admin.createOrganization("Acme Corp");
    const { rawKey } = await admin.createApiKey({ organization: "Acme Corp", label: "m" });
    await admin.close();
    const server = await startExampleProcess(framework, {
      KEYGUARD_DATABASE_URL: databaseUrl,
      ...env,
    });
    cleanups.push(() => server.child.kill("SIGKILL"));
    return { server, rawKey };
  }

  it("counts the requests served, behind the admin key", async () => {
    const { server, rawKey } = await start({});
    const missing = await fetch(`${server.url}/metrics`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ code: "unauthorized" });
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${server.url}/api/data`, { headers: { "x-api-key": rawKey } });
      expect(response.status).toBe(200);
    }
    for (let i = 0; i < 2; i++) expect((await fetch(`${server.url}/api/data`)).status).toBe(401);
    const scraped = await fetch(`${server.url}/metrics`, {
      headers: { "x-admin-key": EXAMPLE_SECRET },
    });
    expect(scraped.status).toBe(200);
    const text = await scraped.text();
    const parsed = parseExposition(text);
    expect(sampleValue(parsed, "keyguard_decisions_total", { outcome: "allowed", code: "" })).toBe(
      3,
    );
    expect(
      sampleValue(parsed, "keyguard_decisions_total", {
        outcome: "refused",
        code: "missing_api_key",
      }),
    ).toBe(2);
    expect(text).not.toContain(rawKey);
  });

  it("serves anyone with KEYGUARD_METRICS_PUBLIC=true", async () => {
    const { server } = await start({ KEYGUARD_METRICS_PUBLIC: "true" });
    const response = await fetch(`${server.url}/metrics`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("# TYPE keyguard_decisions_total counter");
  });
});
