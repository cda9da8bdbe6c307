import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard, type KeyGuard } from "@keyguard/express";
import { createKyselyStore, type KyselyStore } from "@keyguard/store-kysely";
import {
  dropSchema,
  postgresAvailable,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, type ExampleProcess, startExampleProcess } from "./example-process.js";
import { runKeyguardCli } from "./keyguard-cli-process.js";

const pg = await postgresAvailable();
const ORGS = 2_000;
const KEYS = 3_000;
const USAGE = 6_000;
const OLD_HOURS = 1_500; // more than copy-db's batch of 1,000 rows
const BLOCKS = 2_000;

/**
 * Moving up from the zero-infrastructure default: a SQLite keyguard.db with a few thousand
 * rows in every table, copied with `keyguard copy-db` to PostgreSQL; a server pointed at
 * PostgreSQL then accepts the same raw keys and keeps the same blocks.
 */
describe.runIf(pg)("keyguard copy-db from SQLite to PostgreSQL", () => {
  const cwd = mkdtempSync(join(tmpdir(), "keyguard-copy-db-"));
  const sqliteUrl = `sqlite:${join(cwd, "keyguard.db")}`;
  const schema = uniqueSchemaName("copied");
  const postgresUrl = `${TEST_POSTGRES_URL}?options=-c%20search_path%3D${schema}`;
  let source: KeyGuard;
  const rawKeys: { raw: string; revoked: boolean }[] = [];
  let server: ExampleProcess | undefined;

  beforeAll(async () => {
    await withPostgresClient((client) => client.query(`create schema ${schema}`));
    source = await createKeyGuard({ secretKey: EXAMPLE_SECRET, databaseUrl: sqliteUrl });
    const store = source.store as KyselyStore;
    const orgIds = Array.from({ length: ORGS }, () => randomUUID());
    const now = Date.now();
    await store.importRecords({
      organizations: orgIds.map((id, i) => ({
        id,
        name: `org-${i}`,
        status: i % 10 === 9 ? "suspended" : "active",
        createdAt: new Date(now - i * 1000),
      })),
      apiKeys: Array.from({ length: KEYS - 3 }, (_, i) => ({
        ...((id) => ({ id, quotaId: id, replacedBy: null }))(randomUUID()),
        orgId: orgIds[i % ORGS] as string,
        label: `bulk-${i}`,
        prefix: `kg_live_${randomBytes(3).toString("base64url")}`,
        keyHash: randomBytes(32).toString("hex"),
        hashScheme: i % 7 === 0 ? ("keyguard-python" as const) : undefined,
        isActive: i % 5 !== 0,
        scopes: i % 2 === 0 ? ["read"] : ["read", "write"],
        rateLimitPerMinute: 10 + (i % 50),
        monthlyLimit: i % 3 === 0 ? 1_000_000 : null,
        createdAt: new Date(now - i * 1000),
        expiresAt: i % 11 === 0 ? new Date(now + 86_400_000) : null,
        lastUsedAt: null,
      })),
      usage: [],
    });
    await source.createOrganization("Acme Corp");
    for (const [label, revoked] of [
      ["a", false],
      ["b", false],
      ["r", true],
    ] as const) {
      const created = await source.createApiKey({
        organization: "Acme Corp",
        label,
        rateLimitPerMinute: 5,
      });
      if (revoked) await source.revokeApiKey(created.key.id);
      rawKeys.push({ raw: created.rawKey, revoked });
    }
    const keyId = (await source.listApiKeys({ organization: "Acme Corp" }))[0]?.id as string;
    await store.insertUsageEvents(
      Array.from({ length: USAGE }, (_, i) => ({
        keyId,
        path: "/api/data",
        method: "GET",
        statusCode: i % 13 === 0 ? 429 : 200,
        latencyMs: i % 17,
        ipAddress: "203.0.113.7",
        timestamp: new Date(now - i * 10_000),
        requestCount: 1 + (i % 3),
      })),
    );
    // Older usage, one request an hour from two days back: rolled up into more rollup rows
    // than one copy batch holds, so the rollups' composite key is paged through.
    await store.insertUsageEvents(
      Array.from({ length: OLD_HOURS }, (_, i) => ({
        keyId,
        path: "/api/data",
        method: "GET",
        statusCode: i % 2 === 0 ? 200 : 429,
        latencyMs: 1,
        ipAddress: "203.0.113.8",
        timestamp: new Date(now - (48 + i) * 3_600_000),
      })),
    );
    const maintained = await source.maintainUsage();
    expect(maintained.rolledUp).toBe(OLD_HOURS);
    for (let i = 0; i < BLOCKS - 1; i++) {
      await source.blockIp(`10.${(i >> 8) & 255}.${i & 255}.1`, {
        duration: "1 day",
        reason: `bulk ${i}`,
      });
    }
    // The test's own client, blocked on one path: the copy must keep it in force.
    await source.blockIp("127.0.0.1", { duration: "1 day", scope: "path", path: "/api/withdraw" });
    await source.close();
  }, 120_000);

  afterAll(async () => {
    if (server !== undefined) {
      server.child.kill("SIGTERM");
      await server.exited;
    }
    await dropSchema(schema);
    rmSync(cwd, { recursive: true, force: true });
  });

  /** Every row of KeyGuard's tables, normalised (dates as ms, booleans, JSON), ordered by id. */
  async function contents(url: string) {
    const store = await createKyselyStore({ url });
    try {
      const out: Record<string, unknown[]> = {};
      for (const table of [
        "organizations",
        "api_keys",
        "usage_logs",
        "usage_rollups",
        "ip_blocks",
        "secret_fingerprints",
        "audit_events",
      ] as const) {
        const order =
          table === "usage_rollups"
            ? (["key_id", "hour", "status_class"] as const)
            : table === "secret_fingerprints"
              ? (["fingerprint"] as const)
              : (["id"] as const);
        let query = store.db.selectFrom(table).selectAll();
        for (const column of order) query = query.orderBy(column as never);
        const rows = (await query.execute()) as Record<string, unknown>[];
        out[table] = rows.map((row) =>
          Object.fromEntries(
            Object.entries(row).map(([column, value]) => [column, normalise(column, value)]),
          ),
        );
      }
      return out;
    } finally {
      await store.close();
    }
  }

  it("copies every row of every table, verifies the counts, and a server on PostgreSQL accepts the same keys", async () => {
    const copied = await runKeyguardCli(
      ["copy-db", "--from", sqliteUrl, "--to", postgresUrl, "--json"],
      {},
      cwd,
    );
    expect(copied.stderr).toBe("");
    expect(copied.code).toBe(0);
    const summary = JSON.parse(copied.stdout) as {
      tables: { table: string; source_rows: number; copied: number; target_rows: number }[];
    };
    expect(summary.tables).toEqual([
      {
        table: "organizations",
        source_rows: ORGS + 1,
        copied: ORGS + 1,
        already_present: 0,
        target_rows: ORGS + 1,
      },
      { table: "api_keys", source_rows: KEYS, copied: KEYS, already_present: 0, target_rows: KEYS },
      {
        table: "usage_logs",
        source_rows: USAGE + OLD_HOURS,
        copied: USAGE + OLD_HOURS,
        already_present: 0,
        target_rows: USAGE + OLD_HOURS,
      },
      {
        table: "usage_rollups",
        source_rows: OLD_HOURS,
        copied: OLD_HOURS,
        already_present: 0,
        target_rows: OLD_HOURS,
      },
      {
        table: "ip_blocks",
        source_rows: BLOCKS,
        copied: BLOCKS,
        already_present: 0,
        target_rows: BLOCKS,
      },
      // The secret's fingerprint, so servers on the target refuse any other secret too.
      {
        table: "secret_fingerprints",
        source_rows: 1,
        copied: 1,
        already_present: 0,
        target_rows: 1,
      },
      // The audit log: the organization, three keys, a revocation and the blocks made here
      // (imported rows have no events).
      {
        table: "audit_events",
        source_rows: 5 + BLOCKS,
        copied: 5 + BLOCKS,
        already_present: 0,
        target_rows: 5 + BLOCKS,
      },
      // No webhook endpoints were registered here, so none of their tables has rows.
      ...["webhook_endpoints", "webhook_deliveries", "webhook_attempts", "webhook_notices"].map(
        (table) => ({ table, source_rows: 0, copied: 0, already_present: 0, target_rows: 0 }),
      ),
      { table: "ip_rules", source_rows: 0, copied: 0, already_present: 0, target_rows: 0 },
      { table: "credit_spending", source_rows: 0, copied: 0, already_present: 0, target_rows: 0 },
    ]);
    // Not just the counts: every value, row by row.
    expect(await contents(postgresUrl)).toEqual(await contents(sqliteUrl));

    // The same statistics from either database.
    const stats = async (url: string) =>
      JSON.parse(
        (await runKeyguardCli(["stats", "--json"], { KEYGUARD_DATABASE_URL: url }, cwd)).stdout,
      );
    expect(await stats(postgresUrl)).toEqual(await stats(sqliteUrl));

    server = await startExampleProcess("express", { KEYGUARD_DATABASE_URL: postgresUrl });
    for (const { raw, revoked } of rawKeys) {
      const response = await fetch(`${server.url}/api/data`, { headers: { "x-api-key": raw } });
      expect(response.status).toBe(revoked ? 401 : 200);
      if (!revoked) expect(response.headers.get("x-ratelimit-limit")).toBe("5");
    }
    // The path block came along: this client is still locked out of /api/withdraw.
    const blocked = await fetch(`${server.url}/api/withdraw`, {
      method: "POST",
      headers: { "x-api-key": rawKeys[0]?.raw as string },
    });
    expect(blocked.status).toBe(403);
    expect(((await blocked.json()) as { code: string }).code).toBe("ip_blocked");

    // A second copy into the now filled database is refused, in one line, without writing.
    const again = await runKeyguardCli(
      ["copy-db", "--from", sqliteUrl, "--to", postgresUrl],
      {},
      cwd,
    );
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split("\n")).toHaveLength(1);
    expect(again.stderr).toMatch(
      /^keyguard: The target already holds KeyGuard data \(organizations: 2,001, |^keyguard: The target already holds KeyGuard data \(organizations: 2001, /,
    );
  }, 120_000);
});

function normalise(column: string, value: unknown): unknown {
  if (value === null) return null;
  if (value instanceof Date) return value.getTime();
  if (/_at$|^until$|^timestamp$|^hour$|^since$|^at$/.test(column) && typeof value === "string")
    return new Date(value).getTime();
  if (/^(is_active|charged|rolled_up|automatic)$/.test(column))
    return value === true || value === 1;
  if (column === "scopes" || column === "changes") {
    return typeof value === "string" ? JSON.parse(value) : value;
  }
  // PostgreSQL hands bigint columns back as strings.
  if (/^(monthly_limit|request_count|charged_count)$/.test(column)) return Number(value);
  return value;
}
