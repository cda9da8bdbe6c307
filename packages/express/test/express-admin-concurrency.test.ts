import { KeyGuard, resolveConfig } from "@keyguard/core";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { serveNodeServer } from "@keyguard/testkit";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { keyguard, keyguardAdmin } from "../src/index.js";

const SECRET = "admin-concurrency-secret-0123456789";
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The admin API and a protected route over real HTTP, on a real SQLite database. */
async function setup() {
  const kg = new KeyGuard({
    config: resolveConfig({ secretKey: SECRET }, {}),
    store: await createKyselyStore({ url: "sqlite::memory:" }),
    limiter: new MemoryLimiter(),
  });
  await kg.init();
  cleanups.push(() => kg.close());
  const app = express();
  app.use("/admin", keyguardAdmin(kg));
  app.use(keyguard(kg, { protectedPath: "/api" }));
  app.get("/api/data", (_req, res) => {
    res.json({ ok: true });
  });
  const server = await serveNodeServer(app.listen(0));
  cleanups.push(() => server.close());
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${server.url}/admin${path}`, {
      method,
      headers: {
        "x-admin-key": SECRET,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return {
      status: response.status,
      type: response.headers.get("content-type") ?? "",
      body: (await response.json()) as Record<string, unknown>,
    };
  };
  const org = (await call("POST", "/orgs", { name: "Acme Corp" })).body;
  const api = (rawKey: string) =>
    fetch(`${server.url}/api/data`, { headers: { "x-api-key": rawKey } });
  return { kg, call, org, api };
}

describe("admin API concurrency caps", () => {
  it("sets, shows, changes and removes a key's cap, audited, in force at once", async () => {
    const { call, api } = await setup();
    const created = await call("POST", "/keys", {
      org_name: "Acme Corp",
      label: "capped",
      concurrency: 3,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ concurrency: 3, concurrency_mode: "enforce" });
    const id = created.body.id as string;
    const first = await api(created.body.raw_key as string);
    expect(first.status).toBe(200);
    expect(first.headers.get("ratelimit-policy")).toContain(
      '"concurrency";q=3;qu="concurrent-requests"',
    );
    const shadow = await call("PATCH", `/keys/${id}`, {
      concurrency: 5,
      concurrency_mode: "shadow",
    });
    expect(shadow.status).toBe(200);
    expect(shadow.body).toMatchObject({ concurrency: 5, concurrency_mode: "shadow" });
    const changed = await call("PATCH", `/keys/${id}`, { concurrency: 1 });
    expect((await call("GET", `/keys/${id}`)).body).toMatchObject({
      concurrency: 1,
      concurrency_mode: "enforce",
    });
    expect(changed.status).toBe(200);
    // In force at once: the next request is decided against the new cap.
    expect((await api(created.body.raw_key as string)).headers.get("ratelimit-policy")).toContain(
      '"concurrency";q=1;',
    );
    const removed = await call("PATCH", `/keys/${id}`, { concurrency: null });
    expect(removed.body).toMatchObject({ concurrency: null, concurrency_mode: null });
    const after = await api(created.body.raw_key as string);
    expect(after.headers.get("ratelimit-policy")).not.toContain("concurrency");
    const audit = await call("GET", `/audit?action=key.updated&target_id=${id}`);
    const changes = (audit.body.items as { changes: { before: object; after: object } }[]).map(
      (event) => event.changes,
    );
    expect(changes).toEqual([
      {
        before: { concurrency: 3, concurrency_mode: null },
        after: { concurrency: 5, concurrency_mode: "shadow" },
      },
      {
        before: { concurrency: 5, concurrency_mode: "shadow" },
        after: { concurrency: 1, concurrency_mode: null },
      },
      { before: { concurrency: 1 }, after: { concurrency: null } },
    ]);
  });

  it("sets and removes an organization's cap, audited", async () => {
    const { call, org } = await setup();
    const capped = await call("PATCH", `/orgs/${org.id}`, { concurrency: 10 });
    expect(capped.status).toBe(200);
    expect(capped.body).toMatchObject({ concurrency: 10, concurrency_mode: "enforce" });
    const keyOfOrg = await call("POST", "/keys", { org_id: org.id, label: "k" });
    expect(keyOfOrg.body).toMatchObject({ concurrency: null });
    const removed = await call("PATCH", `/orgs/${org.id}`, { concurrency: null });
    expect(removed.body).toMatchObject({ concurrency: null, concurrency_mode: null });
    const audit = await call("GET", `/audit?action=organization.updated&target_id=${org.id}`);
    expect((audit.body.items as { changes: unknown }[]).map((event) => event.changes)).toEqual([
      { before: { concurrency: null }, after: { concurrency: 10 } },
      { before: { concurrency: 10 }, after: { concurrency: null } },
    ]);
  });

  it("refuses a cap that is not a whole number from 1 to 10000 with 400, writing nothing", async () => {
    const { kg, call, org } = await setup();
    const key = await call("POST", "/keys", { org_name: "Acme Corp", label: "k" });
    const before = JSON.stringify([await kg.listOrganizations(), await kg.listApiKeys()]);
    const bad: unknown[] = [0, -1, 1.5, "3", 10_001, 1e300, true, { limit: 3 }];
    for (const concurrency of bad) {
      for (const [method, path, body] of [
        ["POST", "/keys", { org_name: "Acme Corp", label: "bad", concurrency }],
        ["PATCH", `/keys/${key.body.id}`, { concurrency }],
        ["PATCH", `/orgs/${org.id}`, { concurrency }],
      ] as const) {
        const answer = await call(method, path, body);
        expect(answer.status, `${method} ${path} ${JSON.stringify(concurrency)}`).toBe(400);
        expect(answer.type).toMatch(/^application\/problem\+json/);
        expect(answer.body.code).toBe("invalid_input");
        expect(String(answer.body.detail)).toMatch(/concurrency/);
      }
    }
    for (const body of [
      { concurrency_mode: "shadow" },
      { concurrency: null, concurrency_mode: "shadow" },
      { concurrency: 2, concurrency_mode: "loud" },
    ]) {
      const answer = await call("PATCH", `/keys/${key.body.id}`, body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(String(answer.body.detail)).toMatch(/concurrency_mode/);
    }
    expect(JSON.stringify([await kg.listOrganizations(), await kg.listApiKeys()])).toBe(before);
  });
});
