import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type GuardRequest, KeyGuard, resolveConfig } from "@keyguard/core";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore } from "@keyguard/store-kysely";
import { describe, expect, it } from "vitest";
import { type CliDatabase, cliBackends, useCliDatabase } from "./cli-backends.js";
import { keyguard, oneLine } from "./keyguard-process.js";

const SECRET = "cli-export-policies-secret-0123456789";
const withSecret = { KEYGUARD_SECRET_KEY: SECRET };

/** A serving KeyGuard (memory limiter) on a CLI database, as a server process runs it. */
async function servingKeyGuard(db: CliDatabase): Promise<KeyGuard> {
  const url = db.env.KEYGUARD_DATABASE_URL ?? `sqlite:${join(db.cwd, "keyguard.db")}`;
  const kg = new KeyGuard({
    config: resolveConfig({ secretKey: SECRET }, {}),
    store: await createKyselyStore({ url }),
    limiter: new MemoryLimiter(),
  });
  await kg.init();
  return kg;
}

const request = (rawKey: string, remoteAddress: string): GuardRequest => ({
  method: "GET",
  path: "/api/data",
  remoteAddress,
  header: (name) => (name === "x-api-key" ? rawKey : undefined),
});

/** What a sequence of requests gets: status, code and rate-limit policy, request by request. */
async function decisions(kg: KeyGuard, rawKey: string): Promise<string[]> {
  const guard = kg.guard();
  const seen: string[] = [];
  const from = ["203.0.113.5", "203.0.113.5", "203.0.113.5", "192.0.2.1", "198.51.100.7"];
  for (const address of from) {
    const result = await guard.check(request(rawKey, address), 1);
    seen.push(
      result.allowed
        ? `${address} allowed ${result.headers["ratelimit-policy"]}`
        : `${address} ${result.problem.code} ${result.headers["ratelimit-policy"] ?? ""}`.trim(),
    );
  }
  return seen;
}

describe.each(cliBackends)(
  "keyguard export / import of limits and IP rules on $name",
  (backend) => {
    const cli = useCliDatabase(backend);
    const { run, json } = cli;

    it("moves a key's windows and allowed addresses, an organization's windows and the IP rules", async () => {
      json(await run(["init", "--json"], withSecret));
      json(await run(["create-org", "Acme Corp", "--json"]));
      json(await run(["set-org-limits", "Acme Corp", "--limit", "hour=100/1h", "--json"]));
      const created = json(
        await run(
          [
            "create-key",
            "--org",
            "Acme Corp",
            "--label",
            "windows",
            "--limit",
            "burst=2/10s",
            "--limit",
            "day=10000/1d",
            "--allowed-ip",
            "203.0.113.0/24",
            "--allowed-ip",
            "198.51.100.0/24",
            "--json",
          ],
          withSecret,
        ),
      );
      json(await run(["deny-ip", "198.51.100.0/24", "--reason", "scrapers", "--json"]));
      json(await run(["allow-ip", "10.0.0.0/8", "--json"]));
      const source = await servingKeyGuard(cli.db);
      const before = await decisions(source, created.raw_key);
      await source.close();
      expect(before).toEqual([
        '203.0.113.5 allowed "minute";q=60;w=60, "burst";q=2;w=10, "day";q=10000;w=86400, "org.hour";q=100;w=3600',
        '203.0.113.5 allowed "minute";q=60;w=60, "burst";q=2;w=10, "day";q=10000;w=86400, "org.hour";q=100;w=3600',
        '203.0.113.5 rate_limited "minute";q=60;w=60, "burst";q=2;w=10, "day";q=10000;w=86400, "org.hour";q=100;w=3600',
        "192.0.2.1 ip_not_allowed",
        "198.51.100.7 ip_denied",
      ]);

      expect((await run(["export", "--out", "backup.json"])).stdout).toBe(
        "Exported 1 organizations, 1 keys, 0 usage rows, 0 usage rollups, 0 credit spending rows, 0 blocks and 2 IP rules to backup.json\n",
      );
      const text = readFileSync(join(cli.db.cwd, "backup.json"), "utf8");
      expect(text).toContain(
        '"limits":[{"name":"burst","limit":2,"window_seconds":10},{"name":"day","limit":10000,"window_seconds":86400}]',
      );
      expect(text).toContain('"allowed_ips":["203.0.113.0/24","198.51.100.0/24"]');
      expect(text).toContain('"limits":[{"name":"hour","limit":100,"window_seconds":3600}]');
      expect(text).toMatch(/"cidr":"198\.51\.100\.0\/24","action":"deny","reason":"scrapers"/);

      const target = await backend.create();
      try {
        const into = (args: string[]) =>
          keyguard(args, { cwd: target.cwd, env: { ...target.env, ...withSecret } });
        writeFileSync(join(target.cwd, "backup.json"), text);
        expect(json(await into(["import", "backup.json", "--json"]))).toEqual({
          dry_run: false,
          organizations: { added: 1, already_present: 0 },
          api_keys: { added: 1, already_present: 0 },
          usage_rows: { added: 0, already_present: 0 },
          usage_rollups: { added: 0, already_present: 0 },
          credit_spending: { added: 0, already_present: 0 },
          ip_blocks: { added: 0, already_present: 0 },
          ip_rules: { added: 2, already_present: 0 },
        });
        // The copy's key decides exactly as the original did: windows, organization window,
        // allowed addresses and the deny rule all came along.
        const copy = await servingKeyGuard(target);
        expect(await decisions(copy, created.raw_key)).toEqual(before);
        await copy.close();
        const listed = json(await into(["list-keys", "--json"])).items[0];
        expect(listed.limits).toEqual(created.limits);
        expect(listed.allowed_ips).toEqual(["203.0.113.0/24", "198.51.100.0/24"]);
        const rules = json(await into(["list-ip-rules", "--json"]));
        expect(JSON.stringify(rules)).toMatch(/198\.51\.100\.0\/24/);
        expect(JSON.stringify(rules)).toMatch(/10\.0\.0\.0\/8/);
        // Again: nothing added twice.
        expect(json(await into(["import", "backup.json", "--json"])).ip_rules).toEqual({
          added: 0,
          already_present: 2,
        });
      } finally {
        await target.dispose();
      }
    });

    it("imports a file without limits, allowed_ips, concurrency, credits, charged, credit_spending or ip_rules: keys without them", async () => {
      json(await run(["init", "--json"], withSecret));
      const org = "11111111-2222-4333-8444-555555555555";
      const usage = {
        id: "u1",
        key_id: "k1",
        path: "/api/data",
        method: "GET",
        status_code: 200,
        latency_ms: 3,
        ip_address: null,
        timestamp: "2026-12-01T22:00:00.000Z",
      };
      writeFileSync(
        join(cli.db.cwd, "old.json"),
        `{"format": "keyguard-export", "version": 1,\n"organizations": [\n${JSON.stringify({ id: org, name: "Acme Corp" })}\n],\n"api_keys": [\n${JSON.stringify({ id: "k1", organization_id: org, key_hash: "b".repeat(64), hash_scheme: "sha256-hex" })}\n],\n"usage": [\n${JSON.stringify(usage)},\n${JSON.stringify({ ...usage, id: "u2", status_code: 429 })}\n]}\n`,
      );
      const imported = json(await run(["import", "old.json", "--json"]));
      expect(imported.api_keys).toEqual({ added: 1, already_present: 0 });
      expect(imported.credit_spending).toEqual({ added: 0, already_present: 0 });
      expect(imported.ip_rules).toEqual({ added: 0, already_present: 0 });
      const key = json(await run(["list-keys", "--json"])).items[0];
      expect([key.limits, key.allowed_ips, key.concurrency, key.credits]).toEqual([
        [],
        null,
        null,
        null,
      ]);
      const listed = json(await run(["list-orgs", "--json"])).items[0];
      expect([listed.limits, listed.concurrency]).toEqual([[], null]);
      // A usage row without `charged` is counted as such rows always were: all but 429s.
      const exported = (await run(["export"])).stdout;
      expect(exported).toContain('"id":"u1"');
      expect(exported).toMatch(/"id":"u1".*"status_code":200.*"charged":true,"rolled_up":false\}/);
      expect(exported).toMatch(/"id":"u2".*"status_code":429.*"charged":false,"rolled_up":false\}/);
    });

    it("moves credits spent into a key already in the database, once, and counts them in a dry run", async () => {
      json(await run(["init", "--json"], withSecret));
      const org = "11111111-2222-4333-8444-555555555555";
      const key = {
        id: "k1",
        organization_id: org,
        key_hash: "d".repeat(64),
        hash_scheme: "sha256-hex",
        credits: { granted: 100, epoch: "2026-12-01T00:00:00.000Z", refill: null },
      };
      writeFileSync(
        join(cli.db.cwd, "key.json"),
        `{"format": "keyguard-export", "version": 1,\n"organizations": [\n${JSON.stringify({ id: org, name: "Acme Corp" })}\n],\n"api_keys": [\n${JSON.stringify(key)}\n]}\n`,
      );
      json(await run(["import", "key.json", "--json"]));
      // Only the spending: its lineage (the key's own id) is found in the database.
      const spent = { quota_id: "k1", period_start: "2026-12-01T00:00:00.000Z", spent: 30 };
      writeFileSync(
        join(cli.db.cwd, "spent.json"),
        `{"format": "keyguard-export", "version": 1,\n"credit_spending": [\n${JSON.stringify(spent)}\n]}\n`,
      );
      const dry = json(await run(["import", "spent.json", "--dry-run", "--json"]));
      expect([dry.dry_run, dry.credit_spending]).toEqual([true, { added: 1, already_present: 0 }]);
      expect(json(await run(["list-keys", "--json"])).items[0].credits.remaining).toBe(100);
      const imported = json(await run(["import", "spent.json", "--json"]));
      expect(imported.credit_spending).toEqual({ added: 1, already_present: 0 });
      const again = json(await run(["import", "spent.json", "--json"]));
      expect(again.credit_spending).toEqual({ added: 0, already_present: 1 });
      expect(json(await run(["list-keys", "--json"])).items[0].credits.remaining).toBe(70);
    });

    it("refuses a bad concurrency cap, credits, charged flag or credit spending in one line, importing nothing", async () => {
      json(await run(["init", "--json"], withSecret));
      const org = { id: "11111111-2222-4333-8444-555555555555", name: "Acme Corp" };
      const key = {
        id: "k1",
        organization_id: org.id,
        key_hash: "e".repeat(64),
        hash_scheme: "sha256-hex",
        concurrency: 5,
        credits: { granted: 100, refill: { amount: 100, interval: "daily" } },
      };
      const usage = {
        id: "u1",
        key_id: "k1",
        path: "/",
        method: "GET",
        status_code: 429,
        latency_ms: 1,
        ip_address: null,
        timestamp: "2026-12-01T22:00:00.000Z",
        charged: false,
      };
      const spent = { quota_id: "k1", period_start: "2026-12-01T00:00:00.000Z", spent: 5 };
      const file = (
        changes: {
          org?: object;
          key?: object;
          usage?: object;
          spent?: object;
          spent2?: object;
        } = {},
      ) =>
        `{"format": "keyguard-export", "version": 1,\n"organizations": [\n${JSON.stringify({ ...org, ...changes.org })}\n],\n"api_keys": [\n${JSON.stringify({ ...key, ...changes.key })}\n],\n"usage": [\n${JSON.stringify({ ...usage, ...changes.usage })}\n],\n"credit_spending": [\n${[{ ...spent, ...changes.spent }, ...(changes.spent2 ? [changes.spent2] : [])].map((row) => JSON.stringify(row)).join(",\n")}\n]}\n`;
      const cases: [string, string][] = [
        [
          file({ key: { credits: { ...key.credits, granted: -1 } } }),
          "line 6: api_keys[0].credits.granted must be 0 or more",
        ],
        [
          file({ key: { credits: { granted: 1.5 } } }),
          "line 6: api_keys[0].credits.granted must be a whole number",
        ],
        [
          file({ key: { credits: { granted: 10, refill: { amount: 0, interval: "daily" } } } }),
          "line 6: api_keys[0].credits.refill.amount must be greater than 0",
        ],
        [
          file({ key: { credits: { granted: 10, refill: { amount: 10, interval: "weekly" } } } }),
          'line 6: api_keys[0].credits.refill.interval Invalid option: expected one of "daily"|"monthly"',
        ],
        [
          file({ key: { credits: { granted: 10, remaining: 10 } } }),
          "line 6: api_keys[0].credits has unknown field(s) remaining",
        ],
        [
          file({ key: { credits: { granted: 10, epoch: "today" } } }),
          "line 6: api_keys[0].credits.epoch must be an ISO 8601 date-time (2026-04-22T14:30:00Z)",
        ],
        [
          file({ key: { concurrency: 0 } }),
          "line 6: api_keys[0].concurrency must be at least 1 (or null for no cap)",
        ],
        [
          file({ key: { concurrency: 10_001 } }),
          "line 6: api_keys[0].concurrency must be at most 10000",
        ],
        [
          file({ key: { concurrency: null, concurrency_mode: "shadow" } }),
          "line 6: api_keys[0].concurrency_mode needs a concurrency (null without a cap)",
        ],
        [
          file({ org: { concurrency: 0 } }),
          "line 3: organizations[0].concurrency must be at least 1 (or null for no cap)",
        ],
        [
          file({ org: { concurrency: 10, concurrency_mode: "soft" } }),
          'line 3: organizations[0].concurrency_mode Invalid option: expected one of "enforce"|"shadow"',
        ],
        [
          file({ usage: { charged: "no" } }),
          "line 9: usage[0].charged Invalid input: expected boolean, received string",
        ],
        [file({ spent: { spent: -5 } }), "line 12: credit_spending[0].spent must be 0 or more"],
        [
          file({ spent: { period_start: "2026-12" } }),
          "line 12: credit_spending[0].period_start must be an ISO 8601 date-time (2026-04-22T14:30:00Z)",
        ],
        [
          file({ spent: { key_id: "k1" } }),
          "line 12: credit_spending[0] has unknown field(s) key_id",
        ],
        // Valid in form, but no key spends that lineage: refused by the store before writing.
        [
          file({ spent: { quota_id: "nope" } }),
          "Credits spent by quota nope, which no key in the import or the database spends.",
        ],
        [
          file({ spent2: { ...spent, period_start: "2026-12-01T01:00:00+01:00", spent: 7 } }),
          "The import has two records of credits spent by quota k1 in the period from 2026-12-01T00:00:00.000Z; keep one.",
        ],
      ];
      for (const [content, message] of cases) {
        writeFileSync(join(cli.db.cwd, "bad.json"), content);
        const result = await run(["import", "bad.json"]);
        expect(result.code, content).toBe(1);
        expect(result.stdout).toBe("");
        expect(oneLine(result)).toBe(
          `keyguard: ${message.startsWith("line") ? `bad.json ${message}` : message}`,
        );
      }
      // Nothing of any of them was written: not the organization, the key or the spending.
      expect(json(await run(["stats", "--json"]))).toMatchObject({
        organizations: 0,
        total_keys: 0,
      });
      expect((await run(["export"])).stdout).toContain('"credit_spending": [],');
      // The file itself is good.
      writeFileSync(join(cli.db.cwd, "good.json"), file());
      expect(json(await run(["import", "good.json", "--json"]))).toMatchObject({
        api_keys: { added: 1, already_present: 0 },
        usage_rows: { added: 1, already_present: 0 },
        credit_spending: { added: 1, already_present: 0 },
      });
    });

    it("refuses a bad limits entry or IP rule in one line, importing nothing", async () => {
      json(await run(["init", "--json"], withSecret));
      const org = "11111111-2222-4333-8444-555555555555";
      const orgLine = JSON.stringify({ id: org, name: "Acme Corp" });
      const key = {
        id: "k1",
        organization_id: org,
        key_hash: "c".repeat(64),
        hash_scheme: "sha256-hex",
      };
      const file = (keyFields: object, rules: object[] = []) =>
        `{"format": "keyguard-export", "version": 1,\n"organizations": [\n${orgLine}\n],\n"api_keys": [\n${JSON.stringify({ ...key, ...keyFields })}\n],\n"ip_rules": [\n${rules.map((rule) => JSON.stringify(rule)).join(",\n")}\n]}\n`;
      const window = { name: "burst", limit: 10, window_seconds: 1 };
      const rule = { id: "r1", cidr: "198.51.100.0/24", action: "deny" };
      const cases: [string, string][] = [
        [
          file({ limits: [{ ...window, limit: 0 }] }),
          "line 6: api_keys[0].limits[0].limit must be greater than 0",
        ],
        [
          file({ limits: [{ ...window, window_seconds: 3_000_000 }] }),
          "line 6: api_keys[0].limits[0].window_seconds must be at most 31 days (2678400 seconds)",
        ],
        [
          file({ limits: [{ ...window, name: "Burst!" }] }),
          "line 6: api_keys[0].limits[0].name must be 1-32 of a-z 0-9 _ -",
        ],
        [
          file({ limits: [{ ...window, name: "minute" }] }),
          "line 6: api_keys[0].limits may not be named minute, month, concurrency, credits (rate_limit_per_minute, monthly_limit, concurrency and credits are those)",
        ],
        [file({ limits: [window, window] }), "line 6: api_keys[0].limits must have unique names"],
        [
          file({ limits: [{ ...window, per: "second" }] }),
          "line 6: api_keys[0].limits[0] has unknown field(s) per",
        ],
        [
          file({ limits: "burst=10/1s" }),
          "line 6: api_keys[0].limits Invalid input: expected array, received string",
        ],
        [
          file({}, [{ ...rule, cidr: "300.1.2.3" }]),
          "line 9: ip_rules[0].cidr must be an IP address or CIDR range",
        ],
        [
          file({}, [{ ...rule, action: "block" }]),
          'line 9: ip_rules[0].action Invalid option: expected one of "allow"|"deny"',
        ],
        // Valid in form, but two rules for one range: refused by the store before writing.
        [
          file({}, [rule, { ...rule, id: "r2", cidr: "198.51.100.9/24" }]),
          "IP rules r1 and r2 in the import are both for 198.51.100.0/24; keep one.",
        ],
      ];
      for (const [content, message] of cases) {
        writeFileSync(join(cli.db.cwd, "bad.json"), content);
        const result = await run(["import", "bad.json"]);
        expect(result.code, content).toBe(1);
        expect(result.stdout).toBe("");
        expect(oneLine(result)).toBe(
          `keyguard: ${message.startsWith("line") ? `bad.json ${message}` : message}`,
        );
      }
      // Nothing of any of them was written: not the organization, the key or a rule.
      expect(json(await run(["stats", "--json"]))).toMatchObject({
        organizations: 0,
        total_keys: 0,
      });
      expect(json(await run(["list-ip-rules", "--json"]))).toMatchObject({ items: [] });
    });
  },
);
