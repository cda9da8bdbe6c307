import { afterEach, describe, expect, it } from "vitest";
import { resolveConfig } from "../src/config/keyguard-config.js";
import { KeyGuard } from "../src/keyguard.js";
import { generateRawKey } from "../src/keys/key-format.js";
import type { GuardRequest } from "../src/pipeline/guard-request.js";
import type { GuardResult } from "../src/pipeline/request-guard.js";
import { InMemoryLimiter, InMemoryStore } from "./support/in-memory-ports.js";
import { TestClock } from "./support/test-clock.js";

const THRESHOLD = 5;
const HOUR = 3_600_000;
const CLIENT = "203.0.113.7";

const open: KeyGuard[] = [];
afterEach(async () => {
  for (const kg of open.splice(0)) await kg.close();
});

interface Setup {
  trustProxy?: false | number;
  onWarning?: (code: string, message: string) => void;
}

async function setup(options: Setup = {}) {
  const clock = new TestClock();
  const limiter = new InMemoryLimiter();
  const store = new InMemoryStore();
  const kg = new KeyGuard({
    config: resolveConfig(
      {
        secretKey: "request-guard-secret",
        ipBlockThreshold: THRESHOLD,
        trustProxy: options.trustProxy,
      },
      {},
    ),
    store,
    limiter,
    clock,
    onWarning: options.onWarning ?? (() => {}),
  });
  open.push(kg);
  await kg.createOrganization("Acme Corp");
  const key = (settings: { expiresAt?: Date } = {}) =>
    kg.createApiKey({ organization: "Acme Corp", label: "k", ...settings });
  return { kg, clock, limiter, store, key };
}

function request(
  headers: Record<string, string | string[]> = {},
  method = "GET",
  remoteAddress = CLIENT,
): GuardRequest {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { method, path: "/api/data", remoteAddress, header: (name) => lower[name] };
}

function codeOf(result: GuardResult): string {
  return result.allowed ? "allowed" : result.problem.code;
}

describe("failed attempts count only when a wrong key was sent", () => {
  it("never counts a request without a key, however many come", async () => {
    const { kg, key, limiter } = await setup();
    const guard = kg.guard();
    const { rawKey } = await key();
    const keyless: Record<string, string>[] = [
      {},
      { "x-api-key": "" },
      { authorization: "Basic dXNlcjpwYXNz" },
      { authorization: "Bearer" },
    ];
    for (const headers of keyless) {
      for (let i = 0; i < 50 * THRESHOLD; i++) {
        expect(codeOf(await guard.check(request(headers)))).toBe("missing_api_key");
      }
    }
    expect(limiter.hits).toEqual([]);
    expect(codeOf(await guard.check(request({ "x-api-key": rawKey })))).toBe("allowed");
  });

  it("treats an empty key header beside a bearer key as absent: no conflict, no count", async () => {
    const { kg, key, limiter } = await setup();
    const guard = kg.guard();
    const { rawKey } = await key();
    for (let i = 0; i < 3 * THRESHOLD; i++) {
      const beside = request({ "x-api-key": "", authorization: `Bearer ${rawKey}` });
      expect(codeOf(await guard.check(beside))).toBe("allowed");
      expect(codeOf(await guard.check(request({ "x-api-key": "", authorization: "Bearer" })))).toBe(
        "missing_api_key",
      );
    }
    expect(limiter.hits).toEqual([]);
    expect(codeOf(await guard.check(request({ "x-api-key": rawKey })))).toBe("allowed");
    // A non-empty header beside a different bearer key is still two keys.
    const two = request({ "x-api-key": "kg_live_other", authorization: `Bearer ${rawKey}` });
    expect(codeOf(await guard.check(two))).toBe("invalid_api_key");
  });

  it("never counts an OPTIONS request (a CORS preflight), whatever it carries", async () => {
    const { kg, key, limiter } = await setup();
    const guard = kg.guard();
    const { rawKey } = await key();
    for (let i = 0; i < 10 * THRESHOLD; i++) {
      await guard.check(request({}, "OPTIONS"));
      await guard.check(request({ "x-api-key": `kg_live_wrong${i}` }, "OPTIONS"));
    }
    expect(limiter.hits).toEqual([]);
    expect(codeOf(await guard.check(request({ "x-api-key": rawKey })))).toBe("allowed");
  });

  const wrongKeys: Record<string, (rawKey: string) => Promise<Record<string, string | string[]>>> =
    {
      malformed: async () => ({ "x-api-key": "kg_live_nope" }),
      unknown: async () => ({ "x-api-key": generateRawKey().rawKey }),
      "two different keys": async (rawKey) => ({
        "x-api-key": rawKey,
        authorization: `Bearer ${generateRawKey().rawKey}`,
      }),
      "the key header twice": async (rawKey) => ({ "x-api-key": [rawKey, rawKey] }),
    };

  for (const [kind, headersFor] of Object.entries(wrongKeys)) {
    it(`blocks at the threshold for wrong keys: ${kind}`, async () => {
      const { kg, key, clock } = await setup();
      const guard = kg.guard();
      const { rawKey } = await key();
      for (let i = 0; i < THRESHOLD; i++) {
        expect(codeOf(await guard.check(request(await headersFor(rawKey))))).toBe(
          "invalid_api_key",
        );
      }
      // Blocked now, whatever it sends: a valid key, no key, a preflight.
      expect(codeOf(await guard.check(request({ "x-api-key": rawKey })))).toBe("ip_blocked");
      expect(codeOf(await guard.check(request()))).toBe("ip_blocked");
      expect(codeOf(await guard.check(request({}, "OPTIONS")))).toBe("ip_blocked");
      // Other clients are not affected.
      const other = request({ "x-api-key": rawKey }, "GET", "198.51.100.1");
      expect(codeOf(await guard.check(other))).toBe("allowed");
      clock.advance(24 * HOUR);
      expect(codeOf(await guard.check(request({ "x-api-key": rawKey })))).toBe("allowed");
    });
  }

  it("blocks at the threshold for revoked and expired keys", async () => {
    const { kg, key, clock } = await setup();
    const guard = kg.guard();
    const revoked = await key();
    await kg.revokeApiKey(revoked.key.id);
    const expiring = await key({ expiresAt: new Date(clock.now() + 1_000) });
    clock.advance(1_000);
    for (let i = 0; i < THRESHOLD - 1; i++) {
      const rawKey = i % 2 === 0 ? revoked.rawKey : expiring.rawKey;
      const code = i % 2 === 0 ? "revoked_api_key" : "expired_api_key";
      expect(codeOf(await guard.check(request({ "x-api-key": rawKey })))).toBe(code);
    }
    // Keyless requests in between add nothing: the next wrong key is the one that blocks.
    for (let i = 0; i < 20; i++) await guard.check(request());
    expect(codeOf(await guard.check(request()))).toBe("missing_api_key");
    expect(codeOf(await guard.check(request({ "x-api-key": revoked.rawKey })))).toBe(
      "revoked_api_key",
    );
    expect(codeOf(await guard.check(request()))).toBe("ip_blocked");
  });

  it("does not count a genuine key whose organization is suspended", async () => {
    const { kg, key } = await setup();
    const guard = kg.guard();
    const { rawKey } = await key();
    await kg.suspendOrganization("Acme Corp");
    for (let i = 0; i < 3 * THRESHOLD; i++) {
      expect(codeOf(await guard.check(request({ "x-api-key": rawKey })))).toBe(
        "organization_suspended",
      );
    }
    await kg.reactivateOrganization("Acme Corp");
    expect(codeOf(await guard.check(request({ "x-api-key": rawKey })))).toBe("allowed");
  });

  it("counts wrong keys within the failure window only", async () => {
    const { kg, clock } = await setup();
    const guard = kg.guard();
    const wrong = () => guard.check(request({ "x-api-key": generateRawKey().rawKey }));
    for (let i = 0; i < THRESHOLD - 1; i++) await wrong();
    clock.advance(2 * HOUR); // the default failure window is an hour
    // The count started again: THRESHOLD more failures, the last of which blocks.
    for (let i = 0; i < THRESHOLD; i++) expect(codeOf(await wrong())).toBe("invalid_api_key");
    expect(codeOf(await wrong())).toBe("ip_blocked");
  });
});

describe("401 answers carry WWW-Authenticate", () => {
  const challengeOf = (result: GuardResult) => result.headers["www-authenticate"];

  it("names the key header, and Bearer when it is accepted, on every 401", async () => {
    const { kg, key, clock } = await setup();
    const revoked = await key();
    await kg.revokeApiKey(revoked.key.id);
    const expiring = await key({ expiresAt: new Date(clock.now() + 1_000) });
    clock.advance(1_000);
    const valid = await key();
    const both = 'ApiKey realm="keyguard", header="X-API-KEY", Bearer realm="keyguard"';
    const guard = kg.guard();
    const cases: [Record<string, string | string[]>, string][] = [
      [{}, "missing_api_key"],
      [{ "x-api-key": "junk" }, "invalid_api_key"],
      [{ "x-api-key": generateRawKey().rawKey }, "invalid_api_key"],
      [{ "x-api-key": [valid.rawKey, valid.rawKey] }, "invalid_api_key"],
      [{ authorization: `Bearer ${revoked.rawKey}` }, "revoked_api_key"],
      [{ "x-api-key": expiring.rawKey }, "expired_api_key"],
    ];
    for (const [i, [headers, code]] of cases.entries()) {
      // A client each: together these wrong keys would reach the block threshold.
      const result = await guard.check(request(headers, "GET", `198.51.100.${i}`));
      expect(codeOf(result)).toBe(code);
      expect(!result.allowed && result.status).toBe(401);
      expect(challengeOf(result), code).toBe(both);
    }
    const allowed = await guard.check(request({ "x-api-key": valid.rawKey }));
    expect(challengeOf(allowed)).toBeUndefined();

    const custom = kg.guard({ keyHeader: "X-Custom-Key", bearer: false });
    const refused = await custom.check(request({ authorization: `Bearer ${valid.rawKey}` }));
    expect(codeOf(refused)).toBe("missing_api_key");
    expect(challengeOf(refused)).toBe('ApiKey realm="keyguard", header="X-CUSTOM-KEY"');
    expect(!refused.allowed && refused.problem.detail).toContain("X-CUSTOM-KEY");
  });

  it("is absent from 403s", async () => {
    const { kg, key } = await setup();
    const { rawKey } = await key();
    await kg.suspendOrganization("Acme Corp");
    const suspended = await kg.guard().check(request({ "x-api-key": rawKey }));
    expect(!suspended.allowed && suspended.status).toBe(403);
    expect(challengeOf(suspended)).toBeUndefined();
    await kg.blockIp(CLIENT, { duration: 60 });
    const blocked = await kg.guard().check(request());
    expect(codeOf(blocked)).toBe("ip_blocked");
    expect(challengeOf(blocked)).toBeUndefined();
  });
});

describe("ignored X-Forwarded-For headers are reported once per KeyGuard, by every entry point", () => {
  async function warnings(trustProxy: false | number = false) {
    const seen: string[] = [];
    const context = await setup({ trustProxy, onWarning: (code) => seen.push(code) });
    return { ...context, seen };
  }
  const forwarded = (method = "GET") => request({ "x-forwarded-for": "198.51.100.9" }, method);

  it("from rateLimitByIp alone", async () => {
    const { kg, seen } = await warnings();
    const limit = kg.ipRateLimit({ limit: 100 });
    await limit.check(request());
    expect(seen).toEqual([]);
    await limit.check(forwarded());
    await limit.check(forwarded());
    await kg.ipRateLimit({ limit: 10 }).check(forwarded());
    expect(seen).toEqual(["KEYGUARD_UNTRUSTED_FORWARDED_FOR"]);
  });

  it("from blockRequest alone", async () => {
    const { kg, seen } = await warnings();
    await kg.blockRequest(forwarded(), { duration: 60 });
    expect(seen).toEqual(["KEYGUARD_UNTRUSTED_FORWARDED_FOR"]);
  });

  it("from guards, once however many there are", async () => {
    const { kg, seen } = await warnings();
    await kg.guard().check(forwarded());
    await kg.guard({ keyHeader: "x-other" }).check(forwarded());
    await kg.ipRateLimit({ limit: 10 }).check(forwarded());
    expect(seen).toEqual(["KEYGUARD_UNTRUSTED_FORWARDED_FOR"]);
  });

  it("when trustProxy is 0 hops, which trusts no proxy, as with false", async () => {
    const { kg, seen } = await warnings(0);
    expect(kg.clientOf(forwarded())).toBe(CLIENT);
    await kg.guard().check(forwarded());
    expect(seen).toEqual(["KEYGUARD_UNTRUSTED_FORWARDED_FOR"]);
    const fromEnv = resolveConfig(
      { secretKey: "request-guard-secret" },
      { KEYGUARD_TRUST_PROXY: "0" },
    );
    expect(fromEnv.trustProxy).toBe(false);
  });

  it("not when proxies are trusted", async () => {
    const { kg, seen } = await warnings(1);
    await kg.guard().check(forwarded());
    await kg.ipRateLimit({ limit: 10 }).check(forwarded());
    expect(seen).toEqual([]);
  });

  it("as a process warning by default", async () => {
    const kg = new KeyGuard({
      config: resolveConfig({ secretKey: "request-guard-secret" }, {}),
      store: new InMemoryStore(),
      limiter: new InMemoryLimiter(),
    });
    open.push(kg);
    const warning = new Promise<Error & { code?: string }>((resolve) =>
      process.once("warning", resolve),
    );
    await kg.ipRateLimit({ limit: 10 }).check(forwarded());
    const emitted = await warning;
    expect(emitted.code).toBe("KEYGUARD_UNTRUSTED_FORWARDED_FOR");
    expect(emitted.message).toContain(`socket address (${CLIENT})`);
  });
});
