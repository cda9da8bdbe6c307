import { Readable } from "node:stream";
import { KeyGuard, type KeyGuardError, resolveConfig } from "@keyguard/core";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { afterEach, describe, expect, it } from "vitest";
import { AdminApi, adminDocsAsset, adminDocsPage, readNodeBody } from "../src/index.js";

const open: KeyGuard[] = [];
afterEach(async () => {
  for (const kg of open.splice(0)) await kg.close();
});

async function keyguard(config: Record<string, unknown> = { secretKey: "admin-unit-secret" }) {
  const kg = new KeyGuard({
    config: resolveConfig(config, {}, { requireSecret: false }),
    store: await createKyselyStore({ url: "sqlite::memory:" }),
    limiter: new MemoryLimiter(),
  });
  await kg.init();
  open.push(kg);
  return kg;
}

describe("AdminApi set-up", () => {
  it("refuses to start without an admin key, or with a short one", async () => {
    const withoutSecret = await keyguard({});
    expect(() => new AdminApi(withoutSecret)).toThrow(/needs an admin key/);
    expect(() => new AdminApi(withoutSecret, { adminKey: "short" })).toThrow(/at least 8/);
    expect(() => new AdminApi(withoutSecret, { adminKey: "long-enough-key" })).not.toThrow();
  });

  it("prefers adminKey from the configuration over the secret key", async () => {
    const kg = await keyguard({ secretKey: "the-hashing-secret", adminKey: "the-admin-key" });
    const api = new AdminApi(kg);
    const ask = (key: string) =>
      api.handle({
        method: "GET",
        path: "/admin/stats",
        subPath: "/stats",
        remoteAddress: "192.0.2.1",
        header: (name) => (name === "x-admin-key" ? key : undefined),
        query: {},
        readBody: async () => undefined,
      });
    expect((await ask("the-admin-key")).status).toBe(200);
    expect((await ask("the-hashing-secret")).status).toBe(401);
  });
});

describe("OpenAPI document", () => {
  it("is OpenAPI 3.1 whose every $ref resolves to a component", async () => {
    const document = new AdminApi(await keyguard(), { prefix: "/manage" }).openApiDocument as {
      openapi: string;
      servers: { url: string }[];
      components: { schemas: Record<string, unknown> };
    };
    expect(document.openapi).toBe("3.1.0");
    expect(document.servers).toEqual([{ url: "/manage" }]);
    const refs = [
      ...JSON.stringify(document).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g),
    ];
    expect(refs.length).toBeGreaterThan(20);
    for (const [, name] of refs)
      expect(document.components.schemas, name).toHaveProperty(name as string);
    // The request schemas are the validating ones: unknown fields are not allowed.
    expect(document.components.schemas.CreateOrganization).toMatchObject({
      type: "object",
      required: ["name"],
      additionalProperties: false,
    });
  });
});

describe("OpenAPI conflicts", () => {
  it("documents the 409 answers of rotation and key updates, and none for revocation", async () => {
    const document = new AdminApi(await keyguard()).openApiDocument as {
      paths: Record<string, Record<string, { responses: Record<string, { description: string }> }>>;
    };
    const responses = (path: string, method: string) =>
      document.paths[path]?.[method]?.responses ?? {};
    expect(responses("/keys/{id}/rotate", "post")["409"]?.description).toMatch(
      /`key_already_rotated`.*race.*`conflict`: the key is revoked or expired/,
    );
    expect(responses("/keys/{id}", "patch")["409"]?.description).toMatch(/`key_already_rotated`/);
    expect(responses("/orgs", "post")["409"]?.description).toMatch(/`organization_exists`/);
    // Revoking is idempotent: a revoked key answers 200 with `already_revoked: true`.
    expect(responses("/keys/{id}", "delete")).not.toHaveProperty("409");
  });
});

describe("readNodeBody", () => {
  const stream = (chunks: string[], headers: Record<string, string> = {}) =>
    Object.assign(Readable.from(chunks.map((chunk) => Buffer.from(chunk))), { headers });

  it("reads a body, and none as undefined", async () => {
    expect(await readNodeBody(stream(['{"a":', "1}"]), 100)).toBe('{"a":1}');
    expect(await readNodeBody(stream([]), 100)).toBeUndefined();
  });

  it("refuses a body over the limit, declared or streamed", async () => {
    await expect(
      readNodeBody(stream(["x"], { "content-length": "101" }), 100),
    ).rejects.toMatchObject({
      code: "payload_too_large",
    } satisfies Partial<KeyGuardError>);
    await expect(readNodeBody(stream(["x".repeat(60), "x".repeat(60)]), 100)).rejects.toMatchObject(
      {
        code: "payload_too_large",
      },
    );
  });

  it("uses what a body parser already read", async () => {
    const consumed = stream([]);
    for await (const _ of consumed) {
      // drained, as express.json() would have
    }
    expect(await readNodeBody(consumed, 100, { name: "Acme" })).toBe('{"name":"Acme"}');
  });
});

describe("docs page", () => {
  it("serves only Swagger UI's own files", async () => {
    expect((await adminDocsAsset("swagger-ui-bundle.js"))?.body.length).toBeGreaterThan(100_000);
    expect((await adminDocsAsset("swagger-ui.css"))?.contentType).toMatch(/^text\/css/);
    const inherited = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"];
    for (const name of [
      "../package.json",
      "index.js",
      "/etc/passwd",
      "%2e%2e/package.json",
      ...inherited,
    ]) {
      expect(await adminDocsAsset(name)).toBeUndefined();
    }
  });

  it("escapes what it puts into the page", () => {
    const page = adminDocsPage({ openApiUrl: "/a</script><script>alert(1)", assetsPath: '/d"x' });
    expect(page).not.toContain("</script><script>alert(1)");
    expect(page).not.toContain('/d"x');
  });
});

describe("unexpected failures", () => {
  it("answer 503 without details and are reported", async () => {
    const kg = await keyguard();
    const reported: unknown[] = [];
    const api = new AdminApi(kg, { onUnexpectedError: (error) => reported.push(error) });
    // A store that breaks in a way no KeyGuard code anticipates.
    kg.store.listOrganizations = () => Promise.reject(new TypeError("driver exploded: secret=xyz"));
    const answer = await api.handle({
      method: "GET",
      path: "/admin/orgs",
      subPath: "/orgs",
      remoteAddress: "192.0.2.1",
      header: (name) => (name === "x-admin-key" ? "admin-unit-secret" : undefined),
      query: {},
      readBody: async () => undefined,
    });
    expect(answer.status).toBe(503);
    expect(answer.body).not.toContain("exploded");
    expect(JSON.parse(answer.body)).toMatchObject({ code: "service_unavailable" });
    expect(String(reported[0])).toMatch(/driver exploded/);
  });
});

describe("AdminApi authentication failures", () => {
  const ask = (api: AdminApi, method: string, adminKey?: string | string[], forwarded?: string) =>
    api.handle({
      method,
      path: "/admin/stats",
      subPath: "/stats",
      remoteAddress: "192.0.2.1",
      header: (name) =>
        name === "x-admin-key" ? adminKey : name === "x-forwarded-for" ? forwarded : undefined,
      query: {},
      readBody: async () => undefined,
    });

  it("counts wrong admin keys only: never a missing one, never an OPTIONS request", async () => {
    const kg = await keyguard({ secretKey: "admin-unit-secret", ipBlockThreshold: 3 });
    const api = new AdminApi(kg);
    for (let i = 0; i < 50; i++) {
      for (const answer of [
        await ask(api, "GET"),
        await ask(api, "GET", ""),
        await ask(api, "OPTIONS", "wrong-admin-key"),
        await ask(api, "OPTIONS", ["wrong-admin-key", "wrong-admin-key"]),
      ]) {
        expect(answer.status).toBe(401);
        expect(answer.headers["www-authenticate"]).toBe(
          'ApiKey realm="keyguard-admin", header="X-Admin-Key"',
        );
      }
    }
    expect((await ask(api, "GET", "admin-unit-secret")).status).toBe(200);
    expect((await ask(api, "GET", "wrong-admin-key")).status).toBe(401);
    expect((await ask(api, "GET", ["admin-unit-secret", "admin-unit-secret"])).status).toBe(401);
    expect((await ask(api, "DELETE", "wrong-admin-key")).status).toBe(401); // the third: blocks
    const blocked = await ask(api, "GET", "admin-unit-secret");
    expect(blocked.status).toBe(403);
    expect(blocked.headers["www-authenticate"]).toBeUndefined();
  });

  it("reports an ignored X-Forwarded-For in an app that only mounts the admin API", async () => {
    const seen: string[] = [];
    const kg = new KeyGuard({
      config: resolveConfig({ secretKey: "admin-unit-secret" }, {}),
      store: await createKyselyStore({ url: "sqlite::memory:" }),
      limiter: new MemoryLimiter(),
      onWarning: (code) => seen.push(code),
    });
    await kg.init();
    open.push(kg);
    const api = new AdminApi(kg);
    await ask(api, "GET", "admin-unit-secret");
    expect(seen).toEqual([]);
    await ask(api, "GET", "admin-unit-secret", "198.51.100.7");
    await ask(api, "GET", "wrong-admin-key", "198.51.100.7");
    expect(seen).toEqual(["KEYGUARD_UNTRUSTED_FORWARDED_FOR"]);
  });
});
