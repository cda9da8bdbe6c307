import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { UsageEvent } from "../src/domain/usage-event.js";
import { KeyGuardError } from "../src/errors/keyguard-error.js";
import { UsageSpool, usageSpoolFor } from "../src/usage/usage-spool.js";
import { timeOrderedId } from "../src/util/time-ordered-id.js";

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0))
    rmSync(directory, { recursive: true, force: true });
});

function directory(): string {
  const made = mkdtempSync(join(tmpdir(), "keyguard-spool-"));
  directories.push(made);
  return made;
}

const row = (n: number, extra: Partial<UsageEvent> = {}): UsageEvent => ({
  id: timeOrderedId(1_700_000_000_000 + n),
  keyId: `key-${n % 3}`,
  path: "/api/data",
  method: "GET",
  statusCode: n % 5 === 0 ? 429 : 200,
  latencyMs: 2.5,
  ipAddress: n % 2 === 0 ? `198.51.100.${n % 250}` : null,
  timestamp: new Date(1_700_000_000_000 + n * 1000),
  requestCount: 1 + (n % 4),
  charged: n % 5 !== 0,
  ...extra,
});

/** Collects what a replay writes, as the store would, or fails like an unreachable store. */
function store() {
  const written: UsageEvent[] = [];
  const state = { failing: false };
  return {
    written,
    state,
    write: async (events: readonly UsageEvent[]) => {
      if (state.failing) throw new KeyGuardError("database_unavailable", "database down");
      written.push(...events);
    },
  };
}

describe("UsageSpool", () => {
  it("saves rows to a 0600 file that a replay writes back exactly, then removes", async () => {
    const dir = directory();
    const spool = new UsageSpool({ directory: dir, name: "keyguard.db", maxBytes: 1_000_000 });
    const rows = Array.from({ length: 40 }, (_, n) => row(n));
    const saved = await spool.save(rows);
    expect(saved).toMatchObject({ rows: 40, requests: 100, droppedRows: 0 });
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^keyguard\.db\.usage-spool-[0-9a-f-]{36}\.jsonl$/);
    expect(statSync(join(dir, files[0] as string)).mode & 0o777).toBe(0o600);

    const target = store();
    expect(await spool.replay(target.write, 7)).toEqual({
      files: 1,
      rows: 40,
      requests: 100,
      skippedLines: 0,
      refusedRows: 0,
      ignoredFiles: 0,
    });
    expect(target.written).toEqual(rows);
    expect(readdirSync(dir)).toEqual([]);
    // Nothing left: a second replay writes nothing.
    expect((await spool.replay(target.write, 7)).rows).toBe(0);
    expect(target.written).toHaveLength(40);
  });

  it("keeps a file whose rows could not be written, for the next start", async () => {
    const dir = directory();
    const spool = new UsageSpool({ directory: dir, name: "keyguard.db", maxBytes: 1_000_000 });
    const rows = [row(1), row(2), row(3)];
    await spool.save(rows.slice(0, 2));
    await spool.save(rows.slice(2));
    const target = store();
    target.state.failing = true;
    await expect(spool.replay(target.write, 10)).rejects.toThrow("database down");
    expect(readdirSync(dir)).toHaveLength(2);
    target.state.failing = false;
    expect(await spool.replay(target.write, 10)).toMatchObject({ files: 2, rows: 3 });
    expect(target.written.map((e) => e.id).sort()).toEqual(rows.map((e) => e.id).sort());
  });

  it("holds at most maxBytes over all of a database's files, counting what it drops", async () => {
    const dir = directory();
    const line = Buffer.byteLength(JSON.stringify({ ...row(1), timestamp: 0 })) + 1;
    const spool = new UsageSpool({ directory: dir, name: "keyguard.db", maxBytes: line * 10 });
    const first = await spool.save(Array.from({ length: 6 }, (_, n) => row(n + 1)));
    expect(first.rows).toBe(6);
    const second = await spool.save(Array.from({ length: 6 }, (_, n) => row(n + 11)));
    expect(second.rows).toBeGreaterThan(0);
    expect(second.droppedRows).toBeGreaterThan(0);
    expect(second.rows + second.droppedRows).toBe(6);
    const bytes = readdirSync(dir).reduce((sum, file) => sum + statSync(join(dir, file)).size, 0);
    expect(bytes).toBeLessThanOrEqual(line * 10);
    // Another database's files in the same directory are neither counted nor replayed.
    const other = new UsageSpool({ directory: dir, name: "other.db", maxBytes: line * 10 });
    expect((await other.save([row(30)])).rows).toBe(1);
    const target = store();
    expect((await spool.replay(target.write, 100)).rows).toBe(6 + second.rows);
    expect(readdirSync(dir)).toHaveLength(1);
  });

  it("skips lines it did not write (a file cut short or edited)", async () => {
    const dir = directory();
    const spool = new UsageSpool({ directory: dir, name: "keyguard.db", maxBytes: 1_000_000 });
    await spool.save([row(1), row(2)]);
    const file = join(dir, readdirSync(dir)[0] as string);
    const text = readFileSync(file, "utf8");
    const long = JSON.stringify({
      ...JSON.parse(text.split("\n")[1] as string),
      path: "/x".repeat(600),
    });
    writeFileSync(file, `${text}{"id":"not-a-uuid"}\n{"keyId":\n${long}\n`);
    const target = store();
    expect(await spool.replay(target.write, 10)).toMatchObject({ rows: 2, skippedLines: 3 });
  });

  it("does not read a file larger than the spool could have written", async () => {
    const dir = directory();
    const spool = new UsageSpool({ directory: dir, name: "keyguard.db", maxBytes: 1_000 });
    writeFileSync(join(dir, "keyguard.db.usage-spool-x.jsonl"), "x".repeat(2_000));
    const target = store();
    await expect(spool.replay(target.write, 10)).rejects.toThrow(/larger than usage.maxSpoolBytes/);
    expect(target.written).toEqual([]);
    expect(readdirSync(dir)).toHaveLength(1);
  });

  it("lives next to a SQLite file, or in the configured directory for PostgreSQL", () => {
    const sqlite = usageSpoolFor(
      { dialect: "sqlite", filename: "/srv/app/data/keyguard.db" },
      { maxSpoolBytes: 1 },
    );
    expect(sqlite?.location).toBe("/srv/app/data/keyguard.db.usage-spool-*.jsonl");
    expect(usageSpoolFor({ dialect: "sqlite", filename: ":memory:" }, { maxSpoolBytes: 1 })).toBe(
      undefined,
    );
    const postgres = usageSpoolFor(
      { dialect: "postgres", connectionString: "postgresql://app:secret@db:5432/app" },
      { spoolDirectory: "/var/spool/keyguard", maxSpoolBytes: 1 },
    );
    expect(postgres?.location).toMatch(
      /^\/var\/spool\/keyguard\/keyguard-postgres-[0-9a-f]{16}\.usage-spool-\*\.jsonl$/,
    );
    expect(postgres?.location).not.toContain("secret");
  });
});

describe("usageSpoolFor: which database a spool belongs to", () => {
  it("gives two SQLite files of one name sharing a spool directory spools of their own", async () => {
    const spoolDirectory = directory();
    const a = usageSpoolFor(
      { dialect: "sqlite", filename: "/srv/tenant-a/keyguard.db" },
      { spoolDirectory, maxSpoolBytes: 1_000_000 },
    );
    const b = usageSpoolFor(
      { dialect: "sqlite", filename: "/srv/tenant-b/keyguard.db" },
      { spoolDirectory, maxSpoolBytes: 1_000_000 },
    );
    await a?.save([row(1), row(2)]);
    const target = store();
    // B must not write A's rows into its database (nor fail on them at every start).
    const replayed = await b?.replay(target.write, 10);
    expect(replayed?.files).toBe(0);
    expect(target.written).toEqual([]);
    expect(readdirSync(spoolDirectory)).toHaveLength(1);
    const again = usageSpoolFor(
      { dialect: "sqlite", filename: "/srv/tenant-a/keyguard.db" },
      { spoolDirectory, maxSpoolBytes: 1_000_000 },
    );
    expect((await again?.replay(target.write, 10))?.rows).toBe(2);
  });

  it("names a PostgreSQL spool by the database, not its password (rotated at a restart)", async () => {
    const spoolDirectory = directory();
    const before = usageSpoolFor(
      { dialect: "postgres", connectionString: "postgresql://app:old-secret@db:5432/app" },
      { spoolDirectory, maxSpoolBytes: 1_000_000 },
    );
    await before?.save([row(1), row(2), row(3)]);
    // The password was rotated while the database was out; the next start uses the new one.
    const after = usageSpoolFor(
      { dialect: "postgres", connectionString: "postgresql://app:new-secret@db:5432/app" },
      { spoolDirectory, maxSpoolBytes: 1_000_000 },
    );
    const target = store();
    expect((await after?.replay(target.write, 10))?.rows).toBe(3);
    // Nor is the file name a digest a guessed password can be checked against offline.
    const { createHash } = await import("node:crypto");
    const withPassword = createHash("sha256")
      .update("postgresql://app:old-secret@db:5432/app")
      .digest("hex")
      .slice(0, 16);
    expect(before?.location).not.toContain(withPassword);
    const other = usageSpoolFor(
      { dialect: "postgres", connectionString: "postgresql://app:old-secret@db:5432/other" },
      { spoolDirectory, maxSpoolBytes: 1_000_000 },
    );
    expect(other?.location).not.toBe(before?.location);
    const keywords = usageSpoolFor(
      { dialect: "postgres", connectionString: "host=db port=5432 dbname=app password=x1" },
      { spoolDirectory, maxSpoolBytes: 1_000_000 },
    );
    const keywords2 = usageSpoolFor(
      { dialect: "postgres", connectionString: "host=db port=5432 dbname=app password=x2" },
      { spoolDirectory, maxSpoolBytes: 1_000_000 },
    );
    expect(keywords?.location).toBe(keywords2?.location);
  });
});

describe("UsageSpool directory", () => {
  it("creates a configured spool directory that does not exist yet (0700), rather than losing the rows", async () => {
    const parent = directory();
    const spoolDirectory = join(parent, "spool", "keyguard");
    const spool = new UsageSpool({ directory: spoolDirectory, name: "db", maxBytes: 1_000_000 });
    const saved = await spool.save([row(1), row(2)]);
    expect(saved.rows).toBe(2);
    expect(readdirSync(spoolDirectory)).toHaveLength(1);
    expect(statSync(spoolDirectory).mode & 0o777).toBe(0o700);
    const target = store();
    expect((await spool.replay(target.write, 10)).rows).toBe(2);
  });
});

describe("UsageSpool files it did not write", () => {
  it("does not replay a spool file another user owns or others may write (rows planted in a shared directory)", async () => {
    const dir = directory();
    const spool = new UsageSpool({ directory: dir, name: "db", maxBytes: 1_000_000 });
    const planted = await spool.save([row(1), row(2)]);
    const writable = await spool.save([row(3)]);
    const fourth = row(4);
    const own = await spool.save([fourth]);
    const { chmodSync, chownSync } = await import("node:fs");
    const uid = process.getuid?.() ?? 0;
    if (uid === 0) chownSync(planted.file as string, 12_345, 12_345);
    else chmodSync(planted.file as string, 0o666); // cannot give it away: make it writable by others
    chmodSync(writable.file as string, 0o666);
    const target = store();
    const replayed = await spool.replay(target.write, 10);
    expect(target.written.map((event) => event.id)).toEqual([fourth.id]);
    expect(replayed).toMatchObject({ files: 1, rows: 1, ignoredFiles: 2 });
    expect(readdirSync(dir).sort()).toEqual(
      [planted.file, writable.file].map((file) => (file as string).slice(dir.length + 1)).sort(),
    );
    expect(own.file).toBeDefined();
  });
});

describe("UsageSpool after a crash mid-save", () => {
  it("replays a temporary file a crashed save left (its torn last line skipped), and leaves a fresh one", async () => {
    const { renameSync, utimesSync, appendFileSync } = await import("node:fs");
    const dir = directory();
    const spool = new UsageSpool({ directory: dir, name: "db", maxBytes: 1_000_000 });
    const crashed = await spool.save([row(1), row(2)]);
    const stale = `${crashed.file as string}.tmp`;
    renameSync(crashed.file as string, stale); // killed before its rename
    appendFileSync(stale, '{"id":"torn'); // and mid-line
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(stale, old, old);
    const busy = await spool.save([row(3)]);
    const fresh = `${busy.file as string}.tmp`;
    renameSync(busy.file as string, fresh); // another process saving right now
    const target = store();
    const replayed = await spool.replay(target.write, 10);
    expect(replayed).toMatchObject({ files: 1, rows: 2, skippedLines: 1 });
    expect(readdirSync(dir)).toEqual([fresh.slice(dir.length + 1)]);
  });
});
