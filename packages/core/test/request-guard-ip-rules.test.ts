import { afterEach, describe, expect, it } from "vitest";
import { type KeyGuardConfigInput, resolveConfig } from "../src/config/keyguard-config.js";
import type { UsageEvent } from "../src/domain/usage-event.js";
import { KeyGuard } from "../src/keyguard.js";
import type { GuardRequest } from "../src/pipeline/guard-request.js";
import type { GuardResult } from "../src/pipeline/request-guard.js";
import type { KeyGuardChange } from "../src/ports/change-feed.js";
import { InMemoryLimiter, InMemoryStore } from "./support/in-memory-ports.js";

const open: KeyGuard[] = [];
afterEach(async () => {
  for (const kg of open.splice(0)) await kg.close();
});

async function setup(config: Partial<KeyGuardConfigInput> = {}, store = new InMemoryStore()) {
  const limiter = new InMemoryLimiter();
  const published: KeyGuardChange[] = [];
  const kg = new KeyGuard({
    config: resolveConfig({ secretKey: "ip-rules-secret", ipBlockThreshold: 3, ...config }, {}),
    store,
    limiter,
    changeFeed: {
      publish: async (change) => {
        published.push(change);
      },
      subscribe: () => () => {},
      close: async () => {},
    },
    onBackgroundError: (error) => {
      throw error;
    },
    onWarning: () => {},
  });
  open.push(kg);
  await kg.createOrganization("Acme Corp");
  return { kg, limiter, store, published, guard: kg.guard() };
}

function request(
  remoteAddress: string,
  key: string | undefined,
  headers: Record<string, string> = {},
): GuardRequest {
  return {
    method: "GET",
    path: "/api/data",
    remoteAddress,
    header: (name) => (name === "x-api-key" ? key : headers[name]),
  };
}

const codeOf = (result: GuardResult) => (result.allowed ? "allowed" : result.problem.code);

describe("IP rules in the request pipeline", () => {
  it("a denied client gets 403 ip_denied before any key work, whatever it sends", async () => {
    const { kg, guard } = await setup({ ipRules: { deny: ["198.51.100.0/24"] } });
    const { rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
    for (const key of [rawKey, "kg_live_wrong", undefined]) {
      const result = await guard.check(request("198.51.100.9", key));
      expect(result.allowed).toBe(false);
      if (result.allowed) continue;
      expect(result.status).toBe(403);
      expect(result.problem).toMatchObject({
        code: "ip_denied",
        type: "urn:keyguard:problem:ip_denied",
      });
      expect(result.apiKey).toBeUndefined(); // no key was looked at
    }
    // Wrong keys from a denied client count nothing (no key work at all).
    expect(await kg.limiter.listBlocks(kg.clock.now())).toEqual([]);
    expect(codeOf(await guard.check(request("198.51.101.1", rawKey)))).toBe("allowed");
  });

  it("IPv4-mapped IPv6 sockets match IPv4 rules, and IPv6 rules match full addresses", async () => {
    const { kg, guard } = await setup({
      ipRules: { deny: ["203.0.113.7", "2001:db8:1:2::1"] },
    });
    const { rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
    expect(codeOf(await guard.check(request("::ffff:203.0.113.7", rawKey)))).toBe("ip_denied");
    expect(codeOf(await guard.check(request("::FFFF:cb00:7107", rawKey)))).toBe("ip_denied");
    expect(codeOf(await guard.check(request("2001:DB8:1:2:0:0:0:1", rawKey)))).toBe("ip_denied");
    // Same /64 (one identity for limits), another address: a /128 rule does not cover it.
    expect(codeOf(await guard.check(request("2001:db8:1:2::2", rawKey)))).toBe("allowed");
  });

  it("deny wins over allow when both cover a client", async () => {
    const { kg, guard } = await setup({
      ipRules: { allow: ["10.0.0.0/8"], deny: ["10.9.0.0/16"] },
    });
    const { rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
    expect(codeOf(await guard.check(request("10.9.1.1", rawKey)))).toBe("ip_denied");
    expect(codeOf(await guard.check(request("10.8.1.1", rawKey)))).toBe("allowed");
  });

  it("an allowed client is never blocked, counted or limited, but still needs a valid key", async () => {
    const { kg, guard } = await setup({ ipRules: { allow: ["10.0.0.0/8"] } });
    const { rawKey } = await kg.createApiKey({
      organization: "Acme Corp",
      label: "k",
      rateLimitPerMinute: 2,
    });
    // A manual block on an allowed client does not apply.
    await kg.blockIp("10.1.1.1", { duration: "1 hour" });
    for (let i = 0; i < 10; i++) {
      expect(codeOf(await guard.check(request("10.1.1.1", rawKey)))).toBe("allowed");
    }
    // Wrong keys are refused (allow is not authentication) but never count toward a block.
    for (let i = 0; i < 10; i++) {
      expect(codeOf(await guard.check(request("10.1.1.2", "kg_live_nope")))).toBe(
        "invalid_api_key",
      );
    }
    expect(codeOf(await guard.check(request("10.1.1.2", rawKey)))).toBe("allowed");
    expect(codeOf(await guard.check(request("10.1.1.2", undefined)))).toBe("missing_api_key");
    // Logged as usage, but not charged to the quota (it was never limited).
    const events: UsageEvent[] = [];
    const store = kg.store as InMemoryStore;
    store.insertUsageEvents = async (batch) => {
      events.push(...batch);
    };
    guard.complete(await guard.check(request("10.1.1.1", rawKey)), 200);
    await kg.flushUsage();
    expect(events.map((event) => [event.ipAddress, event.charged])).toEqual([["10.1.1.1", false]]);
    // Elsewhere the key's limit applies.
    expect(codeOf(await guard.check(request("203.0.113.1", rawKey)))).toBe("allowed");
    expect(codeOf(await guard.check(request("203.0.113.1", rawKey)))).toBe("allowed");
    expect(codeOf(await guard.check(request("203.0.113.1", rawKey)))).toBe("rate_limited");
  });

  it("a spoofed X-Forwarded-For from an untrusted peer matches no rule", async () => {
    const { kg, guard } = await setup({
      trustProxy: ["10.0.0.1"],
      ipRules: { allow: ["192.168.0.0/16"], deny: ["198.51.100.0/24"] },
    });
    const { rawKey } = await kg.createApiKey({
      organization: "Acme Corp",
      label: "k",
      rateLimitPerMinute: 1,
    });
    const spoofed = { "x-forwarded-for": "192.168.1.1" };
    expect(codeOf(await guard.check(request("203.0.113.5", rawKey, spoofed)))).toBe("allowed");
    // Not allow-listed: the key's limit still applies.
    expect(codeOf(await guard.check(request("203.0.113.5", rawKey, spoofed)))).toBe("rate_limited");
    // Nor can an outsider get itself treated as a denied address (harmless, but not the rule).
    const framed = { "x-forwarded-for": "198.51.100.1" };
    expect(codeOf(await guard.check(request("203.0.113.6", rawKey, framed)))).not.toBe("ip_denied");
    // Through the trusted proxy the forwarded address is the client.
    expect(
      codeOf(await guard.check(request("10.0.0.1", rawKey, { "x-forwarded-for": "198.51.100.1" }))),
    ).toBe("ip_denied");
    expect(
      codeOf(
        await guard.check(
          request("10.0.0.1", rawKey, { "x-forwarded-for": "192.168.1.1, 10.0.0.1" }),
        ),
      ),
    ).toBe("allowed");
  });

  it("stored rules apply in this process at once, and are announced", async () => {
    const { kg, guard, published } = await setup();
    const { rawKey } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
    expect(codeOf(await guard.check(request("198.51.100.9", rawKey)))).toBe("allowed");
    const { rule, created } = await kg.addIpRule({
      cidr: "198.51.100.9/24",
      action: "deny",
      reason: "abuse",
    });
    expect(created).toBe(true);
    expect(rule).toMatchObject({ cidr: "198.51.100.0/24", action: "deny", reason: "abuse" });
    expect(published).toContainEqual({
      kind: "ip-rules",
      added: { id: rule.id, cidr: "198.51.100.0/24", action: "deny" },
    });
    // Applied in this process before addIpRule resolved.
    expect(codeOf(await guard.check(request("198.51.100.9", rawKey)))).toBe("ip_denied");
    // The same range and action again: the rule there, nothing new announced.
    const before = published.length;
    const again = await kg.addIpRule({ cidr: "198.51.100.0/24", action: "deny" });
    expect(again).toEqual({ rule, created: false });
    expect(published.length).toBe(before);
    // The other action for the same range: a conflict naming the rule.
    await expect(kg.addIpRule({ cidr: "198.51.100.0/24", action: "allow" })).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringContaining(rule.id as string),
    });
    await kg.removeIpRule(rule.id as string);
    expect(codeOf(await guard.check(request("198.51.100.9", rawKey)))).toBe("allowed");
    await expect(kg.removeIpRule(rule.id as string)).rejects.toMatchObject({ code: "not_found" });
  });

  it("another process's stored rule is seen on its notice or the next periodic read", async () => {
    const store = new InMemoryStore();
    const one = await setup({ blockSyncIntervalMs: 50 }, store);
    const other = new KeyGuard({
      config: resolveConfig({ secretKey: "ip-rules-secret" }, {}),
      store,
      onWarning: () => {},
    });
    open.push(other);
    const { rawKey } = await one.kg.createApiKey({ organization: "Acme Corp", label: "k" });
    expect(codeOf(await one.guard.check(request("192.0.2.1", rawKey)))).toBe("allowed");
    await other.addIpRule({ cidr: "192.0.2.0/24", action: "deny" }); // no change feed there
    await expect
      .poll(async () => codeOf(await one.guard.check(request("192.0.2.1", rawKey))), {
        timeout: 5_000,
      })
      .toBe("ip_denied");
  });

  it("a notice from another process applies its rule at once, before any re-read", async () => {
    const store = new InMemoryStore();
    const listeners = new Set<(change: KeyGuardChange) => void>();
    const feed = {
      publish: async (change: KeyGuardChange) => {
        // Through JSON, as Redis carries it.
        const sent = JSON.parse(JSON.stringify(change)) as KeyGuardChange;
        for (const listener of listeners) listener(sent);
      },
      subscribe: (listener: (change: KeyGuardChange) => void) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      close: async () => {},
    };
    // The watcher's reads of the rules can be made to hang: then only the notice itself
    // can explain a change in its answers.
    let readsHang = false;
    const watcherStore = new Proxy(store, {
      get(target, property) {
        if (property === "listIpRules" && readsHang) return () => new Promise(() => {});
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const open = (kgStore: InMemoryStore) =>
      new KeyGuard({
        // No periodic re-read within this test.
        config: resolveConfig({ secretKey: "ip-rules-secret", blockSyncIntervalMs: 3_600_000 }, {}),
        store: kgStore,
        limiter: new InMemoryLimiter(),
        changeFeed: feed,
        onWarning: () => {},
      });
    const watcher = open(watcherStore);
    const operator = open(store);
    await watcher.createOrganization("Acme Corp");
    const guard = watcher.guard();
    const { rawKey } = await watcher.createApiKey({ organization: "Acme Corp", label: "k" });
    expect(codeOf(await guard.check(request("192.0.2.1", rawKey)))).toBe("allowed");
    readsHang = true;
    const added = await operator.addIpRule({ cidr: "192.0.2.0/24", action: "deny" });
    expect(codeOf(await guard.check(request("192.0.2.1", rawKey)))).toBe("ip_denied");
    await operator.removeIpRule(added.rule.id as string);
    expect(codeOf(await guard.check(request("192.0.2.1", rawKey)))).toBe("allowed");
    await watcher.close();
    await operator.close();
  });

  it("bad input is refused before anything is stored", async () => {
    const { kg } = await setup();
    await expect(kg.addIpRule({ cidr: "10.0.0.0/33", action: "deny" })).rejects.toMatchObject({
      code: "invalid_input",
    });
    await expect(
      kg.addIpRule({ cidr: "10.0.0.0/8", action: "block" as "deny" }),
    ).rejects.toMatchObject({ code: "invalid_input", message: 'action must be "allow" or "deny"' });
    await expect(
      kg.addIpRule({ cidr: "10.0.0.0/8", action: "deny", reason: "x\u0007" }),
    ).rejects.toMatchObject({ code: "invalid_input" });
    expect(await kg.listIpRules()).toEqual([]);
  });

  it("configured rules are checked at start-up and listed", async () => {
    expect(() =>
      resolveConfig(
        { secretKey: "ip-rules-secret", ipRules: { deny: ["10.0.0.0/8", "nope"] } },
        {},
      ),
    ).toThrow(/ipRules\.deny\[1\] "nope" is not an IP address/);
    expect(() =>
      resolveConfig({ secretKey: "ip-rules-secret" }, { KEYGUARD_IP_ALLOW: "10.0.0.0/8,::1/200" }),
    ).toThrow(/prefix length is 0 to 128/);
    const config = resolveConfig(
      { secretKey: "ip-rules-secret" },
      { KEYGUARD_IP_ALLOW: "10.0.0.0/8, fd00::/8", KEYGUARD_IP_DENY: "198.51.100.7" },
    );
    expect(config.ipRules).toEqual({ allow: ["10.0.0.0/8", "fd00::/8"], deny: ["198.51.100.7"] });
    const { kg } = await setup({ ipRules: config.ipRules });
    expect((await kg.listIpRules()).map((rule) => [rule.source, rule.action, rule.cidr])).toEqual([
      ["config", "allow", "10.0.0.0/8"],
      ["config", "allow", "fd00::/8"],
      ["config", "deny", "198.51.100.7/32"],
    ]);
  });
});

describe("a key's allowed_ips", () => {
  it("refuses the key elsewhere with 403 ip_not_allowed, counted as a failed attempt", async () => {
    const { kg, guard } = await setup();
    const { rawKey } = await kg.createApiKey({
      organization: "Acme Corp",
      label: "office",
      allowedIps: ["192.0.2.0/24", "2001:db8::/32"],
    });
    expect(codeOf(await guard.check(request("192.0.2.77", rawKey)))).toBe("allowed");
    expect(codeOf(await guard.check(request("::ffff:192.0.2.77", rawKey)))).toBe("allowed");
    expect(codeOf(await guard.check(request("2001:db8:ff::1", rawKey)))).toBe("allowed");
    const refused = await guard.check(request("203.0.113.9", rawKey));
    expect(refused).toMatchObject({
      allowed: false,
      status: 403,
      problem: { code: "ip_not_allowed" },
    });
    // The key was identified: its usage is logged (not charged).
    expect(refused.apiKey?.label).toBe("office");
    // ipBlockThreshold is 3: two more and the client is blocked, for every key.
    expect(codeOf(await guard.check(request("203.0.113.9", rawKey)))).toBe("ip_not_allowed");
    expect(codeOf(await guard.check(request("203.0.113.9", rawKey)))).toBe("ip_not_allowed");
    expect(codeOf(await guard.check(request("203.0.113.9", rawKey)))).toBe("ip_blocked");
    const { rawKey: other } = await kg.createApiKey({ organization: "Acme Corp", label: "any" });
    expect(codeOf(await guard.check(request("203.0.113.9", other)))).toBe("ip_blocked");
  });

  it("an allow rule does not lift a key's own restriction", async () => {
    const { kg, guard } = await setup({ ipRules: { allow: ["10.0.0.0/8"] } });
    const { rawKey } = await kg.createApiKey({
      organization: "Acme Corp",
      label: "k",
      allowedIps: ["192.0.2.1"],
    });
    for (let i = 0; i < 5; i++) {
      expect(codeOf(await guard.check(request("10.0.0.1", rawKey)))).toBe("ip_not_allowed");
    }
    // ...but the allowed client is never blocked for it.
    expect(await kg.limiter.listBlocks(kg.clock.now())).toEqual([]);
  });

  it("changes with update, and null lifts it", async () => {
    const { kg, guard } = await setup();
    const { rawKey, key } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
    expect(key.allowedIps).toBeNull();
    const updated = await kg.updateApiKey(key.id, { allowedIps: ["198.51.100.1"] });
    expect(updated.allowedIps).toEqual(["198.51.100.1/32"]);
    expect(codeOf(await guard.check(request("198.51.100.2", rawKey)))).toBe("ip_not_allowed");
    await kg.updateApiKey(key.id, { allowedIps: null });
    expect(codeOf(await guard.check(request("198.51.100.2", rawKey)))).toBe("allowed");
    await expect(kg.updateApiKey(key.id, { allowedIps: ["bad"] })).rejects.toMatchObject({
      code: "invalid_input",
      details: { field: "allowedIps" },
    });
  });
});
