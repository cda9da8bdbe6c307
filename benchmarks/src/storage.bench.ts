import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyGuard, resolveConfig, type UsageEvent } from "@keyguard/core";
import { createKeyHasher, isWellFormedKey, timeOrderedId } from "@keyguard/core/internal";
import { MemoryLimiter } from "@keyguard/limiter-memory";
import { createKyselyStore, type KyselyStore } from "@keyguard/store-kysely";
import {
  dropSchema,
  postgresAvailable,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
} from "@keyguard/testkit";
import Database from "better-sqlite3";
import pg from "pg";
import { describeComparison, nsPerOp, sideBySide, summarize } from "./side-by-side.js";

const SECRET = "benchmark-secret-0123456789";
const KEYS = 2_000;
const BATCH = 500;

/** The row a cold verification needs: the key joined with its organization. */
const KEY_BY_HASH_SQL = `select api_keys.*, organizations.name as organization_name,
  organizations.status as organization_status
  from api_keys inner join organizations on organizations.id = api_keys.org_id
  where api_keys.key_hash = ?`;

async function seedKeys(kg: KeyGuard, count: number): Promise<string[]> {
  await kg.createOrganization("Bench Org");
  const raw: string[] = [];
  for (let i = 0; i < count; i++) {
    raw.push((await kg.createApiKey({ organization: "Bench Org", label: `k${i}` })).rawKey);
  }
  return raw;
}

/** Each key's newest use in a batch: what both raw baselines write to last_used_at. */
function latestUsePerKey(events: readonly UsageEvent[]): Map<string, Date> {
  const latest = new Map<string, Date>();
  for (const e of events) {
    const seen = latest.get(e.keyId);
    if (seen === undefined || seen < e.timestamp) latest.set(e.keyId, e.timestamp);
  }
  return latest;
}

/**
 * The columns both raw baselines write, and what makes a repeated batch harmless: KeyGuard
 * writes every row's request count and quota charge, and skips ids already stored.
 */
const USAGE_COLUMNS =
  "id, key_id, path, method, status_code, latency_ms, ip_address, timestamp, request_count, charged";
const USAGE_COLUMN_COUNT = 10;
const ON_CONFLICT = "on conflict (id) do nothing";

/** One usage_logs row's parameters, in column order, as both raw baselines bind them. */
function usageRowParams(e: UsageEvent, timestamp: string | Date, charged: unknown): unknown[] {
  return [
    timeOrderedId(e.timestamp.getTime()),
    e.keyId,
    e.path,
    e.method,
    e.statusCode,
    e.latencyMs,
    e.ipAddress,
    timestamp,
    e.requestCount ?? 1,
    charged,
  ];
}

function usageBatch(keyIds: string[]): UsageEvent[] {
  const now = Date.now();
  return Array.from({ length: BATCH }, (_, i) => ({
    keyId: keyIds[i % keyIds.length] as string,
    path: "/api/data",
    method: "GET",
    statusCode: i % 50 === 0 ? 429 : 200,
    latencyMs: 2,
    ipAddress: "203.0.113.9",
    timestamp: new Date(now + i),
  }));
}

export async function runStorageBenchmarks(): Promise<string[]> {
  const lines: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), "keyguard-bench-"));
  const file = join(dir, "bench.db");
  const store = await createKyselyStore({ url: `sqlite:${file}` });
  const config = (cacheEntries: number) =>
    resolveConfig({ secretKey: SECRET, cache: { maxEntries: cacheEntries } }, {});
  const kg = new KeyGuard({ config: config(10_000), store });
  await kg.init();
  const rawKeys = await seedKeys(kg, KEYS);
  const warmKey = rawKeys[0] as string;
  await kg.verifyKey(warmKey);

  // ---- warm verify ------------------------------------------------------------------
  const warm = await nsPerOp({ name: "warm verifyKey", fn: () => kg.verifyKey(warmKey) });
  const checksum = await nsPerOp({ name: "format+checksum", fn: () => isWellFormedKey(warmKey) });
  const hasher = createKeyHasher(SECRET);
  const hmac = await nsPerOp({ name: "HMAC-SHA256", fn: () => hasher(warmKey) });
  lines.push(
    "Warm verify (checksum + HMAC + cache hit), ns/op: " +
      `median ${warm.median.toFixed(0)} (min ${warm.min.toFixed(0)}, max ${warm.max.toFixed(0)})  goal: < 2000`,
    `  of which format+checksum ${checksum.median.toFixed(0)} ns, HMAC-SHA256 ${hmac.median.toFixed(0)} ns`,
  );

  // ---- the whole pipeline in process ----------------------------------------------------
  // What a protected request costs KeyGuard itself, without HTTP: client address, blocks,
  // verification, the key's limit (GCRA: constant state), headers and usage aggregation.
  // No goal of its own (the HTTP benchmarks hold those); it shows hot-path changes
  // without the HTTP benchmarks' noise.
  const guarded = new KeyGuard({
    config: resolveConfig({ secretKey: SECRET, ipBlockThreshold: Number.MAX_SAFE_INTEGER }, {}),
    store: await createKyselyStore({ url: `sqlite:${file}` }), // its own: close() closes it
    limiter: new MemoryLimiter(),
  });
  await guarded.init();
  const { rawKey: pipelineKey } = await guarded.createApiKey({
    organization: "Bench Org",
    label: "pipeline",
    rateLimitPerMinute: 1_000_000_000,
  });
  const guard = guarded.guard({ algorithm: "gcra" });
  const requestHeaders: Record<string, string> = { "x-api-key": pipelineKey };
  const pipeline = await nsPerOp({
    name: "guard.check + complete",
    fn: async () => {
      const result = await guard.check({
        method: "GET",
        path: "/api/data",
        remoteAddress: "127.0.0.1",
        header: (name) => requestHeaders[name],
      });
      if (!result.allowed) throw new Error(`pipeline refused: ${result.problem.code}`);
      guard.complete(result, 200);
    },
  });
  lines.push(
    "Protected request in process (guard.check + complete, memory limiter), ns/op: " +
      `median ${pipeline.median.toFixed(0)} (min ${pipeline.min.toFixed(0)}, max ${pipeline.max.toFixed(0)})`,
  );
  await guarded.close();

  // ---- cold verify on SQLite ----------------------------------------------------------
  // A one-entry cache cycled over 2,000 keys: every verification misses and queries.
  const cold = new KeyGuard({ config: config(1), store });
  const raw = new Database(file, { readonly: true });
  const statement = raw.prepare(KEY_BY_HASH_SQL);
  let i = 0;
  let j = 0;
  const coldResult = await sideBySide(
    {
      name: "raw HMAC + prepared better-sqlite3 lookup",
      fn: () => {
        const key = rawKeys[i++ % KEYS] as string;
        const row = statement.get(createHmac("sha256", SECRET).update(key).digest("hex"));
        if (row === undefined) throw new Error("missing row");
      },
    },
    {
      name: "KeyGuard cold verifyKey (SQLite)",
      fn: async () => {
        const result = await cold.verifyKey(rawKeys[j++ % KEYS] as string);
        if (result.outcome !== "valid") throw new Error(result.outcome);
      },
    },
  );
  lines.push(describeComparison(coldResult, "cost ratio <= 1.3"));
  raw.close();

  // ---- batched usage writes on SQLite ---------------------------------------------------
  const keyIds = (await kg.listApiKeys()).slice(0, 10).map((k) => k.id);
  const writer = new Database(file);
  writer.pragma("journal_mode = WAL");
  writer.pragma("synchronous = NORMAL");
  writer.pragma("busy_timeout = 5000");
  const row = `(${Array(USAGE_COLUMN_COUNT).fill("?").join(", ")})`;
  const placeholders = Array.from({ length: BATCH }, () => row).join(", ");
  const insert = writer.prepare(
    `insert into usage_logs (${USAGE_COLUMNS}) values ${placeholders} ${ON_CONFLICT}`,
  );
  const touch = writer.prepare(
    "update api_keys set last_used_at = ? where id = ? and (last_used_at is null or last_used_at < ?)",
  );
  const rawBatch = writer.transaction((events: UsageEvent[]) => {
    const params: unknown[] = [];
    for (const e of events) {
      params.push(...usageRowParams(e, e.timestamp.toISOString(), e.statusCode === 429 ? 0 : 1));
    }
    insert.run(params);
    for (const [id, at] of latestUsePerKey(events)) {
      touch.run(at.toISOString(), id, at.toISOString());
    }
  });
  const sqliteWrites = await sideBySide(
    {
      name: "raw better-sqlite3 multi-row insert",
      fn: () => rawBatch(usageBatch(keyIds)),
      unitsPerOp: BATCH,
    },
    {
      name: "KeyGuard store.insertUsageEvents (SQLite)",
      fn: () => store.insertUsageEvents(usageBatch(keyIds)),
      unitsPerOp: BATCH,
    },
  );
  lines.push(describeComparison(sqliteWrites, "throughput ratio >= 0.80"));
  writer.close();
  await kg.close();
  rmSync(dir, { recursive: true, force: true });

  // ---- batched usage writes on PostgreSQL ------------------------------------------------
  if (await postgresAvailable()) {
    lines.push(await postgresWrites());
  }
  return lines;
}

async function postgresWrites(): Promise<string> {
  const schema = uniqueSchemaName("bench");
  const store: KyselyStore = await createKyselyStore({ url: TEST_POSTGRES_URL, schema });
  const kg = new KeyGuard({ config: resolveConfig({ secretKey: SECRET }, {}), store });
  await kg.init();
  await seedKeys(kg, 10);
  const keyIds = (await kg.listApiKeys()).map((k) => k.id);
  const client = new pg.Client({
    connectionString: TEST_POSTGRES_URL,
    options: `-c search_path=${schema}`,
  });
  await client.connect();
  const placeholders = Array.from({ length: BATCH }, (_, row) => {
    const base = row * USAGE_COLUMN_COUNT;
    return `(${Array.from({ length: USAGE_COLUMN_COUNT }, (_, c) => `$${base + c + 1}`).join(", ")})`;
  }).join(", ");
  const insertSql = `insert into usage_logs (${USAGE_COLUMNS}) values ${placeholders} ${ON_CONFLICT}`;
  try {
    const result = await sideBySide(
      {
        name: "raw pg multi-row INSERT in a transaction",
        unitsPerOp: BATCH,
        fn: async () => {
          const events = usageBatch(keyIds);
          const params: unknown[] = [];
          for (const e of events) {
            params.push(...usageRowParams(e, e.timestamp, e.statusCode !== 429));
          }
          await client.query("begin");
          await client.query(insertSql, params);
          for (const [id, at] of latestUsePerKey(events)) {
            await client.query(
              "update api_keys set last_used_at = $1 where id = $2 and (last_used_at is null or last_used_at < $1)",
              [at, id],
            );
          }
          await client.query("commit");
        },
      },
      {
        name: "KeyGuard store.insertUsageEvents (PostgreSQL)",
        unitsPerOp: BATCH,
        fn: () => store.insertUsageEvents(usageBatch(keyIds)),
      },
      { rounds: 6, timeMs: 1000 },
    );
    return describeComparison(result, "throughput ratio >= 0.80");
  } finally {
    await client.end();
    await kg.close();
    await dropSchema(schema);
  }
}

export { summarize };
