import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KeyGuard, resolveConfig } from "@keyguard/core";
import {
  createKeyguardPythonPostgres,
  createKeyguardPythonSqlite,
  type KeyguardPythonDatabase,
  keyguardPythonContents,
  postgresAvailable,
  withPostgresClient,
} from "@keyguard/testkit";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type CliBackend,
  type CliDatabase,
  postgresBackend,
  sqliteBackend,
} from "./cli-backends.js";
import { type CliResult, keyguard, oneLine } from "./keyguard-process.js";

const SECRET = "cli-test-secret-0123456789";
const LEGACY_SECRET = "keyguard-python-secret";
const pgAvailable = await postgresAvailable();

const sources = [
  {
    name: "SQLite",
    create: async (c: ReturnType<typeof keyguardPythonContents>) => createKeyguardPythonSqlite(c),
  },
  ...(pgAvailable ? [{ name: "PostgreSQL", create: createKeyguardPythonPostgres }] : []),
];
const targets: CliBackend[] = [sqliteBackend, ...(pgAvailable ? [postgresBackend] : [])];

const json = (result: CliResult) => {
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout);
};

describe.each(sources)("keyguard import-python from $name", (source) => {
  describe.each(targets)("into $name", (target) => {
    let db: CliDatabase;
    let python: KeyguardPythonDatabase;
    const contents = keyguardPythonContents({
      secret: LEGACY_SECRET,
      organizations: 3,
      keysPerOrganization: 4,
      usageLogsPerKey: 10,
    });
    beforeEach(async () => {
      db = await target.create();
      python = await source.create(contents);
    });
    afterEach(async () => {
      await db.dispose();
      await python.dispose();
    });
    const run = (args: string[], env: Record<string, string> = {}) =>
      keyguard(args, { cwd: db.cwd, env: { ...db.env, ...env } });
    const importArgs = () => [
      "import-python",
      "--from",
      python.url,
      "--legacy-secret",
      LEGACY_SECRET,
    ];

    it("dry-runs, imports everything in one go, and a second run adds nothing", async () => {
      const dry = await run([...importArgs(), "--dry-run", "--json"]);
      expect(json(dry)).toEqual({
        dry_run: true,
        organizations: { added: 3, already_present: 0 },
        api_keys: { added: 12, already_present: 0 },
        // Two logs of the same key, path, status and client in one second are one row.
        usage_rows: { added: 60, already_present: 0 },
        usage_logs_read: 120,
        orphan_usage_logs: 0,
      });
      // The dry run wrote nothing: no database file, no tables.
      if (target === sqliteBackend) expect(existsSync(join(db.cwd, "keyguard.db"))).toBe(false);
      else expect((await run(["list-keys"])).code).toBe(1);

      const imported = await run(importArgs());
      expect(imported).toMatchObject({ code: 0, stderr: "" });
      expect(imported.stdout).toMatch(/organizations\s+3 added, 0 already present/);
      expect(imported.stdout).toMatch(
        /api keys\s+12 added, 0 already present \(9 active, 3 revoked\)/,
      );
      expect(imported.stdout).toMatch(
        /usage rows\s+60 added, 0 already present \(from 120 usage logs\)/,
      );

      const again = json(await run([...importArgs(), "--json"]));
      expect(again).toMatchObject({
        organizations: { added: 0, already_present: 3 },
        api_keys: { added: 0, already_present: 12 },
        usage_rows: { added: 0, already_present: 60 },
      });

      const keys = json(await run(["list-keys", "--json"])).items as Record<string, unknown>[];
      expect(keys).toHaveLength(12);
      for (const original of contents.keys) {
        const key = keys.find((k) => k.id === original.id);
        expect(key).toMatchObject({
          org_id: original.orgId,
          label: original.label,
          prefix: original.prefix,
          scopes: original.scopes,
          rate_limit_per_minute: original.rateLimitPerMinute,
          monthly_limit: original.monthlyLimit,
          created_at: original.createdAt.toISOString(),
          last_used_at: original.lastUsedAt?.toISOString() ?? null,
          status: original.isActive ? "active" : "revoked",
        });
      }
      const orgs = json(await run(["list-orgs", "--json"])).items as Record<string, unknown>[];
      expect(orgs.map((org) => [org.id, org.name, org.created_at]).sort()).toEqual(
        contents.organizations.map((org) => [org.id, org.name, org.createdAt.toISOString()]).sort(),
      );
      const stats = json(await run(["stats", "--json"]));
      expect(stats).toMatchObject({
        organizations: 3,
        total_keys: 12,
        active_keys: 9,
        total_requests: 120,
        legacy_hash_keys: 9,
      });
      // Every usage log is counted once, 429s as errors, as keyguard-python logged them.
      const refusals = contents.usageLogs.filter((log) => log.statusCode >= 400).length;
      expect(stats.error_rate).toBeCloseTo(refusals / 120, 10);

      // The keys are verified by their old hash, with the old secret, and upgraded.
      const kg = await db.openKeyGuard(SECRET);
      const withLegacy = new KeyGuard({
        config: resolveConfig({ secretKey: SECRET, legacySecret: LEGACY_SECRET }, {}),
        store: kg.store,
      });
      const [active, revoked] = [
        contents.keys.find((k) => k.isActive),
        contents.keys.find((k) => !k.isActive),
      ];
      expect(await withLegacy.verifyKey(active?.rawKey)).toMatchObject({ outcome: "valid" });
      expect(await withLegacy.verifyKey(revoked?.rawKey)).toMatchObject({ outcome: "revoked" });
      await withLegacy.close();
      expect(json(await run(["stats", "--json"])).legacy_hash_keys).toBe(8);

      // An imported raw key names its key in commands, as a KeyGuard raw key does.
      const other = contents.keys.filter((k) => k.isActive)[1] as (typeof contents.keys)[number];
      const revokedByRawKey = await run(["revoke-key", other.rawKey], {
        KEYGUARD_SECRET_KEY: SECRET,
        KEYGUARD_LEGACY_SECRET: LEGACY_SECRET,
      });
      expect(revokedByRawKey.code).toBe(0);
      // The first command with a secret on this database records its fingerprint (and
      // says so, since keys upgraded above are hashed with it); nothing else is said.
      expect(revokedByRawKey.stderr).toMatch(
        /^(keyguard: This database recorded no secret;.*\n)?$/,
      );
      expect(revokedByRawKey.stdout).toContain(`Revoked key ${other.prefix} (${other.label}`);
      expect(json(await run(["stats", "--json"]))).toMatchObject({
        active_keys: 8,
        legacy_hash_keys: 7,
      });
    });

    it("refuses a source that is not keyguard-python's, in one line, writing nothing", async () => {
      // A KeyGuard database is not a keyguard-python one.
      expect((await run(["init"])).code).toBe(0);
      if (target === sqliteBackend) {
        const refused = await run([
          "import-python",
          "--from",
          "keyguard.db",
          "--legacy-secret",
          "x",
          "--db",
          "sqlite:other.db",
        ]);
        expect(refused.code).toBe(1);
        expect(oneLine(refused)).toMatch(
          /^keyguard: keyguard\.db is a KeyGuard database, not keyguard-python's/,
        );
        expect(readdirSync(db.cwd)).not.toContain("other.db");
        const same = await run(["import-python", "--from", "keyguard.db", "--legacy-secret", "x"]);
        expect(oneLine(same)).toMatch(/--from and --db name the same database/);
      }
      const missingSecret = await run(["import-python", "--from", python.url]);
      expect(missingSecret.code).toBe(1);
      expect(oneLine(missingSecret)).toMatch(/--legacy-secret is required/);
      const noFrom = await run(["import-python", "--legacy-secret", "x"]);
      expect([noFrom.code, oneLine(noFrom)]).toEqual([
        1,
        expect.stringMatching(/--from is required/),
      ]);
    });

    it("writes nothing when a row cannot be imported (one transaction), and names the row and field", async () => {
      const bad = contents.keys.at(-1)?.id as string;
      await breakRow(python, `update api_keys set rate_limit_per_minute = -5 where id = '${bad}'`);
      const refused = await run(importArgs());
      expect(refused.code).toBe(1);
      expect(oneLine(refused)).toBe(
        `keyguard: api_keys row ${bad}: rate_limit_per_minute must be greater than 0 (got -5)`,
      );
      // An organization name KeyGuard already has, under another id: refused before writing.
      expect((await run(["init"])).code).toBe(0);
      await breakRow(python, `update api_keys set rate_limit_per_minute = 10 where id = '${bad}'`);
      expect((await run(["create-org", "Team 2"])).code).toBe(0);
      const clash = await run(importArgs());
      expect(clash.code).toBe(1);
      expect(oneLine(clash)).toMatch(
        /An organization named "Team 2" already exists with another id/,
      );
      expect(json(await run(["stats", "--json"]))).toMatchObject({
        organizations: 1,
        total_keys: 0,
        total_requests: 0,
      });
    });
  });
});

/** Changes the keyguard-python database behind the test's back (a damaged row). */
async function breakRow(python: KeyguardPythonDatabase, statement: string): Promise<void> {
  if (python.filename !== undefined) {
    const db = new Database(python.filename);
    db.exec(statement);
    db.close();
    return;
  }
  await withPostgresClient((client) => client.query(statement), python.schema);
}

describe("keyguard import-python refuses other databases", () => {
  let db: CliDatabase;
  beforeEach(async () => {
    db = await sqliteBackend.create();
  });
  afterEach(async () => {
    await db.dispose();
  });
  it("an empty file, a missing file, a file that is no database", async () => {
    const run = (from: string) =>
      keyguard(["import-python", "--from", from, "--legacy-secret", "s"], { cwd: db.cwd });
    writeFileSync(join(db.cwd, "empty.db"), "");
    writeFileSync(join(db.cwd, "junk.db"), "this is not a database, just text that is long enough");
    for (const [from, message] of [
      [
        "empty.db",
        /^keyguard: empty\.db is not a keyguard-python database: it has no table organizations$/,
      ],
      ["missing.db", /^keyguard: No database file at .*missing\.db\.$/],
      [
        "junk.db",
        /^keyguard: Cannot read the SQLite database at .*junk\.db: file is not a database$/,
      ],
    ] as const) {
      const result = await run(from);
      expect(result.code).toBe(1);
      expect(oneLine(result)).toMatch(message);
    }
    expect(readdirSync(db.cwd).sort()).toEqual(["empty.db", "junk.db"]);
  });
});
