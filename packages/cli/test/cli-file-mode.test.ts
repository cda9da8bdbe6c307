import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { KEYGUARD_BIN } from "./keyguard-process.js";

const run = promisify(execFile);

describe("keyguard init", () => {
  const directories: string[] = [];
  afterEach(() => {
    for (const dir of directories.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("creates the SQLite database readable by its owner only, under umask 022", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "keyguard-cli-mode-"));
    directories.push(cwd);
    const shell = `umask 022 && "${process.execPath}" "${KEYGUARD_BIN}" init && "${process.execPath}" "${KEYGUARD_BIN}" create-org Acme`;
    await run("sh", ["-c", shell], { cwd, env: { PATH: process.env.PATH ?? "" } });
    const database = join(cwd, "keyguard.db");
    expect(statSync(database).mode & 0o777).toBe(0o600);
    for (const suffix of ["-wal", "-shm"]) {
      if (existsSync(database + suffix))
        expect(statSync(database + suffix).mode & 0o777).toBe(0o600);
    }
  });
});
