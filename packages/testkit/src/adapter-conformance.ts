import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ApiKeyInfo,
  type GuardOptions,
  KeyGuard,
  type KeyGuardConfigInput,
  type Limiter,
  resolveConfig,
  type Store,
} from "@keyguard/core";
import { generateRawKey } from "@keyguard/core/internal";
import { afterEach, describe, expect, it } from "vitest";
import { describeAdapterTargetFuzz } from "./adapter-target-fuzz.js";
import { eventually } from "./eventually.js";
import { FakeClock } from "./fake-clock.js";
import { rawRequest } from "./http-client.js";

/** A running app built by an adapter's test, listening on a real port. */
export interface AdapterApp {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts the adapter's reference app on port 0, with `answerClientError` handling the
 * server's client errors, and these routes, KeyGuard protecting `/api` through
 * `protectedPath`:
 * - `GET /health` -> `{ "status": "ok" }` (open)
 * - `GET /api/data` -> `{ "message": "Authorized!" }`
 * - `GET /api/profile` -> `{ "org_id", "key_label", "scopes" }` from the attached key
 * - `GET /api/admin` -> `{ "ok": true }`, requiring the scope `admin`
 * - `GET /api/fail` -> status 500 from the handler (usage logs the handler's status)
 * - `GET /api/slow` -> awaits `record`'s promise, then `{ "ok": true }`; throws (the
 *   framework's error handling answers) if it rejects: a request held in flight by the
 *   test (see `describeAdapterConcurrencyConformance`)
 * - `POST /api/withdraw` -> `blockRequest(kg, req, { duration: "1 hour", scope: "path" })`, then
 *   `{ "error": "Suspicious activity. Endpoint locked for 1 hour." }`
 * - `GET /search` -> `rateLimitByIp(kg, { limit: 5 })`, `{ "results": [] }`
 * - `POST /login` -> `rateLimitByIp(kg, { limit: 3, lockout: "1 hour" })`, `{ "ok": true }`
 * - `POST /signup` -> `rateLimitByIp(kg, { limit: 2, lockout: "4:00 PM" })`, `{ "ok": true }`
 * - `POST /heavy` -> `rateLimitByIp(kg, { limit: 1, lockout: 600, scope: "global" })`, `{ "ok": true }`
 *
 * Each handler first calls `record(route, key)` ({@link HandlerRecorder}).
 */
export type StartAdapterApp = (
  kg: KeyGuard,
  options: GuardOptions & { protectedPath: string },
  record: HandlerRecorder,
) => Promise<AdapterApp>;

/**
 * Every handler of the reference app calls this first, with its route as registered
 * (`"/api/data"`) and the key the framework attached to the request (`req.apiKey`,
 * `request.apiKey`, `ctx.state.apiKey`): so a test knows which handler ran for a request,
 * and with what key, whatever the response says.
 *
 * @example
 * ```ts
 * app.get("/api/data", (req, res) => {
 *   record("/api/data", req.apiKey);
 *   res.json({ message: "Authorized!" });
 * });
 * ```
 */
export type HandlerRecorder = (
  route: string,
  apiKey: ApiKeyInfo | null | undefined,
) => void | Promise<void>;

/** For tests that do not look at which handlers ran. */
const ignoreHandlers: HandlerRecorder = () => {};

export interface AdapterConformanceOptions {
  /** Opens a fresh store for one test (the suite migrates and closes it). */
  readonly openStore: (directory: string) => Promise<Store>;
  readonly createLimiter: () => Limiter;
}

const SECRET = "adapter-conformance-secret";
const THRESHOLD = 5;

/**
 * Every behaviour of the request pipeline, over real HTTP, for one adapter. The same
 * assertions run against Express, Fastify and Koa.
 */
export function describeAdapterConformance(
  name: string,
  start: StartAdapterApp,
  options: AdapterConformanceOptions,
): void {
  describe(`Adapter conformance: ${name}`, () => {
    const cleanups: Array<() => Promise<void> | void> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function setup(
      guardOptions: GuardOptions = {},
      ipBlockThreshold = 1_000,
      extraConfig: Partial<KeyGuardConfigInput> = {},
    ) {
      const directory = mkdtempSync(join(tmpdir(), "keyguard-adapter-"));
      cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
      const clock = new FakeClock(Date.now());
      const store = await options.openStore(directory);
      const kg = new KeyGuard({
        config: resolveConfig(
          {
            secretKey: SECRET,
            ipBlockThreshold,
            usage: { flushIntervalMs: 60_000 },
            blockSyncIntervalMs: 100,
            ...extraConfig,
          },
          {},
        ),
        store,
        limiter: options.createLimiter(),
        clock,
      });
      await kg.init();
      cleanups.push(() => kg.close());
      const app = await start(kg, { protectedPath: "/api", ...guardOptions }, ignoreHandlers);
      cleanups.push(() => app.close());
      await kg.createOrganization("Acme Corp");
      const key = async (settings: Partial<Parameters<KeyGuard["createApiKey"]>[0]> = {}) =>
        kg.createApiKey({ organization: "Acme Corp", label: "k", ...settings });
      const get = (path: string, headers: Record<string, string> = {}) =>
        fetch(`${app.url}${path}`, { headers });
      /** Another KeyGuard on the same database: what another process would run. */
      const openAnother = async () => {
        const other = new KeyGuard({
          config: resolveConfig({ secretKey: SECRET }, {}),
          store: await options.openStore(directory),
          limiter: options.createLimiter(),
          clock,
        });
        cleanups.push(() => other.close());
        return other;
      };
      return { kg, app, clock, key, get, openAnother };
    }

    async function expectProblem(response: Response, status: number, code: string) {
      expect(response.status).toBe(status);
      expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ status, code, type: `urn:keyguard:problem:${code}` });
      expect(typeof body.title).toBe("string");
      expect(typeof body.detail).toBe("string");
      expect(JSON.stringify(body)).not.toMatch(/\bat .*\.(js|ts):\d+/); // no stack
      return body;
    }

    it("leaves routes outside protectedPath alone", async () => {
      const { get } = await setup();
      const response = await get("/health");
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: "ok" });
      expect(response.headers.get("x-ratelimit-limit")).toBeNull();
    });

    it("lets a valid key through with rate-limit headers and the key attached", async () => {
      const { get, key } = await setup();
      const { rawKey, key: info } = await key({
        label: "prod",
        rateLimitPerMinute: 120,
        scopes: ["read"],
      });
      const response = await get("/api/data", { "X-API-KEY": rawKey });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ message: "Authorized!" });
      expect(response.headers.get("x-ratelimit-limit")).toBe("120");
      expect(response.headers.get("x-ratelimit-remaining")).toBe("119");
      expect(Number(response.headers.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000);
      expect(response.headers.get("ratelimit-policy")).toBe('"minute";q=120;w=60');
      expect(response.headers.get("ratelimit")).toMatch(/^"minute";r=119;t=\d+$/);

      const profile = await get("/api/profile", { "x-api-key": rawKey });
      expect(await profile.json()).toEqual({
        org_id: info.orgId,
        key_label: "prod",
        scopes: ["read"],
      });
      const bearer = await get("/api/data", { authorization: `Bearer ${rawKey}` });
      expect(bearer.status).toBe(200);
      const upper = await get("/API/data", {});
      await expectProblem(upper, 401, "missing_api_key"); // case variants are protected too
    });

    it("refuses missing, invalid, revoked, expired and suspended keys precisely", async () => {
      const { get, key, kg, clock } = await setup();
      await expectProblem(await get("/api/data"), 401, "missing_api_key");
      await expectProblem(await get("/api/data", { "x-api-key": "" }), 401, "missing_api_key");
      await expectProblem(await get("/api/data", { "x-api-key": "nope" }), 401, "invalid_api_key");
      await expectProblem(
        await get("/api/data", { "x-api-key": generateRawKey().rawKey }),
        401,
        "invalid_api_key",
      );
      const revoked = await key();
      await kg.revokeApiKey(revoked.key.id);
      await expectProblem(
        await get("/api/data", { "x-api-key": revoked.rawKey }),
        401,
        "revoked_api_key",
      );
      const expiring = await key({ expiresAt: new Date(clock.now() + 1000) });
      const beforeExpiry = await get("/api/data", { "x-api-key": expiring.rawKey });
      expect(beforeExpiry.status, await beforeExpiry.clone().text()).toBe(200);
      clock.advance(1000);
      await expectProblem(
        await get("/api/data", { "x-api-key": expiring.rawKey }),
        401,
        "expired_api_key",
      );
      await kg.createOrganization("Suspended Inc");
      const suspended = await kg.createApiKey({ organization: "Suspended Inc", label: "s" });
      await kg.suspendOrganization("Suspended Inc");
      await expectProblem(
        await get("/api/data", { "x-api-key": suspended.rawKey }),
        403,
        "organization_suspended",
      );
    });

    it("answers the key's rate limit with 429 and Retry-After, and its monthly quota", async () => {
      const { get, key, clock } = await setup();
      const { rawKey } = await key({ rateLimitPerMinute: 3 });
      for (let i = 0; i < 3; i++)
        expect((await get("/api/data", { "x-api-key": rawKey })).status).toBe(200);
      const limited = await get("/api/data", { "x-api-key": rawKey });
      await expectProblem(limited, 429, "rate_limited");
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(limited.headers.get("x-ratelimit-remaining")).toBe("0");
      clock.advance(60_000);
      expect((await get("/api/data", { "x-api-key": rawKey })).status).toBe(200);

      const quota = await key({ rateLimitPerMinute: 100, monthlyLimit: 2 });
      const first = await get("/api/data", { "x-api-key": quota.rawKey });
      expect(first.headers.get("ratelimit-policy")).toBe(
        '"minute";q=100;w=60, "month";q=2;w=2592000',
      );
      await get("/api/data", { "x-api-key": quota.rawKey });
      await expectProblem(
        await get("/api/data", { "x-api-key": quota.rawKey }),
        429,
        "quota_exceeded",
      );
    });

    it("keeps the monthly quota's RateLimit fields on a rate-limit 429, counting nothing", async () => {
      const { get, key, clock } = await setup();
      const { rawKey } = await key({ rateLimitPerMinute: 2, monthlyLimit: 10 });
      const policy = '"minute";q=2;w=60, "month";q=10;w=2592000';
      for (let i = 0; i < 2; i++) {
        const ok = await get("/api/data", { "x-api-key": rawKey });
        expect(ok.status).toBe(200);
        expect(ok.headers.get("ratelimit")).toMatch(
          new RegExp(`^"minute";r=${1 - i};t=\\d+, "month";r=${9 - i};t=\\d+$`),
        );
      }
      for (let i = 0; i < 3; i++) {
        const limited = await get("/api/data", { "x-api-key": rawKey });
        await expectProblem(limited, 429, "rate_limited");
        expect(limited.headers.get("ratelimit-policy")).toBe(policy);
        expect(limited.headers.get("ratelimit")).toMatch(/^"minute";r=0;t=\d+, "month";r=8;t=\d+$/);
        expect(limited.headers.get("x-ratelimit-remaining")).toBe("0");
      }
      clock.advance(60_000);
      const after = await get("/api/data", { "x-api-key": rawKey });
      expect(after.status).toBe(200);
      // The three refusals consumed nothing: 10 - 3 allowed requests.
      expect(after.headers.get("ratelimit")).toMatch(/, "month";r=7;t=\d+$/);
    });

    it("lists every policy of a key with two windows and an organization window, and names the violated in a 429", async () => {
      const { get, key, kg, clock } = await setup();
      await kg.setOrganizationLimits("Acme Corp", [
        { name: "minute", limit: 5, windowSeconds: 60 },
      ]);
      const { rawKey } = await key({
        rateLimitPerMinute: 100,
        limits: [
          { name: "burst", limit: 2, windowSeconds: 1 },
          { name: "day", limit: 4, windowSeconds: 86_400 },
        ],
      });
      const call = () => get("/api/data", { "x-api-key": rawKey });
      const first = await call();
      expect(first.status).toBe(200);
      expect(first.headers.get("ratelimit-policy")).toBe(
        '"minute";q=100;w=60, "burst";q=2;w=1, "day";q=4;w=86400, "org.minute";q=5;w=60',
      );
      expect(first.headers.get("ratelimit")).toMatch(
        /^"minute";r=99;t=\d+, "burst";r=1;t=1, "day";r=3;t=\d+, "org.minute";r=4;t=\d+$/,
      );
      // The legacy fields describe the policy closest to refusing: the burst.
      expect(first.headers.get("x-ratelimit-limit")).toBe("2");
      expect(first.headers.get("x-ratelimit-remaining")).toBe("1");
      expect((await call()).status).toBe(200);
      const burst = await call();
      const body = await expectProblem(burst, 429, "rate_limited");
      expect(body["violated-policies"]).toEqual(["burst"]);
      expect(burst.headers.get("retry-after")).toBe("1");
      // The refusal charged nothing: the day still has 2 of 4.
      expect(burst.headers.get("ratelimit")).toMatch(/, "day";r=2;t=\d+, "org.minute";r=3;t=\d+$/);
      clock.advance(2_000);
      expect((await call()).status).toBe(200);
      expect((await call()).status).toBe(200);
      clock.advance(2_000);
      const day = await call();
      const dayBody = await expectProblem(day, 429, "rate_limited");
      expect(dayBody["violated-policies"]).toEqual(["day"]);
      expect(Number(day.headers.get("retry-after"))).toBeGreaterThan(86_000);
    });

    it("spends the adapter's cost per request, and checks without spending at cost 0", async () => {
      const { get, key } = await setup({ cost: 3 } as GuardOptions);
      const { rawKey } = await key({ rateLimitPerMinute: 10 });
      const call = () => get("/api/data", { "x-api-key": rawKey });
      const first = await call();
      expect(first.status).toBe(200);
      expect(first.headers.get("x-ratelimit-remaining")).toBe("7");
      expect((await call()).status).toBe(200);
      expect((await call()).status).toBe(200);
      const refused = await call(); // 9 spent, 3 more do not fit in 10
      await expectProblem(refused, 429, "rate_limited");
      expect(refused.headers.get("x-ratelimit-remaining")).toBe("1");
      const free = await setup({ cost: () => 0 } as unknown as GuardOptions);
      const other = await free.key({ rateLimitPerMinute: 2 });
      for (let i = 0; i < 3; i++) {
        const look = await free.get("/api/data", { "x-api-key": other.rawKey });
        expect(look.status).toBe(200);
        expect(look.headers.get("x-ratelimit-remaining")).toBe("2");
      }
    });

    it("reads a key's live remaining with the configured algorithm, and never resets a counter by reading", async () => {
      const use = async (
        get: (path: string, headers: Record<string, string>) => Promise<Response>,
        rawKey: string,
      ) => {
        const response = await get("/api/data", { "x-api-key": rawKey });
        expect(response.status).toBe(200);
        await response.arrayBuffer();
        return response.headers.get("x-ratelimit-remaining");
      };
      // Counters are kept per algorithm: the configured one is what guards and reads share.
      for (const algorithm of ["gcra", "sliding-window-counter"] as const) {
        const { get, key, kg } = await setup({}, 1_000, { algorithm });
        const { rawKey, key: created } = await key({ rateLimitPerMinute: 10 });
        for (let i = 0; i < 3; i++) await use(get, rawKey);
        const status = await kg.limitStatus(created);
        expect(status.policies.map((policy) => [policy.name, policy.remaining])).toEqual([
          ["minute", 7],
        ]);
        expect(await use(get, rawKey), algorithm).toBe("6");
      }
      // A guard that counts with another algorithm than the configured one keeps its own
      // counter: a read (with the configured one) sees a fresh window and changes nothing.
      const { get, key, kg } = await setup({ algorithm: "gcra" });
      const { rawKey, key: created } = await key({ rateLimitPerMinute: 10 });
      for (let i = 0; i < 3; i++) await use(get, rawKey);
      await kg.limitStatus(created);
      expect(await use(get, rawKey)).toBe("6");
    });

    it("keeps counting a monthly quota across a restart", async () => {
      const { get, key, kg, openAnother } = await setup();
      const { rawKey } = await key({ rateLimitPerMinute: 100, monthlyLimit: 3 });
      expect((await get("/api/data", { "x-api-key": rawKey })).status).toBe(200);
      expect((await get("/api/data", { "x-api-key": rawKey })).status).toBe(200);
      // Usage is recorded when each response is over, after the client has its answer.
      await eventually(() => expect(kg.usageStats.buffered).toBe(2), 10_000);
      await kg.close(); // the old process stops, writing its usage
      const restarted = await openAnother();
      const app = await start(restarted, { protectedPath: "/api" }, ignoreHandlers);
      cleanups.push(() => app.close());
      const call = () => fetch(`${app.url}/api/data`, { headers: { "x-api-key": rawKey } });
      expect((await call()).status).toBe(200);
      await expectProblem(await call(), 429, "quota_exceeded");
    });

    it("requires scopes per route", async () => {
      const { get, key } = await setup();
      const reader = await key({ scopes: ["read"] });
      const admin = await key({ scopes: ["admin"] });
      await expectProblem(
        await get("/api/admin", { "x-api-key": reader.rawKey }),
        403,
        "insufficient_scope",
      );
      const ok = await get("/api/admin", { "x-api-key": admin.rawKey });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ ok: true });
    });

    it("blocks a client after ipBlockThreshold failed attempts, even with a valid key", async () => {
      const { get, key, clock } = await setup({}, THRESHOLD);
      const { rawKey } = await key();
      for (let i = 0; i < THRESHOLD; i++) {
        await expectProblem(
          await get("/api/data", { "x-api-key": `kg_live_bad${i}` }),
          401,
          "invalid_api_key",
        );
      }
      const blocked = await get("/api/data", { "x-api-key": rawKey });
      await expectProblem(blocked, 403, "ip_blocked");
      expect(Number(blocked.headers.get("retry-after"))).toBe(24 * 3600);
      await expectProblem(await get("/api/data"), 403, "ip_blocked");
      clock.advance(24 * 3600_000);
      expect((await get("/api/data", { "x-api-key": rawKey })).status).toBe(200);
    });

    describe("failed attempts: only a wrong key counts", () => {
      it("never blocks a client for requests without a key, or for preflights", async () => {
        const { get, key, app } = await setup({}, THRESHOLD);
        const { rawKey } = await key();
        // What any web page can make its visitors' browsers send: <img src> requests
        // (no key) and CORS preflights.
        for (let i = 0; i < 10 * THRESHOLD; i++) {
          const image = await get("/api/data", {
            "sec-fetch-dest": "image",
            referer: "https://elsewhere.example/",
          });
          await expectProblem(image, 401, "missing_api_key");
          const preflight = await fetch(`${app.url}/api/data`, {
            method: "OPTIONS",
            headers: {
              origin: "https://elsewhere.example",
              "access-control-request-method": "GET",
              "access-control-request-headers": "x-api-key",
              "x-api-key": `kg_live_bad${i}`,
            },
          });
          expect([401, 404], "preflight").toContain(preflight.status);
          await preflight.body?.cancel();
        }
        expect((await get("/api/data", { "x-api-key": rawKey })).status).toBe(200);
      });

      it("wrong keys still block at the threshold, however many keyless requests come between", async () => {
        const { get, key } = await setup({}, THRESHOLD);
        const { rawKey } = await key();
        for (let i = 0; i < THRESHOLD; i++) {
          await expectProblem(await get("/api/data"), 401, "missing_api_key");
          await expectProblem(
            await get("/api/data", { "x-api-key": generateRawKey().rawKey }),
            401,
            "invalid_api_key",
          );
        }
        await expectProblem(await get("/api/data", { "x-api-key": rawKey }), 403, "ip_blocked");
      });

      it("answers every 401 with WWW-Authenticate naming the key header", async () => {
        const { get, key, kg, clock, app } = await setup();
        const challenge = 'ApiKey realm="keyguard", header="X-API-KEY", Bearer realm="keyguard"';
        const revoked = await key();
        await kg.revokeApiKey(revoked.key.id);
        const expiring = await key({ expiresAt: new Date(clock.now() + 1000) });
        clock.advance(1000);
        const valid = await key();
        for (const [headers, code] of [
          [{}, "missing_api_key"],
          [{ "x-api-key": "nope" }, "invalid_api_key"],
          [{ "x-api-key": generateRawKey().rawKey }, "invalid_api_key"],
          [{ authorization: `Bearer ${revoked.rawKey}` }, "revoked_api_key"],
          [{ "x-api-key": expiring.rawKey }, "expired_api_key"],
        ] as [Record<string, string>, string][]) {
          const refused = await get("/api/data", headers);
          await expectProblem(refused, 401, code);
          expect(refused.headers.get("www-authenticate"), code).toBe(challenge);
        }
        const twice = await rawRequest(
          app.url,
          `GET /api/data HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nX-API-KEY: ${valid.rawKey}\r\nX-API-KEY: ${valid.rawKey}\r\n\r\n`,
        );
        expect(twice.status).toBe(401);
        expect(twice.headers["www-authenticate"]).toBe(challenge);
        const ok = await get("/api/data", { "x-api-key": valid.rawKey });
        expect(ok.status).toBe(200);
        expect(ok.headers.get("www-authenticate")).toBeNull();
      });

      it("names a configured key header, and no Bearer challenge when bearer is off", async () => {
        const { get } = await setup({ keyHeader: "X-Custom-Key", bearer: false });
        const refused = await get("/api/data");
        const body = await expectProblem(refused, 401, "missing_api_key");
        expect(refused.headers.get("www-authenticate")).toBe(
          'ApiKey realm="keyguard", header="X-CUSTOM-KEY"',
        );
        expect(body.detail).toContain("X-CUSTOM-KEY");
      });
    });

    it("refuses manually blocked clients, globally or on one path, until unblocked", async () => {
      const { get, key, kg } = await setup();
      const { rawKey } = await key();
      const headers = { "x-api-key": rawKey };
      await kg.blockIp("127.0.0.1", { duration: "1 hour", scope: "path", path: "/api/profile" });
      expect((await get("/api/data", headers)).status).toBe(200);
      await expectProblem(await get("/api/profile", headers), 403, "ip_blocked");
      await kg.blockIp("127.0.0.1", { duration: 60 });
      const blocked = await get("/api/data", headers);
      await expectProblem(blocked, 403, "ip_blocked");
      expect(blocked.headers.get("retry-after")).toBe("60");
      expect((await get("/health")).status).toBe(200); // outside protectedPath
      expect(await kg.unblockIp("127.0.0.1")).toBe(true);
      expect((await get("/api/profile", headers)).status).toBe(200);
    });

    it("applies a block made by another process without a restart", async () => {
      const { get, key, openAnother } = await setup();
      const { rawKey } = await key();
      expect((await get("/api/data", { "x-api-key": rawKey })).status).toBe(200);
      const other = await openAnother();
      await other.blockIp("127.0.0.1", { duration: "10m", reason: "from the CLI" });
      // Without Redis, other processes' blocks are re-read every blockSyncIntervalMs (2 s).
      const status = async () => (await get("/api/data", { "x-api-key": rawKey })).status;
      await eventually(async () => expect(await status()).toBe(403), 15_000, 50);
      await other.unblockIp("127.0.0.1");
      await eventually(async () => expect(await status()).toBe(200), 15_000, 50);
    });

    describe("rateLimitByIp and lockouts", () => {
      const post = (url: string, path: string) => fetch(`${url}${path}`, { method: "POST" });

      it("limits a route without keys per client, with headers and Retry-After", async () => {
        const { get, clock } = await setup();
        for (let i = 0; i < 5; i++) {
          const ok = await get("/search");
          expect(ok.status).toBe(200);
          expect(ok.headers.get("x-ratelimit-remaining")).toBe(String(4 - i));
        }
        const limited = await get("/search");
        await expectProblem(limited, 429, "rate_limited");
        expect([429, 404]).toContain((await get("/SEARCH")).status); // one counter per route
        expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
        clock.advance(60_000);
        expect((await get("/search")).status).toBe(200);
      });

      it("locks a client out of one route for a duration", async () => {
        const { get, key, app, clock } = await setup();
        const { rawKey } = await key();
        for (let i = 0; i < 3; i++) expect((await post(app.url, "/login")).status).toBe(200);
        // The request that starts the lockout is answered as every one during it: one
        // status, one code, one detail style (as for a client blocked for wrong keys).
        const locked = await post(app.url, "/login");
        const first = await expectProblem(locked, 403, "ip_blocked");
        expect(locked.headers.get("retry-after")).toBe("3600");
        expect(first.detail).toBe("This client is blocked for another 3600 s.");
        const next = await post(app.url, "/login");
        const during = await expectProblem(next, 403, "ip_blocked");
        expect(during.detail).toBe("This client is blocked for another 3600 s.");
        expect(next.headers.get("retry-after")).toBe("3600");
        // Other spellings of the route are locked too (Express and Koa route them to /login;
        // Fastify, case-sensitive, answers 404): never served.
        for (const variant of ["/LOGIN", "/login/", "/%6Cogin"]) {
          expect([403, 404], variant).toContain((await post(app.url, variant)).status);
        }
        expect((await get("/search")).status).toBe(200); // other routes are not locked
        expect((await get("/api/data", { "x-api-key": rawKey })).status).toBe(200);
        clock.advance(3_600_000);
        expect((await post(app.url, "/login")).status).toBe(200);
      });

      it("locks out until a clock time in the configured time zone", async () => {
        const { app, clock } = await setup({}, 1_000, { timeZone: "America/New_York" });
        clock.set(new Date("2026-01-15T10:00:00Z")); // 5:00 AM in New York
        await post(app.url, "/signup");
        await post(app.url, "/signup");
        const locked = await post(app.url, "/signup");
        await expectProblem(locked, 403, "ip_blocked");
        expect(locked.headers.get("retry-after")).toBe(String(11 * 3600)); // until 4 PM EST
        clock.set(new Date("2026-01-15T20:59:59Z"));
        await expectProblem(await post(app.url, "/signup"), 403, "ip_blocked");
        clock.set(new Date("2026-01-15T21:00:00Z"));
        expect((await post(app.url, "/signup")).status).toBe(200);
      });

      it("a global lockout blocks every protected route", async () => {
        const { get, key, app } = await setup();
        const { rawKey } = await key();
        expect((await post(app.url, "/heavy")).status).toBe(200);
        const locked = await post(app.url, "/heavy");
        await expectProblem(locked, 403, "ip_blocked");
        expect(locked.headers.get("retry-after")).toBe("600");
        const blocked = await get("/api/data", { "x-api-key": rawKey });
        await expectProblem(blocked, 403, "ip_blocked");
        expect(blocked.headers.get("retry-after")).toBe("600");
        await expectProblem(await get("/search"), 403, "ip_blocked");
      });

      it("blockRequest locks the caller out of a route from inside its handler", async () => {
        const { get, key, app } = await setup();
        const { rawKey } = await key();
        const withdraw = () =>
          fetch(`${app.url}/api/withdraw`, { method: "POST", headers: { "x-api-key": rawKey } });
        const first = await withdraw();
        expect(first.status).toBe(200);
        expect(await first.json()).toEqual({
          error: "Suspicious activity. Endpoint locked for 1 hour.",
        });
        const second = await withdraw();
        await expectProblem(second, 403, "ip_blocked");
        expect(second.headers.get("retry-after")).toBe("3600");
        expect((await get("/api/data", { "x-api-key": rawKey })).status).toBe(200);
      });
    });

    it("logs usage after each response, including refusals of a valid key, and flushes on close", async () => {
      const { get, key, kg, openAnother } = await setup();
      const { rawKey, key: info } = await key({ rateLimitPerMinute: 2 });
      await get("/api/data", { "x-api-key": rawKey });
      await get("/api/fail", { "x-api-key": rawKey });
      await get("/api/data", { "x-api-key": rawKey }); // 429
      await get("/api/data", { "x-api-key": "junk" }); // no key: not logged
      // Usage is recorded when each response is over, after the client has its answer.
      await eventually(() => expect(kg.usageStats.buffered).toBe(3), 10_000);
      // Shutdown writes what is still queued (the flush interval is a minute away).
      await kg.close();
      const other = await openAnother();
      const usage = await other.usage(info.id, { since: new Date(other.clock.now() - 3600_000) });
      const bucket = usage.buckets.at(-1);
      expect(bucket).toMatchObject({ total: 3, status2xx: 1, status4xx: 1, status5xx: 1 });
      expect((await other.getApiKey(info.id)).lastUsedAt).not.toBeNull();
    });

    describe("bad input: 4xx problem+json, never a 500 or a crash", () => {
      it("handles huge, non-ASCII, duplicated and wrong-checksum keys", async () => {
        const { get, key, app } = await setup();
        const { rawKey } = await key();
        await expectProblem(
          await get("/api/data", { "x-api-key": "k".repeat(10_240) }),
          401,
          "invalid_api_key",
        );
        const wrongChecksum = rawKey.slice(0, -1) + (rawKey.endsWith("A") ? "B" : "A");
        await expectProblem(
          await get("/api/data", { "x-api-key": wrongChecksum }),
          401,
          "invalid_api_key",
        );
        const head = (value: string) =>
          `GET /api/data HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${value}\r\n\r\n`;
        for (const headers of [
          `X-API-KEY: ${rawKey.slice(0, 20)}\u00e9\u00ff${rawKey.slice(22)}`,
          `X-API-KEY: ${rawKey.slice(0, 20)}\t${rawKey.slice(21)}`,
          `X-API-KEY: ${rawKey}\r\nX-API-KEY: ${rawKey}`,
          `X-API-KEY: ${rawKey}\r\nAuthorization: Bearer ${generateRawKey().rawKey}`,
        ]) {
          const response = await rawRequest(app.url, head(headers));
          expect(response.status, headers).toBe(401);
          expect(response.headers["content-type"]).toMatch(/^application\/problem\+json/);
          expect(JSON.parse(response.body).code).toBe("invalid_api_key");
        }
        // Control characters never reach the framework: Node's parser refuses them, and the
        // app's clientError handler (answerClientError) answers with a problem too.
        for (const bad of ["\u0001", "\u007f", "\u0000"]) {
          const refused = await rawRequest(
            app.url,
            head(`X-API-KEY: ${rawKey.slice(0, 20)}${bad}${rawKey.slice(21)}`),
          );
          expect(refused.status).toBe(400);
          expect(refused.headers["content-type"]).toMatch(/^application\/problem\+json/);
          expect(JSON.parse(refused.body).code).toBe("bad_request");
        }
        // The server is still up and serving.
        expect((await get("/api/data", { "x-api-key": rawKey })).status).toBe(200);
      });
    });
  });
  describeAdapterTargetFuzz(name, start, options);
}
