import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";

const run = promisify(execFile);
const built = fileURLToPath(new URL("../dist/index.js", import.meta.url));

/**
 * Opens a store on `path` in a process of its own under umask 022 (the usual default,
 * which leaves new files world-readable), writes a row so the -wal and -shm files exist,
 * and keeps the connection open while `stat` looks at the three files.
 */
async function modesAfterWrite(path: string): Promise<Record<string, number>> {
  const script = `
    process.umask(0o022);
    const { statSync } = await import("node:fs");
    const { createKyselyStore } = await import(${JSON.stringify(built)});
    const store = await createKyselyStore({ url: "sqlite:" + ${JSON.stringify(path)} });
    await store.migrate();
    await store.insertOrganization({
      id: crypto.randomUUID(), name: "Acme", status: "active", createdAt: new Date(),
    });
    const modes = {};
    for (const suffix of ["", "-wal", "-shm"]) {
      modes[suffix || "db"] = statSync(${JSON.stringify(path)} + suffix).mode & 0o777;
    }
    await store.close();
    console.log(JSON.stringify(modes));
  `;
  const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script]);
  return JSON.parse(stdout) as Record<string, number>;
}

describe("SQLite file modes", () => {
  const directories: string[] = [];
  afterEach(() => {
    for (const dir of directories.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const tempDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "keyguard-mode-"));
    directories.push(dir);
    return dir;
  };

  it("creates the database, -wal and -shm readable by their owner only (0600)", async () => {
    const path = join(tempDir(), "fresh.db");
    expect(await modesAfterWrite(path)).toEqual({ db: 0o600, "-wal": 0o600, "-shm": 0o600 });
    // Still so after the last connection closed (SQLite checkpoints and removes -wal/-shm).
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("leaves the mode of an existing database alone", async () => {
    const path = join(tempDir(), "shared.db");
    writeFileSync(path, "");
    chmodSync(path, 0o640); // the owner's choice, e.g. readable by a backup group
    expect(await modesAfterWrite(path)).toEqual({ db: 0o640, "-wal": 0o640, "-shm": 0o640 });
  });
});
