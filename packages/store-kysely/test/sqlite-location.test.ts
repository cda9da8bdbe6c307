import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { isKeyGuardError } from "@keyguard/core";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { createKyselyStore, MIGRATION_TABLE } from "../src/index.js";

const run = promisify(execFile);
const built = fileURLToPath(new URL("../dist/index.js", import.meta.url));

describe("SQLite file handling", () => {
  const directories: string[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "keyguard-loc-"));
    directories.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of directories.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("creates the file on first use, in WAL mode", async () => {
    const path = join(tempDir(), "fresh.db");
    expect(existsSync(path)).toBe(false);
    const store = await createKyselyStore({ url: `sqlite:${path}` });
    await store.migrate();
    await store.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    const tables = db
      .prepare("select name from sqlite_master where type = 'table' order by name")
      .all()
      .map((row) => (row as { name: string }).name);
    expect(tables).toEqual(expect.arrayContaining(["api_keys", "organizations", "usage_logs"]));
    db.close();
  });

  async function openError(url: string) {
    const error = await createKyselyStore({ url }).then(
      async (store) => {
        await store.migrate().finally(() => store.close());
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(isKeyGuardError(error, "database_unavailable"), String(error)).toBe(true);
    return (error as Error).message;
  }

  it("explains a directory that does not exist", async () => {
    const path = join(tempDir(), "missing", "dir", "kg.db");
    expect(await openError(`sqlite:${path}`)).toMatch(/directory .*missing\/dir does not exist/);
    expect(existsSync(join(tempDir(), "missing"))).toBe(false);
  });

  it("explains a parent that is a file", async () => {
    const file = join(tempDir(), "plain-file");
    writeFileSync(file, "x");
    expect(await openError(`sqlite:${file}/kg.db`)).toMatch(/is not a directory/);
  });

  it("explains a location where no file can be created", async () => {
    // /proc accepts no new files, even for root (chmod would not stop root).
    expect(await openError("sqlite:/proc/keyguard.db")).toMatch(/Cannot open the SQLite database/);
  });

  it("migrates safely when several processes start on a new file at once", async () => {
    const path = join(tempDir(), "shared.db");
    const script = `
      const { createKyselyStore } = await import(${JSON.stringify(built)});
      const store = await createKyselyStore({ url: process.argv[1] });
      await store.migrate();
      await store.close();
      process.stdout.write("migrated");
    `;
    const processes = Array.from({ length: 4 }, () =>
      run(process.execPath, ["--input-type=module", "-e", script, `sqlite:${path}`]),
    );
    const results = await Promise.all(processes);
    expect(results.map((r) => r.stdout)).toEqual(Array(4).fill("migrated"));
    const db = new Database(path, { readonly: true });
    const applied = db.prepare(`select name from ${MIGRATION_TABLE}`).all();
    expect(applied).toEqual([
      { name: "0001_initial_schema" },
      { name: "0002_ip_blocks" },
      { name: "0003_usage_request_count" },
      { name: "0004_listing_indexes" },
      { name: "0006_usage_rollups" },
      { name: "0007_usage_charged" },
      { name: "0008_key_quota_lineage" },
      { name: "0009_automatic_blocks" },
      { name: "0010_secret_fingerprint" },
      { name: "0011_key_hash_scheme" },
      { name: "0012_audit_events" },
      { name: "0013_webhooks" },
      { name: "0014_change_notices" },
      { name: "0015_limit_policies" },
      { name: "0016_ip_rules" },
      { name: "0017_key_credits" },
      { name: "0018_concurrency_limits" },
    ]);
    db.close();
  });
});
