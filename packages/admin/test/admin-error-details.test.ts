import { KeyGuard, KeyGuardError, resolveConfig } from "@keyguard/core";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { afterEach, describe, expect, it } from "vitest";
import { AdminApi } from "../src/index.js";

const open: KeyGuard[] = [];
afterEach(async () => {
  for (const kg of open.splice(0)) await kg.close();
});

describe("admin API failures", () => {
  it("answer a store outage 503 without the driver's message, and report it", async () => {
    const kg = new KeyGuard({
      config: resolveConfig({ secretKey: "admin-error-secret" }, {}),
      store: await createKyselyStore({ url: "sqlite::memory:" }),
      limiter: new MemoryLimiter(),
    });
    await kg.init();
    open.push(kg);
    const reported: unknown[] = [];
    const api = new AdminApi(kg, { onUnexpectedError: (error) => reported.push(error) });
    kg.store.listOrganizations = () =>
      Promise.reject(
        new KeyGuardError(
          "database_unavailable",
          "The postgres database is unavailable: connect ECONNREFUSED 10.0.0.7:5432",
        ),
      );
    const answer = await api.handle({
      method: "GET",
      path: "/admin/orgs",
      subPath: "/orgs",
      remoteAddress: "192.0.2.1",
      header: (name) => (name === "x-admin-key" ? "admin-error-secret" : undefined),
      query: {},
      readBody: async () => undefined,
    });
    expect(answer.status).toBe(503);
    expect(answer.headers["retry-after"]).toBe("5");
    expect(answer.body).not.toMatch(/ECONNREFUSED|10\.0\.0\.7/);
    expect(JSON.parse(answer.body)).toMatchObject({ code: "database_unavailable" });
    expect(String(reported[0])).toMatch(/10\.0\.0\.7/);
  });
});
