import { createHash, randomUUID } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KeyGuard, resolveConfig } from "@keyguard/core";
import type { KyselyStore } from "@keyguard/store-kysely";
import { keyguardPythonHash, keyguardPythonRawKey, postgresAvailable } from "@keyguard/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type CliBackend,
  type CliDatabase,
  postgresBackend,
  sqliteBackend,
} from "./cli-backends.js";
import { type CliResult, keyguard, oneLine } from "./keyguard-process.js";

const SECRET = "cli-test-secret-0123456789";
const LEGACY = "old-python-secret";
const pgAvailable = await postgresAvailable();
const pairs: [CliBackend, CliBackend][] = pgAvailable
  ? [
      [sqliteBackend, postgresBackend],
      [postgresBackend, sqliteBackend],
    ]
  : [[sqliteBackend, sqliteBackend]];

const ok = (result: CliResult) => {
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return result;
};

describe.each(pairs)("export from %s, import into %s", (fromBackend, toBackend) => {
  let from: CliDatabase;
  let to: CliDatabase;
  beforeEach(async () => {
    from = await fromBackend.create();
    to = await toBackend.create();
  });
  afterEach(async () => {
    await from.dispose();
    await to.dispose();
  });
  const env = { KEYGUARD_SECRET_KEY: SECRET };

  it("round-trips every record without loss, and the same raw keys work on the new database", async () => {
    ok(await keyguard(["init"], { cwd: from.cwd, env: { ...from.env, ...env } }));
    const kg = await from.openKeyGuard(SECRET);
    const now = Date.now();
    await kg.createOrganization("Acme Corp");
    await kg.createOrganization("Dev Team");
    await kg.suspendOrganization("Dev Team");
    const live = await kg.createApiKey({
      organization: "Acme Corp",
      label: "production",
      rateLimitPerMinute: 120,
      monthlyLimit: 50_000,
      scopes: ["read", "write"],
      expiresAt: new Date(now + 86_400_000),
      limits: [{ name: "burst", limit: 10, windowSeconds: 1, algorithm: "gcra" }],
      allowedIps: ["203.0.113.0/24"],
      concurrency: { limit: 5 },
      credits: { remaining: 1000, refill: { amount: 500, interval: "monthly" } },
    });
    await kg.setOrganizationLimits("Acme Corp", [
      { name: "minute", limit: 5000, windowSeconds: 60, mode: "shadow" },
    ]);
    await kg.setOrganizationConcurrency("Acme Corp", { limit: 50, mode: "shadow" });
    // A top-up: the stored grant is no longer what the key was made with.
    await kg.addCredits(live.key.id, 250);
    const periodStart = (await kg.creditBalance(await kg.getApiKey(live.key.id)))?.periodStart;
    await kg.addIpRule({ cidr: "198.51.100.0/24", action: "deny", reason: "scrapers" });
    const gone = await kg.createApiKey({ organization: "Dev Team", label: "old" });
    await kg.revokeApiKey(gone.key.id);
    // A keyguard-python key not yet upgraded, as import-python leaves it.
    const pythonRaw = keyguardPythonRawKey();
    await (kg.store as KyselyStore).importRecords({
      organizations: [],
      apiKeys: [
        {
          ...live.key,
          id: randomUUID(),
          label: "from python",
          prefix: pythonRaw.slice(0, 12),
          keyHash: keyguardPythonHash(pythonRaw, LEGACY),
          hashScheme: "keyguard-python",
          expiresAt: null,
          monthlyLimit: null,
        },
      ],
      usage: [],
    });
    await kg.store.insertUsageEvents([
      {
        keyId: live.key.id,
        path: "/api/data",
        method: "GET",
        statusCode: 200,
        latencyMs: 4,
        ipAddress: "203.0.113.7",
        timestamp: new Date(now - 60_000),
        requestCount: 3,
        // Credits these requests spent, in the balance's current period.
        credits: 40,
        creditsPeriodStart: periodStart?.getTime() ?? 0,
      },
      {
        keyId: live.key.id,
        path: "/api/x",
        method: "POST",
        statusCode: 429,
        latencyMs: 1,
        ipAddress: null,
        timestamp: new Date(now - 30_000),
      },
    ]);
    await kg.store.insertIpBlock({
      client: "198.51.100.4",
      scope: "path",
      path: "/login",
      untilMs: now + 3_600_000,
      reason: "too many",
    });
    const liveBefore = await kg.getApiKey(live.key.id);
    const balanceBefore = await kg.creditBalance(liveBefore);
    expect(balanceBefore).toMatchObject({ remaining: 1210, periodCredits: 1250 });
    const orgBefore = await kg.getOrganization("Acme Corp");
    // The 429 was a refusal: not charged to the monthly quota.
    const chargedBefore = await kg.store.countAllowedRequests(
      live.key.id,
      new Date(now - 3_600_000),
    );
    expect(chargedBefore).toBe(3);
    await kg.close();

    const exported = ok(
      await keyguard(["export", "--out", "backup.json"], { cwd: from.cwd, env: from.env }),
    );
    expect(exported.stdout).toBe(
      "Exported 2 organizations, 3 keys, 2 usage rows, 0 usage rollups, 1 credit spending rows, 1 blocks and 1 IP rules to backup.json\n",
    );
    const file = join(from.cwd, "backup.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, "utf8");
    expect(text).not.toContain(live.rawKey);
    expect(text).not.toContain(pythonRaw);
    expect(text).toContain('"concurrency":50,"concurrency_mode":"shadow"');
    expect(text).toContain('"concurrency":5,"concurrency_mode":"enforce"');
    expect(text).toContain(
      `"credits":{"granted":1250,"epoch":"${liveBefore.credits?.epoch.toISOString()}","refill":{"amount":500,"interval":"monthly"}}`,
    );
    expect(text).toContain(
      `{"quota_id":"${live.key.quotaId}","period_start":"${balanceBefore?.periodStart.toISOString()}","spent":40}`,
    );
    expect(text).toMatch(/"status_code":429,[^\n]*"charged":false/);
    // Never overwritten.
    const again = await keyguard(["export", "--out", "backup.json"], {
      cwd: from.cwd,
      env: from.env,
    });
    expect([again.code, oneLine(again)]).toEqual([
      1,
      "keyguard: backup.json already exists: choose another file or remove it first",
    ]);

    writeFileSync(join(to.cwd, "backup.json"), text);
    const imported = ok(
      await keyguard(["import", "backup.json", "--json"], { cwd: to.cwd, env: to.env }),
    );
    expect(JSON.parse(imported.stdout)).toEqual({
      dry_run: false,
      organizations: { added: 2, already_present: 0 },
      api_keys: { added: 3, already_present: 0 },
      usage_rows: { added: 2, already_present: 0 },
      usage_rollups: { added: 0, already_present: 0 },
      credit_spending: { added: 1, already_present: 0 },
      ip_blocks: { added: 1, already_present: 0 },
      ip_rules: { added: 1, already_present: 0 },
    });
    const second = ok(
      await keyguard(["import", "backup.json", "--json"], { cwd: to.cwd, env: to.env }),
    );
    expect(JSON.parse(second.stdout)).toMatchObject({
      api_keys: { added: 0, already_present: 3 },
      // The spending is not added a second time.
      credit_spending: { added: 0, already_present: 1 },
    });

    // Exporting the copy gives the same file, record for record.
    const reexported = ok(await keyguard(["export"], { cwd: to.cwd, env: to.env })).stdout;
    const withoutTime = (content: string) => content.replace(/"exported_at": "[^"]+"/, "");
    expect(withoutTime(reexported)).toBe(withoutTime(text));

    const copy = await to.openKeyGuard(SECRET);
    // The same caps, credits and balance: the spent credits stay spent, the refusal uncharged.
    const liveAfter = await copy.getApiKey(live.key.id);
    expect([liveAfter.concurrency, liveAfter.credits]).toEqual([
      liveBefore.concurrency,
      liveBefore.credits,
    ]);
    expect(await copy.creditBalance(liveAfter)).toEqual(balanceBefore);
    expect((await copy.getOrganization("Acme Corp")).concurrency).toEqual(orgBefore.concurrency);
    expect(await copy.store.countAllowedRequests(live.key.id, new Date(now - 3_600_000))).toBe(
      chargedBefore,
    );
    const verifier = new KeyGuard({
      config: resolveConfig({ secretKey: SECRET, legacySecret: LEGACY }, {}),
      store: copy.store,
    });
    expect(await verifier.verifyKey(live.rawKey)).toMatchObject({
      outcome: "valid",
      key: { label: "production", scopes: ["read", "write"] },
    });
    expect(await verifier.verifyKey(gone.rawKey)).toMatchObject({ outcome: "revoked" });
    expect(await verifier.verifyKey(pythonRaw)).toMatchObject({
      outcome: "valid",
      key: { label: "from python" },
    });
    await verifier.close();
  });

  it("keeps usage whose rows retention deleted: its rollups are exported, and every total is the same after an import", async () => {
    ok(await keyguard(["init"], { cwd: from.cwd, env: { ...from.env, ...env } }));
    const kg = await from.openKeyGuard(SECRET);
    const now = Date.now();
    await kg.createOrganization("Acme Corp");
    const { key } = await kg.createApiKey({ organization: "Acme Corp", label: "old" });
    const request = (daysAgo: number, statusCode: number, requestCount: number) => ({
      keyId: key.id,
      path: "/api/data",
      method: "GET",
      statusCode,
      latencyMs: 2,
      ipAddress: "203.0.113.7",
      timestamp: new Date(now - daysAgo * 86_400_000),
      requestCount,
    });
    // 100 days back: past the 90-day retention, so only its rollups will be left. Two
    // days back: rolled up, its rows kept. Now: not rolled up yet.
    await kg.store.insertUsageEvents([
      request(100, 200, 7),
      request(100, 429, 2),
      request(2, 200, 5),
      request(0, 200, 3),
    ]);
    expect(await kg.maintainUsage()).toMatchObject({ rolledUp: 3, deletedRows: 2 });
    await kg.close();
    const stats = async (db: CliDatabase) =>
      JSON.parse(ok(await keyguard(["stats", "--json"], { cwd: db.cwd, env: db.env })).stdout);
    // The hours of the last 200 days that had requests (the report's other hours are 0).
    const usage = async (db: CliDatabase) =>
      JSON.parse(
        ok(
          await keyguard(["usage", key.id, "--since", "200d", "--json"], {
            cwd: db.cwd,
            env: db.env,
          }),
        ).stdout,
      ).hours.filter((hour: { total: number }) => hour.total > 0);
    const statsBefore = await stats(from);
    expect(statsBefore.total_requests).toBe(17);
    const usageBefore = await usage(from);
    expect(usageBefore).toHaveLength(3);

    const exported = ok(await keyguard(["export"], { cwd: from.cwd, env: from.env })).stdout;
    // The old requests are there only as rollups: one per hour and status class.
    const file = JSON.parse(exported);
    expect(file.usage.map((row: { rolled_up: boolean }) => row.rolled_up).sort()).toEqual([
      false,
      true,
    ]);
    expect(
      file.usage_rollups.map((row: Record<string, unknown>) => [
        row.status_class,
        row.request_count,
        row.charged_count,
      ]),
    ).toEqual(
      expect.arrayContaining([
        [200, 7, 7],
        [429, 2, 0],
        [200, 5, 5],
      ]),
    );
    writeFileSync(join(to.cwd, "backup.json"), exported);
    const imported = JSON.parse(
      ok(await keyguard(["import", "backup.json", "--json"], { cwd: to.cwd, env: to.env })).stdout,
    );
    expect(imported).toMatchObject({
      usage_rows: { added: 2, already_present: 0 },
      usage_rollups: { added: 3, already_present: 0 },
    });
    // Neither lost nor counted twice (the row rolled up two days ago is in a rollup too).
    expect(await stats(to)).toEqual(statsBefore);
    expect(await usage(to)).toEqual(usageBefore);
    // A second import adds nothing.
    expect(
      JSON.parse(
        ok(await keyguard(["import", "backup.json", "--json"], { cwd: to.cwd, env: to.env }))
          .stdout,
      ),
    ).toMatchObject({ usage_rollups: { added: 0, already_present: 3 } });
    expect((await stats(to)).total_requests).toBe(17);
  });

  it("counts each request once when a later export, taken after the source rolled usage up, is imported over an earlier one", async () => {
    ok(await keyguard(["init"], { cwd: from.cwd, env: { ...from.env, ...env } }));
    const kg = await from.openKeyGuard(SECRET);
    const now = Date.now();
    await kg.createOrganization("Acme Corp");
    const { key } = await kg.createApiKey({ organization: "Acme Corp", label: "twice" });
    const request = (daysAgo: number, requestCount: number) => ({
      keyId: key.id,
      path: "/api/data",
      method: "GET",
      statusCode: 200,
      latencyMs: 2,
      ipAddress: "203.0.113.7",
      timestamp: new Date(now - daysAgo * 86_400_000),
      requestCount,
    });
    // Two days old but not rolled up yet (maintenance has not run), and one of now.
    await kg.store.insertUsageEvents([request(2, 5), request(0, 3)]);
    const total = async (db: CliDatabase) =>
      JSON.parse(ok(await keyguard(["stats", "--json"], { cwd: db.cwd, env: db.env })).stdout)
        .total_requests;
    const exportTo = async (name: string) => {
      const text = ok(await keyguard(["export"], { cwd: from.cwd, env: from.env })).stdout;
      writeFileSync(join(to.cwd, name), text);
      ok(await keyguard(["import", name, "--json"], { cwd: to.cwd, env: to.env }));
    };
    await exportTo("monday.json");
    expect(await total(to)).toBe(8);
    // The source rolls the old row up; its next export has the row as rolled up, and the
    // rollup: imported over the first, the row here must not count beside its rollup.
    expect(await kg.maintainUsage()).toMatchObject({ rolledUp: 1 });
    await kg.close();
    await exportTo("tuesday.json");
    expect(await total(from)).toBe(8);
    expect(await total(to)).toBe(8);
  });
});

describe("keyguard import", () => {
  let db: CliDatabase;
  beforeEach(async () => {
    db = await sqliteBackend.create();
  });
  afterEach(async () => {
    await db.dispose();
  });
  const run = (args: string[]) =>
    keyguard(args, { cwd: db.cwd, env: { KEYGUARD_SECRET_KEY: SECRET } });
  const header = '{\n"format": "keyguard-export",\n"version": 1,\n';

  it("moves in keys stored as plain SHA-256 (Unkey: hex; better-auth: base64url) without reissuing them", async () => {
    const unkey = `uk_${randomUUID().replaceAll("-", "")}`;
    const betterAuth = `ba_${randomUUID()}`;
    const std = `other_${randomUUID()}`;
    const sha = (raw: string, encoding: "hex" | "base64url" | "base64") =>
      createHash("sha256").update(raw).digest(encoding);
    const org = randomUUID();
    const key = (raw: string, hash: string, scheme: string, extra = {}) =>
      JSON.stringify({
        id: randomUUID(),
        organization_id: org,
        label: raw.slice(0, 3),
        prefix: raw.slice(0, 8),
        key_hash: hash,
        hash_scheme: scheme,
        ...extra,
      });
    writeFileSync(
      join(db.cwd, "keys.json"),
      `${header}"organizations": [\n${JSON.stringify({ id: org, name: "Moved" })}\n],\n"api_keys": [\n${[
        key(unkey, sha(unkey, "hex").toUpperCase(), "sha256-hex", { rate_limit_per_minute: 7 }),
        key(betterAuth, sha(betterAuth, "base64url"), "sha256-base64url"),
        key(std, sha(std, "base64"), "sha256-base64url"),
      ].join(",\n")}\n]\n}\n`,
    );
    const dry = ok(await run(["import", "keys.json", "--dry-run"]));
    expect(dry.stdout).toMatch(/api keys\s+3 to add/);
    expect(dry.stdout).toContain("Nothing was written (--dry-run).");
    ok(await run(["import", "keys.json"]));
    const stats = JSON.parse(ok(await run(["stats", "--json"])).stdout);
    expect(stats.legacy_hash_keys).toBe(3);

    const kg = await db.openKeyGuard(SECRET);
    expect(await kg.verifyKey(unkey)).toMatchObject({
      outcome: "valid",
      key: { rateLimitPerMinute: 7 },
    });
    expect(await kg.verifyKey(betterAuth)).toMatchObject({ outcome: "valid" });
    expect(await kg.verifyKey(std)).toMatchObject({ outcome: "valid" });
    expect(await kg.verifyKey(`${unkey}x`)).toMatchObject({ outcome: "unknown" });
    await kg.close();
    expect(JSON.parse(ok(await run(["stats", "--json"])).stdout).legacy_hash_keys).toBe(0);
  });

  it("refuses malformed files in one line naming the line and field, writing nothing", async () => {
    const org = randomUUID();
    const good = {
      id: randomUUID(),
      organization_id: org,
      key_hash: "a".repeat(64),
      hash_scheme: "hmac-sha256",
    };
    const orgLine = JSON.stringify({ id: org, name: "Acme Corp" });
    const cases: [string, string][] = [
      ["", "keys.json line 1: not valid JSON (ValueExpected)"],
      [
        '{\n"format": "keyguard-export",\n"version": 1,\n"api_keys": [\n{"id": "x",}\n]}',
        "keys.json line 5: not valid JSON (PropertyNameExpected)",
      ],
      [
        '{"format": "keyguard-export",\n"version": 2}',
        "keys.json line 2: version must be 1 (this KeyGuard reads version 1)",
      ],
      [
        '{"format": "something-else", "version": 1}',
        'keys.json line 1: format must be "keyguard-export"',
      ],
      [
        `${header}"organizations": [\n${orgLine}\n],\n"api_keys": [\n${JSON.stringify(good)},\n${JSON.stringify({ ...good, id: "k2", key_hash: "xyz" })}\n]}`,
        "keys.json line 9: api_keys[1].key_hash must be 64 hex digits for hash_scheme hmac-sha256",
      ],
      [
        `${header}"api_keys": [\n${JSON.stringify({ ...good, hash_scheme: "md5" })}\n]}`,
        'keys.json line 5: api_keys[0].hash_scheme Invalid option: expected one of "hmac-sha256"|"imported-hmac-sha256"|"keyguard-python"|"sha256-hex"|"sha256-base64url"',
      ],
      [
        `${header}"api_keys": [\n${JSON.stringify({ ...good, colour: "red" })}\n]}`,
        "keys.json line 5: api_keys[0] has unknown field(s) colour",
      ],
      [
        `${header}"api_keys": [\n${JSON.stringify({ id: "k" })}\n]}`,
        "keys.json line 5: api_keys[0].organization_id is missing",
      ],
      [
        `${header}"api_keys": [\n${JSON.stringify({ ...good, rate_limit_per_minute: 0 })}\n]}`,
        "keys.json line 5: api_keys[0].rate_limit_per_minute must be greater than 0",
      ],
      [
        `${header}"organizations": [\n${JSON.stringify({ id: org, name: "A", created_at: "yesterday" })}\n]}`,
        "keys.json line 5: organizations[0].created_at must be an ISO 8601 date-time (2026-04-22T14:30:00Z)",
      ],
      // Valid in form, inconsistent in content: refused by the store before writing.
      [
        `${header}"api_keys": [\n${JSON.stringify(good)}\n]}`,
        `Key ${good.id} belongs to organization ${org}, which is neither in the import nor in the database.`,
      ],
    ];
    for (const [content, message] of cases) {
      writeFileSync(join(db.cwd, "keys.json"), content);
      const result = await run(["import", "keys.json"]);
      expect(result.code, content).toBe(1);
      expect(oneLine(result)).toBe(`keyguard: ${message}`);
    }
    const missing = await run(["import", "nope.json"]);
    expect([missing.code, oneLine(missing)]).toEqual([
      1,
      expect.stringMatching(/^keyguard: cannot read nope\.json: ENOENT/),
    ]);
    const stats = JSON.parse(ok(await run(["stats", "--json"])).stdout);
    expect(stats).toMatchObject({ organizations: 0, total_keys: 0 });
  });
});
