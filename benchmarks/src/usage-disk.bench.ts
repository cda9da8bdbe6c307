import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyGuard, resolveConfig } from "@keyguard/core";
import { createKyselyStore } from "@keyguard/store-kysely";
import Database from "better-sqlite3";

const SECRET = "benchmark-secret-0123456789";
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** `BENCH_DISK_REQUESTS` overrides how many requests each round writes. */
const REQUESTS = Number(process.env.BENCH_DISK_REQUESTS ?? 1_000_000);
const KEYS = 10;
const PATHS = ["/api/data", "/api/profile", "/api/items/:id", "/api/orders"];

/** The file's bytes on disk (the database and its WAL, checkpointed first), and its rows. */
function fileBytes(file: string): { file: number; live: number; rows: number; rollups: number } {
  const db = new Database(file);
  try {
    db.pragma("wal_checkpoint(TRUNCATE)");
    const count = (table: string) =>
      Number((db.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n);
    const pageSize = Number(db.pragma("page_size", { simple: true }));
    const pages = Number(db.pragma("page_count", { simple: true }));
    const free = Number(db.pragma("freelist_count", { simple: true }));
    let wal = 0;
    try {
      wal = statSync(`${file}-wal`).size;
    } catch {}
    return {
      file: statSync(file).size + wal,
      live: (pages - free) * pageSize,
      rows: count("usage_logs"),
      rollups: count("usage_rollups"),
    };
  } finally {
    db.close();
  }
}

const mb = (bytes: number) =>
  Math.abs(bytes) >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
const perMillion = (bytes: number) => (bytes / REQUESTS) * 1_000_000;

/**
 * What usage costs on disk when every request comes from a new client address (so no two
 * requests fold into one row): a soak of `REQUESTS` requests through the real recorder into
 * a SQLite file, its growth per million requests as raw rows, then after the background
 * job rolled them up (per key, hour and status class) and deleted the rows past
 * retention, and the growth of a second soak into the same file (which reuses the pages
 * the first one freed).
 */
export async function runUsageDiskBenchmarks(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "keyguard-disk-bench-"));
  const file = join(dir, "usage.db");
  let now = Date.UTC(2026, 2, 10, 12, 0, 0);
  const clock = { now: () => now };
  const kg = new KeyGuard({
    config: resolveConfig(
      { secretKey: SECRET, usage: { retentionDays: 1, rollupAfterHours: 24 } },
      {},
    ),
    store: await createKyselyStore({ url: `sqlite:${file}` }),
    clock,
  });
  try {
    await kg.init();
    await kg.createOrganization("Bench Org");
    const keys: string[] = [];
    for (let i = 0; i < KEYS; i++) {
      keys.push((await kg.createApiKey({ organization: "Bench Org", label: `k${i}` })).key.id);
    }
    const soak = async (round: number) => {
      // One hour of traffic, every request from an address not seen before.
      const start = now - HOUR_MS;
      for (let i = 0; i < REQUESTS; i++) {
        const n = round * REQUESTS + i;
        kg.recordUsage({
          keyId: keys[i % KEYS] as string,
          path: PATHS[i % PATHS.length] as string,
          method: "GET",
          statusCode: i % 97 === 0 ? 429 : i % 31 === 0 ? 404 : 200,
          latencyMs: 1 + (i % 7),
          ipAddress: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
          timestamp: new Date(start + Math.floor((i * HOUR_MS) / REQUESTS)),
          charged: i % 97 !== 0,
        });
        if (i % 50_000 === 49_999) await kg.flushUsage();
      }
      await kg.flushUsage();
    };
    const empty = fileBytes(file);
    const started = performance.now();
    await soak(0);
    const soakMs = performance.now() - started;
    const raw = fileBytes(file);
    const statsBefore = await kg.stats();

    now += 2 * DAY_MS; // past rollupAfterHours and retentionDays
    const maintained = performance.now();
    const done = await kg.maintainUsage();
    const maintainMs = performance.now() - maintained;
    const rolled = fileBytes(file);
    const statsAfter = await kg.stats();
    if (statsAfter.totalRequests !== statsBefore.totalRequests) {
      throw new Error(
        `rollup changed the totals: ${statsBefore.totalRequests} -> ${statsAfter.totalRequests}`,
      );
    }

    await soak(1);
    const second = fileBytes(file);
    now += 2 * DAY_MS;
    await kg.maintainUsage();
    const secondRolled = fileBytes(file);

    return [
      `Usage on disk, SQLite, ${REQUESTS.toLocaleString("en-US")} requests per soak from distinct client addresses (${KEYS} keys, one hour):`,
      `  empty schema: file ${mb(empty.file)}, ${mb(empty.live)} live`,
      `  raw rows: ${raw.rows.toLocaleString("en-US")} rows, +${mb(raw.file - empty.file)} file, ${mb(perMillion(raw.live - empty.live))} live per million requests; written in ${(soakMs / 1000).toFixed(1)} s`,
      `  after rollup + retention: ${rolled.rows} rows, ${rolled.rollups} rollup rows, ${mb(rolled.live - empty.live)} live (${done.rolledUp.toLocaleString("en-US")} rows rolled up and ${done.deletedRows.toLocaleString("en-US")} deleted in ${(maintainMs / 1000).toFixed(1)} s); the file keeps its ${mb(rolled.file)}, its free pages are reused`,
      `  second soak into the same file: +${mb(second.file - rolled.file)} file; after its rollup ${secondRolled.rollups} rollup rows, ${mb(secondRolled.live - empty.live)} live, file ${mb(secondRolled.file)}`,
    ];
  } finally {
    await kg.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
