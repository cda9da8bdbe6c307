import { isKeyGuardError, KeyGuard, resolveConfig } from "@keyguard/core";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { AdminApi } from "../src/index.js";

const ADMIN_KEY = "bounded-inputs-admin-key";
const open: KeyGuard[] = [];
afterEach(async () => {
  for (const kg of open.splice(0)) await kg.close();
});

async function setup() {
  const kg = new KeyGuard({
    config: resolveConfig({ secretKey: ADMIN_KEY }, {}),
    store: await createKyselyStore({ url: "sqlite::memory:" }),
    limiter: new MemoryLimiter(),
  });
  await kg.init();
  open.push(kg);
  const api = new AdminApi(kg, { onUnexpectedError: (error) => unexpected.push(error) });
  const unexpected: unknown[] = [];
  const call = async (method: string, target: string, body?: unknown) => {
    const url = new URL(target, "http://admin.test");
    const answer = await api.handle({
      method,
      path: `/admin${url.pathname}`,
      subPath: url.pathname,
      remoteAddress: "192.0.2.10",
      header: (name) =>
        name === "x-admin-key"
          ? ADMIN_KEY
          : name === "content-type" && body !== undefined
            ? "application/json"
            : undefined,
      query: Object.fromEntries(url.searchParams),
      readBody: async () => (body === undefined ? undefined : JSON.stringify(body)),
    });
    return { status: answer.status, body: JSON.parse(answer.body) };
  };
  await kg.createOrganization("Acme");
  const { key } = await kg.createApiKey({ organization: "Acme", label: "k" });
  // Everything stored, to show that a refused request wrote nothing.
  const snapshot = async () =>
    JSON.stringify([await kg.listOrganizations(), await kg.listApiKeys(), await kg.listBlocks()]);
  return { kg, call, key, snapshot, unexpected };
}

const IP = "203.0.113.9";
const FAR_DATE = new Date(8.64e15); // the last time a Date holds: year 275760

describe("bounded admin inputs", () => {
  it("refuses each out-of-bounds value with 400 naming the field, writing nothing", async () => {
    const { call, key, snapshot, unexpected } = await setup();
    const before = await snapshot();
    const cases: Array<[string, string, unknown, RegExp]> = [
      ["POST", "/ip-blocks", { ip: IP, duration: 1e300 }, /^duration: duration must be/],
      ["POST", "/ip-blocks", { ip: IP, duration: 1e15 }, /^duration .* too long/],
      ["POST", "/ip-blocks", { ip: IP, duration: "99999999999 days" }, /^duration .* too long/],
      ["POST", "/ip-blocks", { ip: IP, duration: "3651 days" }, /^duration .* at most 3650 days/],
      ["POST", "/ip-blocks", { ip: IP, duration: 0 }, /^duration .* not a duration/],
      ["POST", "/ip-blocks", { ip: IP, duration: "x".repeat(5000) }, /^duration .* not a duration/],
      [
        "POST",
        "/ip-blocks",
        { ip: IP, path: `/${"a".repeat(3000)}` },
        /^path must be at most 2048/,
      ],
      ["POST", "/ip-blocks", { ip: IP, path: "/a\u0000b" }, /^path must not contain control/],
      ["POST", "/ip-blocks", { ip: IP, path: "/a%00b" }, /^path must not contain control/],
      ["POST", "/ip-blocks", { ip: IP, path: "/a%1B[31m" }, /^path must not contain control/],
      ["POST", "/ip-blocks", { ip: IP, path: "api" }, /^path must start with "\/"/],
      ["POST", "/ip-blocks", { ip: IP, reason: "r".repeat(201) }, /^reason must be at most 200/],
      ["POST", "/ip-blocks", { ip: IP, reason: "\u001b[2Jhi" }, /^reason must not contain control/],
      ["POST", "/ip-blocks", { ip: "1".repeat(1000) }, /^ip must be at most 100 characters/],
      ["DELETE", `/ip-blocks/${"1".repeat(1000)}`, undefined, /^ip must be at most 100/],
      ["POST", "/orgs", { name: "n".repeat(201) }, /^organization name must be at most 200/],
      ["POST", "/orgs", { name: "a\u0007b" }, /^organization name must not contain control/],
      ["POST", "/keys", { org_name: "Acme", label: "l".repeat(201) }, /^label must be at most/],
      ["POST", "/keys", { org_name: "Acme", label: "a\nb" }, /^label must not contain control/],
      [
        "POST",
        "/keys",
        { org_name: "Acme", label: "x", scopes: Array.from({ length: 101 }, (_, i) => `s${i}`) },
        /at most 100 scopes/,
      ],
      ["POST", "/keys", { org_name: "Acme", label: "x", scopes: ["s".repeat(101)] }, /each scope/],
      [
        "POST",
        "/keys",
        { org_name: "Acme", label: "x", rate_limit_per_minute: 1e300 },
        /^rate_limit_per_minute: rate_limit_per_minute must be a whole number/,
      ],
      [
        "POST",
        "/keys",
        { org_name: "Acme", label: "x", rate_limit_per_minute: 2e9 },
        /^rate_limit_per_minute must be at most 1,000,000,000/,
      ],
      [
        "POST",
        "/keys",
        { org_name: "Acme", label: "x", monthly_limit: 2 ** 53 },
        /^monthly_limit: monthly_limit must be a whole number/,
      ],
      [
        "POST",
        "/keys",
        { org_name: "Acme", label: "x", expires_at: "+275760-09-13T00:00:00.000Z" },
        /^expires_at: expires_at must be an ISO 8601 time/,
      ],
      [
        "PATCH",
        `/keys/${key.id}`,
        { expires_at: "99999-01-01T00:00:00Z" },
        /^expires_at: expires_at must be an ISO 8601 time/,
      ],
      [
        "POST",
        `/keys/${key.id}/rotate`,
        { grace_period_seconds: 1e300 },
        /^grace_period_seconds: grace_period_seconds must be a whole number/,
      ],
      [
        "POST",
        `/keys/${key.id}/rotate`,
        { grace_period_seconds: 400 * 86_400 },
        /^grace_period_seconds: .* at most a year/,
      ],
      ["GET", `/orgs?cursor=${"A".repeat(5000)}`, undefined, /^cursor is not one/],
      ["GET", `/keys?cursor=${"A".repeat(5000)}`, undefined, /^cursor is not one/],
      ["GET", "/orgs?limit=1e3", undefined, /^limit: limit must be a whole number/],
      ["GET", "/keys?limit=99999999999999999999", undefined, /^limit: limit must be at most 200/],
      [
        "GET",
        `/keys/${key.id}/usage?since=1970-01-01T00:00:00Z`,
        undefined,
        /^since must be within the last 366 days/,
      ],
    ];
    for (const [method, target, body, detail] of cases) {
      const answer = await call(method, target, body);
      const what = `${method} ${target.slice(0, 60)} ${JSON.stringify(body)?.slice(0, 80)}`;
      expect(answer.status, what).toBe(400);
      expect(answer.body.code, what).toBe("invalid_input");
      expect(answer.body.detail, what).toMatch(detail);
      expect(answer.body.detail.length, what).toBeLessThan(300); // never the whole input back
    }
    expect(await snapshot()).toBe(before);
    expect(unexpected).toEqual([]);
  });

  it("says a field of the wrong type is of the wrong type, not missing", async () => {
    const { call, key, unexpected } = await setup();
    const cases: Array<[string, string, unknown, string]> = [
      ["POST", "/webhooks", { url: 123, events: ["*"] }, "url: url must be a string"],
      [
        "POST",
        "/webhooks",
        { url: "http://127.0.0.1:9/", events: "*" },
        "events: events must be a list of event names",
      ],
      [
        "POST",
        "/ip-rules",
        { cidr: IP, action: "deny", reason: 5 },
        "reason: reason must be a string",
      ],
    ];
    for (const [method, path, body, detail] of cases) {
      const answer = await call(method, path, body);
      expect(answer.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(400);
      expect(answer.body.detail, `${method} ${path} ${JSON.stringify(body)}`).toBe(detail);
    }
    const patched = await call("PATCH", `/keys/${key.id}`, { allowed_ips: "127.0.0.1" });
    expect(patched.status).toBe(400);
    expect(patched.body.detail).not.toMatch(/required/);
    expect((await call("POST", "/ip-rules", { action: "deny" })).body.detail).toBe(
      "cidr is required",
    );
    expect(unexpected).toEqual([]);
  });

  it("names an unknown field or query parameter only when it could be one: never long or control text", async () => {
    const { call, unexpected } = await setup();
    const long = "z".repeat(5_000);
    const hostile = "\u001b[31m\u202eevil";
    for (const name of [long, hostile]) {
      for (const answer of [
        await call("POST", "/ip-rules", { cidr: IP, action: "deny", [name]: 1 }),
        await call("GET", `/ip-rules?${encodeURIComponent(name)}=1`),
        await call("GET", `/audit?${encodeURIComponent(name)}=1`),
      ]) {
        expect(answer.status).toBe(400);
        expect(answer.body.detail).toMatch(/^unknown (field|query parameter)/);
        expect(answer.body.detail).not.toContain(name);
        expect(answer.body.detail.length).toBeLessThan(200);
      }
    }
    // A plausible name is still named, so a typo is easy to see.
    expect((await call("GET", "/ip-rules?limt=1")).body.detail).toBe(
      'unknown query parameter "limt"',
    );
    expect(unexpected).toEqual([]);
  });

  it("looks up no organization by a name longer than any name, and echoes it cut", async () => {
    const { call } = await setup();
    const answer = await call("GET", `/keys?org=${"o".repeat(10_000)}`);
    expect(answer.status).toBe(404);
    expect(answer.body.detail.length).toBeLessThan(200);
  });

  it("never answers 5xx for any duration, and a stored block always ends within 10 years", async () => {
    const { kg, call, unexpected } = await setup();
    const duration = fc.oneof(
      fc.double(),
      fc.integer(),
      fc.bigInt().map(Number),
      fc.string(),
      fc
        .tuple(
          fc.oneof(fc.nat(), fc.double({ min: 0, noNaN: true }), fc.constant(1e308)),
          fc.constantFrom("ms", "s", "m", "h", "d", "w", " days", " weeks", "y", "constructor"),
        )
        .map(([n, unit]) => `${n}${unit}`),
    );
    await fc.assert(
      fc.asyncProperty(duration, async (value) => {
        const before = Date.now();
        const answer = await call("POST", "/ip-blocks", { ip: IP, duration: value });
        expect([201, 400], JSON.stringify(answer.body)).toContain(answer.status);
        if (answer.status === 201) {
          const until = Date.parse(answer.body.until);
          expect(until).toBeGreaterThan(before);
          expect(until - before).toBeLessThanOrEqual(3650 * 86_400_000 + 60_000);
          expect(await kg.unblockIp(IP)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
    expect(unexpected).toEqual([]);
  });
});

describe("bounded programmatic inputs", () => {
  async function refused(promise: Promise<unknown>, detail: RegExp): Promise<void> {
    const error = await promise.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(isKeyGuardError(error, "invalid_input"), String(error)).toBe(true);
    expect((error as Error).message).toMatch(detail);
  }

  it("refuses times past what can be stored, and writes nothing", async () => {
    const { kg, key, snapshot } = await setup();
    const before = await snapshot();
    const create = (expiresAt: Date) =>
      kg.createApiKey({ organization: "Acme", label: "x", expiresAt });
    await refused(kg.blockIp(IP, { duration: 1e300 }), /duration .* too long/);
    await refused(kg.blockIp(IP, { until: FAR_DATE }), /at most 3650 days/);
    await refused(kg.blockIp(IP, { until: new Date(Number.NaN) }), /until must be a valid date/);
    await refused(kg.blockIp(IP, { scope: "path", path: "/a%00" }), /path must not contain/);
    await refused(create(FAR_DATE), /expiresAt must be before the year 10000/);
    await refused(create(new Date(Number.NaN)), /expiresAt must be a valid date/);
    await refused(kg.updateApiKey(key.id, { expiresAt: FAR_DATE }), /before the year 10000/);
    await refused(kg.rotateApiKey(key.id, { gracePeriodMs: 1e300 }), /at most 365 days/);
    await refused(kg.rotateApiKey(key.id, { gracePeriodMs: Number.NaN }), /gracePeriodMs/);
    await refused(kg.usage(key.id, { since: new Date(0) }), /within the last 366 days/);
    await refused(kg.usage(key.id, { since: new Date(Number.NaN) }), /since must be a valid date/);
    await refused(kg.unblockIp("x".repeat(1_000_000)), /ip must be at most 100/);
    expect(await snapshot()).toBe(before);
  });

  it("accepts every time up to the end of year 9999, and none after", async () => {
    const { kg } = await setup();
    await fc.assert(
      fc.asyncProperty(
        fc.date({ min: new Date(Date.now() + 60_000), noInvalidDate: true }),
        async (expiresAt) => {
          const result = kg
            .createApiKey({ organization: "Acme", label: "d", expiresAt })
            .then((created) => created.key.expiresAt?.getTime());
          if (expiresAt.getTime() <= Date.UTC(9999, 11, 31, 23, 59, 59, 999)) {
            expect(await result).toBe(expiresAt.getTime()); // stored and read back intact
          } else {
            await refused(result, /before the year 10000/);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("blocks a client everywhere when its own request path cannot be stored", async () => {
    const { kg } = await setup();
    const request = (path: string) => ({
      method: "POST",
      path,
      remoteAddress: "198.51.100.7",
      header: () => undefined,
    });
    const onPath = await kg.blockRequest(request("/files/a"), { scope: "path" });
    expect(onPath).toMatchObject({ scope: "path", path: "/files/a" });
    const encoded = await kg.blockRequest(request("/files/%00x"), { scope: "path" });
    expect(encoded.scope).toBe("global");
    const long = await kg.blockRequest(request(`/files/${"a".repeat(5000)}`), { scope: "path" });
    expect(long.scope).toBe("global");
  });
});
