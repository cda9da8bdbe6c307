import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard, type KeyGuard, verifyWebhookSignature } from "@keyguard/express";
import { createKyselyStore, KEYGUARD_TABLES, type KyselyStore } from "@keyguard/store-kysely";
import {
  dropSchema,
  eventually,
  postgresAvailable,
  startWebhookReceiver,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  type WebhookReceiver,
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
const IP_RULES = 2_000;
/** Bulk keys with credits, and the balance periods each of them spent credits in. */
const CREDIT_KEYS = 1_000;
const SPENT_PERIODS = 2;
const ENDPOINTS = 2_000;
const DELIVERIES = 3_000;
const ATTEMPTS = 3_000;
const NOTICES = 2_000;

/** Fast webhook polling, so the copied outbox is delivered soon after the server starts. */
const FAST_WEBHOOKS = {
  KEYGUARD_WEBHOOKS_POLL_INTERVAL_MS: "50",
  KEYGUARD_WEBHOOKS_INITIAL_BACKOFF_MS: "50",
  KEYGUARD_WEBHOOKS_TIMEOUT_MS: "3000",
};

/** A key made through the API, with what a server must answer for it after the copy. */
interface NamedKey {
  readonly raw: string;
  readonly label: string;
}

/**
 * Moving up from the zero-infrastructure default: a SQLite keyguard.db with a few thousand
 * rows in every table KeyGuard has (organizations and keys with windows, concurrency caps,
 * allowed addresses and credits, usage and its rollups, blocks, IP rules, credits spent,
 * the audit log, webhook endpoints with their outbox, attempts and notices), copied with
 * `keyguard copy-db` to PostgreSQL and from there back to SQLite; every row of every table
 * arrives unchanged, and a server pointed at the copy accepts the same raw keys with the
 * same limits and credits, keeps the same blocks and delivers the copied outbox.
 */
describe.runIf(pg)("keyguard copy-db from SQLite to PostgreSQL and back", () => {
  const cwd = mkdtempSync(join(tmpdir(), "keyguard-copy-db-"));
  const sqliteUrl = `sqlite:${join(cwd, "keyguard.db")}`;
  const backUrl = `sqlite:${join(cwd, "back.db")}`;
  const schema = uniqueSchemaName("copied");
  const postgresUrl = `${TEST_POSTGRES_URL}?options=-c%20search_path%3D${schema}`;
  let source: KeyGuard;
  let receiver: WebhookReceiver;
  let webhookSecret: string;
  const keys: Record<string, NamedKey> = {};
  const servers: ExampleProcess[] = [];

  beforeAll(async () => {
    await withPostgresClient((client) => client.query(`create schema ${schema}`));
    receiver = await startWebhookReceiver();
    source = await createKeyGuard({ secretKey: EXAMPLE_SECRET, databaseUrl: sqliteUrl });
    const store = source.store as KyselyStore;
    // The one real endpoint: the organizations made below leave deliveries to it pending,
    // which a server on the copy must deliver, signed with this endpoint's secret.
    const endpoint = await source.webhooks.create({
      url: receiver.url,
      events: ["organization.created"],
    });
    webhookSecret = endpoint.secret;

    const orgIds = Array.from({ length: ORGS }, () => randomUUID());
    const keyIds = Array.from({ length: KEYS - 8 }, () => randomUUID());
    const now = Date.now();
    await store.importRecords({
      organizations: orgIds.map((id, i) => ({
        id,
        name: `org-${i}`,
        status: i % 10 === 9 ? "suspended" : "active",
        createdAt: new Date(now - i * 1000),
        ...(i % 3 === 0
          ? { limits: [{ name: "hour", limit: 1_000 + i, windowSeconds: 3_600 }] }
          : {}),
        concurrency:
          i % 4 === 0 ? { limit: 20 + (i % 30), mode: i % 8 === 0 ? "shadow" : "enforce" } : null,
      })),
      apiKeys: keyIds.map((id, i) => ({
        id,
        quotaId: id,
        replacedBy: null,
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
        ...(i % 2 === 0
          ? {
              limits: [
                { name: "burst", limit: 3 + (i % 5), windowSeconds: 1, algorithm: "gcra" as const },
                { name: "day", limit: 10_000, windowSeconds: 86_400, mode: "shadow" as const },
              ],
            }
          : {}),
        concurrency: i % 3 === 0 ? { limit: 1 + (i % 9) } : null,
        ...(i % 4 === 0 ? { allowedIps: ["198.51.100.0/24", "2001:db8::/32"] } : {}),
        credits:
          i < CREDIT_KEYS
            ? {
                granted: 1_000 + i,
                epoch: new Date(now - 40 * 86_400_000),
                refill: i % 2 === 0 ? { amount: 500, interval: "monthly" as const } : null,
              }
            : null,
      })),
      usage: [],
      creditSpending: keyIds.slice(0, CREDIT_KEYS).flatMap((quotaId, i) =>
        Array.from({ length: SPENT_PERIODS }, (_, p) => ({
          quotaId,
          periodStart: new Date(Date.UTC(2026, p, 1)),
          spent: i + p,
        })),
      ),
      ipRules: Array.from({ length: IP_RULES }, (_, i) => ({
        id: randomUUID(),
        // Ranges far from the test's own client (127.0.0.1), which must stay let through.
        cidr: `172.${16 + ((i >> 8) & 15)}.${i & 255}.0/24`,
        action: i % 3 === 0 ? ("allow" as const) : ("deny" as const),
        reason: i % 2 === 0 ? `rule ${i}` : null,
        createdAt: new Date(now - i * 1000),
      })),
    });

    // The keys a client holds, made the way an operator makes them.
    await source.createOrganization("Acme Corp");
    await source.setOrganizationLimits("Acme Corp", [
      { name: "hour", limit: 1_000, windowSeconds: 3_600 },
    ]);
    const make = async (label: string, input: Record<string, unknown> = {}) => {
      const created = await source.createApiKey({
        organization: "Acme Corp",
        label,
        rateLimitPerMinute: 5,
        ...input,
      });
      keys[label] = { raw: created.rawKey, label };
      return created.key;
    };
    const plain = await make("plain");
    await source.revokeApiKey((await make("revoked")).id);
    await make("burst", {
      rateLimitPerMinute: 50,
      limits: [{ name: "burst", limit: 2, windowSeconds: 60 }],
    });
    await make("capped", { concurrency: { limit: 3 } });
    await make("here", { allowedIps: ["127.0.0.1"] });
    await make("elsewhere", { allowedIps: ["198.51.100.0/24"] });
    const prepaid = await make("prepaid", { rateLimitPerMinute: 50, credits: { remaining: 10 } });
    await source.createOrganization("Frozen Ltd");
    keys.frozen = {
      raw: (await source.createApiKey({ organization: "Frozen Ltd", label: "frozen" })).rawKey,
      label: "frozen",
    };
    await source.suspendOrganization("Frozen Ltd");

    // Four credits already spent: the copy must not give them back.
    const periodStart = (await source.creditBalance(await source.getApiKey(prepaid.id)))
      ?.periodStart as Date;
    await store.insertUsageEvents([
      {
        keyId: prepaid.id,
        path: "/api/data",
        method: "GET",
        statusCode: 200,
        latencyMs: 2,
        ipAddress: "127.0.0.1",
        timestamp: new Date(now - 60_000),
        requestCount: 4,
        credits: 4,
        creditsPeriodStart: periodStart.getTime(),
      },
    ]);
    await store.insertUsageEvents(
      Array.from({ length: USAGE }, (_, i) => ({
        keyId: plain.id,
        path: "/api/data",
        method: "GET",
        statusCode: i % 13 === 0 ? 429 : 200,
        latencyMs: i % 17,
        ipAddress: "203.0.113.7",
        // All more than an hour old (and far from that boundary), so "requests in the
        // last hour" stays the same while the stats are read from each database.
        timestamp: new Date(now - 2 * 3_600_000 - i * 10_000),
        requestCount: 1 + (i % 3),
      })),
    );
    // Older usage, one request an hour from two days back: rolled up into more rollup rows
    // than one copy batch holds, so the rollups' composite key is paged through.
    await store.insertUsageEvents(
      Array.from({ length: OLD_HOURS }, (_, i) => ({
        keyId: plain.id,
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

    // Webhook history in bulk, as servers leave it: endpoints (sealed with the same secret
    // as the real one), finished deliveries with their attempts, notices already raised.
    const real = (await store.db
      .selectFrom("webhook_endpoints")
      .selectAll()
      .executeTakeFirstOrThrow()) as Record<string, unknown>;
    const iso = (ms: number) => new Date(ms).toISOString();
    const endpointIds = Array.from({ length: ENDPOINTS }, () => randomUUID());
    const deliveryIds = Array.from({ length: DELIVERIES }, () => randomUUID());
    const inChunks = async (table: string, rows: Record<string, unknown>[]) => {
      for (let start = 0; start < rows.length; start += 500) {
        await store.db
          .insertInto(table as never)
          .values(rows.slice(start, start + 500) as never)
          .execute();
      }
    };
    await inChunks(
      "webhook_endpoints",
      endpointIds.map((id, i) => ({
        id,
        // Nothing listens there, and the event is one this test never causes.
        url: `http://127.0.0.1:9/hooks/${i}`,
        events: JSON.stringify(["organization.deleted"]),
        sealed_secret: real.sealed_secret,
        created_at: iso(now - 30 * 86_400_000 + i * 1000),
      })),
    );
    await inChunks(
      "webhook_deliveries",
      deliveryIds.map((id, i) => ({
        id,
        endpoint_id: endpointIds[i % ENDPOINTS],
        event_id: randomUUID(),
        event_type: "organization.deleted",
        body: JSON.stringify({ n: i }),
        status: i % 4 === 0 ? "failed" : "delivered",
        attempts: 1 + (i % 3),
        created_at: iso(now - 3_600_000 + i),
        next_attempt_at: null,
        lease_owner: null,
        lease_until: null,
        delivered_at: i % 4 === 0 ? null : iso(now - 3_000_000 + i),
        finished_at: iso(now - 3_000_000 + i),
      })),
    );
    await inChunks(
      "webhook_attempts",
      Array.from({ length: ATTEMPTS }, (_, i) => ({
        id: randomUUID(),
        delivery_id: deliveryIds[i % DELIVERIES],
        attempt: 1,
        started_at: iso(now - 3_100_000 + i),
        duration_ms: i % 500,
        status_code: i % 4 === 0 ? null : 200,
        error: i % 4 === 0 ? "connect ECONNREFUSED 127.0.0.1:9" : null,
      })),
    );
    await inChunks(
      "webhook_notices",
      keyIds.slice(0, NOTICES).map((subjectId, i) => ({
        kind: i % 2 === 0 ? "key.expiring" : "quota.exceeded",
        subject_id: subjectId,
        period: iso(Date.UTC(2026, i % 12, 1)),
        created_at: iso(now - i * 1000),
      })),
    );
    await source.close();
  }, 180_000);

  afterAll(async () => {
    for (const server of servers) server.child.kill("SIGTERM");
    await Promise.all(servers.map((server) => server.exited));
    await receiver?.close();
    await dropSchema(schema);
    rmSync(cwd, { recursive: true, force: true });
  });

  /** Each column's PostgreSQL type (`timestamptz`, `bool`, `jsonb`, `int8`, ...), per table. */
  async function postgresTypes(): Promise<Map<string, Map<string, string>>> {
    const { rows } = await withPostgresClient((client) =>
      client.query<{ table_name: string; column_name: string; udt_name: string }>(
        "select table_name, column_name, udt_name from information_schema.columns where table_schema = $1",
        [schema],
      ),
    );
    const types = new Map<string, Map<string, string>>();
    for (const row of rows) {
      const table = types.get(row.table_name) ?? new Map<string, string>();
      table.set(row.column_name, row.udt_name);
      types.set(row.table_name, table);
    }
    return types;
  }

  /**
   * Every row of every table copy-db knows, ordered by its key, each value normalised by
   * the PostgreSQL column's type (dates as ms, booleans, JSON parsed, bigints as numbers),
   * so SQLite's and PostgreSQL's spellings of one value compare equal.
   */
  async function contents(url: string, types: Map<string, Map<string, string>>) {
    const store = await createKyselyStore({ url });
    try {
      const out: Record<string, unknown[]> = {};
      for (const table of KEYGUARD_TABLES) {
        let query = store.db.selectFrom(table.name as never).selectAll();
        for (const column of table.key) query = query.orderBy(column as never);
        const rows = (await query.execute()) as Record<string, unknown>[];
        const columns = types.get(table.name) as Map<string, string>;
        out[table.name] = rows.map((row) =>
          Object.fromEntries(
            Object.entries(row).map(([column, value]) => [
              column,
              normalise(value, columns.get(column)),
            ]),
          ),
        );
      }
      return out;
    } finally {
      await store.close();
    }
  }

  const copy = async (from: string, to: string) => {
    const copied = await runKeyguardCli(["copy-db", "--from", from, "--to", to, "--json"], {}, cwd);
    expect(copied.stderr).toBe("");
    expect(copied.code).toBe(0);
    return (
      JSON.parse(copied.stdout) as {
        tables: { table: string; source_rows: number; copied: number; target_rows: number }[];
      }
    ).tables;
  };

  it("copies every row of every table, and back, and servers on the copies accept the same keys with the same limits", async () => {
    const tables = await copy(sqliteUrl, postgresUrl);

    // copy-db's tables are exactly the tables a migrated database has: a table added to
    // the schema but not to copy-db would be missing here (and copy-db refuses to run).
    const { rows: postgresTables } = await withPostgresClient((client) =>
      client.query<{ name: string }>(
        `select table_name as name from information_schema.tables
         where table_schema = $1 and table_type = 'BASE TABLE'
           and table_name not in ('keyguard_migration', 'keyguard_migration_lock')`,
        [schema],
      ),
    );
    const sqlite = await createKyselyStore({ url: sqliteUrl });
    const sqliteTables = (await sqlite.db.introspection.getTables()).filter(
      (t) =>
        !["keyguard_migration", "keyguard_migration_lock", "keyguard_changes"].includes(t.name),
    );
    const sourceCounts: Record<string, number> = {};
    for (const t of tables) {
      const counted = await sqlite.db
        .selectFrom(t.table as never)
        .select((eb) => eb.fn.countAll().as("n"))
        .executeTakeFirstOrThrow();
      sourceCounts[t.table] = Number((counted as { n: number }).n);
    }
    await sqlite.close();
    const copiedNames = tables.map((t) => t.table).sort();
    expect(copiedNames).toEqual(postgresTables.map((t) => t.name).sort());
    expect(copiedNames).toEqual(sqliteTables.map((t) => t.name).sort());

    // A few thousand rows in every table (the one secret has one fingerprint), every one
    // copied, and the counts checked per table.
    for (const t of tables) {
      expect(t, t.table).toEqual({
        table: t.table,
        source_rows: sourceCounts[t.table],
        copied: sourceCounts[t.table],
        already_present: 0,
        target_rows: sourceCounts[t.table],
      });
      if (t.table === "secret_fingerprints") expect(t.source_rows).toBe(1);
      else expect(t.source_rows, t.table).toBeGreaterThanOrEqual(1_500);
    }
    expect(sourceCounts).toMatchObject({
      organizations: ORGS + 2,
      api_keys: KEYS,
      usage_logs: USAGE + OLD_HOURS + 1,
      usage_rollups: OLD_HOURS,
      ip_blocks: BLOCKS,
      webhook_endpoints: ENDPOINTS + 1,
      // The real endpoint's two pending deliveries (Acme Corp and Frozen Ltd created).
      webhook_deliveries: DELIVERIES + 2,
      webhook_attempts: ATTEMPTS,
      webhook_notices: NOTICES,
      ip_rules: IP_RULES,
      credit_spending: CREDIT_KEYS * SPENT_PERIODS + 1,
    });

    // Not just the counts: every value, row by row, there and back.
    const types = await postgresTypes();
    const original = await contents(sqliteUrl, types);
    expect(await contents(postgresUrl, types)).toEqual(original);
    const back = await copy(postgresUrl, backUrl);
    expect(back.map((t) => [t.table, t.copied])).toEqual(tables.map((t) => [t.table, t.copied]));
    expect(await contents(backUrl, types)).toEqual(original);

    // The same statistics from every database.
    const stats = async (url: string) =>
      JSON.parse(
        (await runKeyguardCli(["stats", "--json"], { KEYGUARD_DATABASE_URL: url }, cwd)).stdout,
      );
    const sourceStats = await stats(sqliteUrl);
    expect(await stats(postgresUrl)).toEqual(sourceStats);
    expect(await stats(backUrl)).toEqual(sourceStats);

    const server = await startExampleProcess("express", {
      ...FAST_WEBHOOKS,
      KEYGUARD_DATABASE_URL: postgresUrl,
    });
    servers.push(server);
    await expectSameKeys(server);
    // The outbox came along: the deliveries still pending in SQLite are delivered from
    // PostgreSQL, signed with the endpoint's secret (sealed under the server secret).
    await eventually(() => expect(receiver.received).toHaveLength(2), 20_000);
    const delivered = receiver.received.map((request) =>
      verifyWebhookSignature(
        request.body,
        request.headers["keyguard-signature"] as string,
        webhookSecret,
      ),
    );
    expect(delivered.map((event) => event.type)).toEqual([
      "organization.created",
      "organization.created",
    ]);

    // The copy back to SQLite serves the same keys too.
    const backServer = await startExampleProcess("express", { KEYGUARD_DATABASE_URL: backUrl });
    servers.push(backServer);
    await expectSameKeys(backServer);

    // A second copy into the now filled database is refused, in one line, without writing.
    const again = await runKeyguardCli(
      ["copy-db", "--from", sqliteUrl, "--to", postgresUrl],
      {},
      cwd,
    );
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split("\n")).toHaveLength(1);
    expect(again.stderr).toMatch(
      /^keyguard: The target already holds KeyGuard data \(organizations: 2,002, |^keyguard: The target already holds KeyGuard data \(organizations: 2002, /,
    );
  }, 180_000);

  /** What a client holding the named keys sees from `server` (a fresh process on a copy). */
  async function expectSameKeys(server: ExampleProcess) {
    const get = (label: string, path = "/api/data") =>
      fetch(`${server.url}${path}`, { headers: { "x-api-key": (keys[label] as NamedKey).raw } });
    const codeOf = async (response: Response) => ((await response.json()) as { code: string }).code;

    const plain = await get("plain");
    expect(plain.status).toBe(200);
    expect(plain.headers.get("x-ratelimit-limit")).toBe("5");
    // The organization's window travels with the organization.
    expect(plain.headers.get("ratelimit-policy")).toContain('"org.hour";q=1000;w=3600');

    const revoked = await get("revoked");
    expect([revoked.status, await codeOf(revoked)]).toEqual([401, "revoked_api_key"]);
    const frozen = await get("frozen");
    expect([frozen.status, await codeOf(frozen)]).toEqual([403, "organization_suspended"]);

    // The key's named window: two requests a minute, the third refused.
    const burst = [await get("burst"), await get("burst"), await get("burst")];
    expect(burst.map((response) => response.status)).toEqual([200, 200, 429]);
    expect(burst[0]?.headers.get("ratelimit-policy")).toContain('"burst";q=2;w=60');
    expect(await codeOf(burst[2] as Response)).toBe("rate_limited");

    const capped = await get("capped");
    expect(capped.status).toBe(200);
    expect(capped.headers.get("ratelimit-policy")).toContain(
      '"concurrency";q=3;qu="concurrent-requests"',
    );

    // Allowed addresses: this client (127.0.0.1) is one key's, not the other's.
    expect((await get("here")).status).toBe(200);
    const elsewhere = await get("elsewhere");
    expect([elsewhere.status, await codeOf(elsewhere)]).toEqual([403, "ip_not_allowed"]);

    // Credits: 10 granted, 4 spent before the copy. Each server process starts from the
    // stored spending, so the first request leaves 5.
    const prepaid = await get("prepaid");
    expect(prepaid.status).toBe(200);
    expect(prepaid.headers.get("ratelimit-policy")).toContain('"credits";q=10');
    expect(prepaid.headers.get("ratelimit")).toContain('"credits";r=5');

    // The path block came along: this client is still locked out of /api/withdraw.
    const blocked = await fetch(`${server.url}/api/withdraw`, {
      method: "POST",
      headers: { "x-api-key": (keys.plain as NamedKey).raw },
    });
    expect([blocked.status, await codeOf(blocked)]).toEqual([403, "ip_blocked"]);
  }
});

/** One value as the PostgreSQL column of type `type` holds it, whichever database it came from. */
function normalise(value: unknown, type: string | undefined): unknown {
  if (value === null) return null;
  switch (type) {
    case "timestamptz":
    case "timestamp":
      return value instanceof Date ? value.getTime() : new Date(String(value)).getTime();
    case "bool":
      return value === true || value === 1;
    case "json":
    case "jsonb":
      return typeof value === "string" ? JSON.parse(value) : value;
    case "int8":
      // PostgreSQL hands bigint columns back as strings.
      return Number(value);
    default:
      return value;
  }
}
