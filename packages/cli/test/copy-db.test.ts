import { join } from "node:path";
import { postgresAvailable } from "@keyguard/testkit";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CliDatabase, postgresBackend, sqliteBackend } from "./cli-backends.js";
import { keyguard, oneLine } from "./keyguard-process.js";

const SECRET = "cli-test-secret-0123456789";
const pgAvailable = await postgresAvailable();

describe("keyguard copy-db", () => {
  let db: CliDatabase;
  beforeEach(async () => {
    db = await sqliteBackend.create();
  });
  afterEach(async () => {
    await db.dispose();
  });
  const run = (args: string[]) =>
    keyguard(args, { cwd: db.cwd, env: { KEYGUARD_SECRET_KEY: SECRET } });
  async function seed(file = "keyguard.db") {
    const db = `sqlite:${file}`;
    expect((await run(["--db", db, "init"])).code).toBe(0);
    expect((await run(["--db", db, "create-org", "Acme Corp"])).code).toBe(0);
    expect((await run(["--db", db, "create-key", "--org", "Acme Corp", "--label", "a"])).code).toBe(
      0,
    );
  }

  it("refuses bad command lines and wrong databases in one line, exit 1", async () => {
    await seed();
    const cases: [string[], RegExp][] = [
      [["copy-db", "--to", "sqlite:b.db"], /^keyguard: copy-db needs --from and --to/],
      [
        ["copy-db", "--from", "keyguard.db", "--to", "sqlite:keyguard.db"],
        /^keyguard: --from and --to name the same database$/,
      ],
      [
        ["copy-db", "--from", "missing.db", "--to", "sqlite:b.db"],
        /^keyguard: No database file at .*missing\.db\.$/,
      ],
      [
        ["copy-db", "--from", "keyguard.db", "--to", "mysql://x"],
        /^keyguard: --to "mysql:\/\/x" is unusable: the scheme "mysql:" is not supported/,
      ],
    ];
    for (const [args, message] of cases) {
      const result = await run(args);
      expect(result.code, args.join(" ")).toBe(1);
      expect(oneLine(result)).toMatch(message);
    }
  });

  it("refuses a target that holds data unless --merge, and merges without duplicating", async () => {
    await seed();
    await seed("other.db");
    const refused = await run(["copy-db", "--from", "keyguard.db", "--to", "sqlite:other.db"]);
    expect(refused.code).toBe(1);
    expect(oneLine(refused)).toBe(
      "keyguard: The target already holds KeyGuard data (organizations: 1, api_keys: 1, audit_events: 2 rows): copy into an empty database, or pass --merge to add what it lacks.",
    );
    // Both databases have an organization named Acme Corp, with different ids: merging
    // them would break the unique names, so it is refused and nothing is written.
    const clash = await run([
      "copy-db",
      "--from",
      "keyguard.db",
      "--to",
      "sqlite:other.db",
      "--merge",
    ]);
    expect(clash.code).toBe(1);
    expect(clash.stderr.trim().split("\n")).toHaveLength(1);

    const copied = await run(["copy-db", "--from", "keyguard.db", "--to", "sqlite:copy.db"]);
    expect(copied.code).toBe(0);
    expect(copied.stdout).toMatch(/organizations\s+1 rows copied/);
    expect(
      (
        await run([
          "--db",
          "sqlite:keyguard.db",
          "create-key",
          "--org",
          "Acme Corp",
          "--label",
          "b",
        ])
      ).code,
    ).toBe(0);
    const merged = await run([
      "copy-db",
      "--from",
      "keyguard.db",
      "--to",
      "sqlite:copy.db",
      "--merge",
      "--json",
    ]);
    expect(JSON.parse(merged.stdout).tables).toEqual([
      { table: "organizations", source_rows: 1, copied: 0, already_present: 1, target_rows: 1 },
      { table: "api_keys", source_rows: 2, copied: 1, already_present: 1, target_rows: 2 },
      { table: "usage_logs", source_rows: 0, copied: 0, already_present: 0, target_rows: 0 },
      { table: "usage_rollups", source_rows: 0, copied: 0, already_present: 0, target_rows: 0 },
      { table: "ip_blocks", source_rows: 0, copied: 0, already_present: 0, target_rows: 0 },
      // The secret's fingerprint, copied the first time, is there already.
      {
        table: "secret_fingerprints",
        source_rows: 1,
        copied: 0,
        already_present: 1,
        target_rows: 1,
      },
      // The audit log travels with the data: the new key's event is the one copied.
      { table: "audit_events", source_rows: 3, copied: 1, already_present: 2, target_rows: 3 },
      ...["webhook_endpoints", "webhook_deliveries", "webhook_attempts", "webhook_notices"].map(
        (table) => ({ table, source_rows: 0, copied: 0, already_present: 0, target_rows: 0 }),
      ),
      { table: "ip_rules", source_rows: 0, copied: 0, already_present: 0, target_rows: 0 },
      { table: "credit_spending", source_rows: 0, copied: 0, already_present: 0, target_rows: 0 },
    ]);
  });

  it("copies into a database just made with the same secret, and refuses one made with another", async () => {
    await seed();
    // `keyguard init` with a secret records its fingerprint: not data, so not refused.
    expect((await run(["--db", "sqlite:same.db", "init"])).code).toBe(0);
    const same = await run(["copy-db", "--from", "keyguard.db", "--to", "sqlite:same.db"]);
    expect(same).toMatchObject({ code: 0, stderr: "" });
    const other = await keyguard(["--db", "sqlite:other.db", "init"], {
      cwd: db.cwd,
      env: { KEYGUARD_SECRET_KEY: "another-secret-0123456789" },
    });
    expect(other.code).toBe(0);
    const refused = await run(["copy-db", "--from", "keyguard.db", "--to", "sqlite:other.db"]);
    expect(refused.code).toBe(1);
    expect(oneLine(refused)).toMatch(
      /^keyguard: The target's keys are hashed with another secret \(fingerprint [0-9a-f]{12}\) than the source's/,
    );
    const check = await keyguard(["--db", "sqlite:other.db", "stats", "--json"], {
      cwd: db.cwd,
      env: { KEYGUARD_SECRET_KEY: "another-secret-0123456789" },
    });
    expect(JSON.parse(check.stdout)).toMatchObject({ organizations: 0, total_keys: 0 });
  });

  it("fails loudly on a table it does not know instead of leaving it behind", async () => {
    await seed();
    const file = new Database(join(db.cwd, "keyguard.db"));
    file.exec("create table usage_archive (id text primary key, n integer)");
    file.close();
    const result = await run(["copy-db", "--from", "keyguard.db", "--to", "sqlite:copy.db"]);
    expect(result.code).toBe(1);
    expect(oneLine(result)).toMatch(
      /^keyguard: The source has table\(s\) that are not KeyGuard's: usage_archive\./,
    );
    // The target got KeyGuard's (empty) tables at most, no rows.
    const check = await run(["--db", "sqlite:copy.db", "stats", "--json"]);
    expect(JSON.parse(check.stdout)).toMatchObject({ organizations: 0, total_keys: 0 });
  });

  it("refuses a source without KeyGuard's tables", async () => {
    const file = new Database(join(db.cwd, "plain.db"));
    file.exec("create table t (x)");
    file.close();
    const result = await run(["copy-db", "--from", "plain.db", "--to", "sqlite:copy.db"]);
    expect(result.code).toBe(1);
    expect(oneLine(result)).toMatch(/^keyguard: The source has no KeyGuard tables/);
  });

  it.runIf(pgAvailable)("copies PostgreSQL back to SQLite, and the keys work there", async () => {
    const pg = await postgresBackend.create();
    try {
      const url = pg.env.KEYGUARD_DATABASE_URL as string;
      expect((await run(["--db", url, "init"])).code).toBe(0);
      expect((await run(["--db", url, "create-org", "Acme Corp"])).code).toBe(0);
      const created = await run([
        "--db",
        url,
        "create-key",
        "--org",
        "Acme Corp",
        "--label",
        "a",
        "--scopes",
        "read,write",
      ]);
      const rawKey = /Key:\s+(\S+)/.exec(created.stdout)?.[1] as string;
      const copied = await run(["copy-db", "--from", url, "--to", "sqlite:back.db"]);
      expect(copied.code).toBe(0);
      const back = await run(["--db", "sqlite:back.db", "list-keys", "--json"]);
      expect(JSON.parse(back.stdout).items[0]).toMatchObject({
        label: "a",
        scopes: ["read", "write"],
        status: "active",
      });
      // The copied hash answers to the same raw key.
      const revoked = await run(["--db", "sqlite:back.db", "revoke-key", rawKey]);
      expect(revoked.code).toBe(0);
    } finally {
      await pg.dispose();
    }
  });
});
