import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const exec = promisify(execFile);
const packageDir = fileURLToPath(new URL("..", import.meta.url));

/**
 * What a user gets from the registry: the packed tarball, run through `pnpm dlx` in a
 * directory outside the workspace, with dependencies installed from the registry.
 */
describe("keyguard-cli as a packed package, through pnpm dlx", () => {
  let work: string;
  let tarball: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "keyguard-dlx-"));
    await exec("pnpm", ["pack", "--pack-destination", work], { cwd: packageDir });
    const packed = readdirSync(work).find((file) => file.endsWith(".tgz"));
    if (!packed) throw new Error("pnpm pack produced no tarball");
    tarball = join(work, packed);
  }, 120_000);

  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
  });

  const dlx = async (args: string[]) => {
    const env: Record<string, string | undefined> = {
      ...process.env,
      KEYGUARD_SECRET_KEY: "dlx-secret-0123456789",
    };
    delete env.KEYGUARD_DATABASE_URL;
    // better-sqlite3 may have to compile from source; node-gyp needs Node's headers.
    env.npm_config_nodedir ??= "/usr";
    const { stdout } = await exec(
      "pnpm",
      ["dlx", "--allow-build=better-sqlite3", `--package=${tarball}`, "keyguard", ...args],
      { cwd: work, env, timeout: 600_000, maxBuffer: 10_000_000 },
    );
    return stdout;
  };

  it("installs and runs keyguard-python's quick start with zero infrastructure", async () => {
    expect(await dlx(["--version"])).toMatch(/^keyguard\/\d+\.\d+\.\d+/m);
    expect(await dlx(["init"])).toMatch(/KeyGuard database ready: sqlite:keyguard\.db/);
    expect(readdirSync(work)).toContain("keyguard.db");
    expect(await dlx(["create-org", "My Project"])).toMatch(/Created organization "My Project"/);
    const created = await dlx(["create-key", "--org", "My Project", "--label", "dev-key"]);
    expect(created).toMatch(/Key:\s+kg_live_\S{49}/);
    const list = await dlx(["list-keys"]);
    expect(list).toMatch(/dev-key\s+kg_live_\S{4}\s+My Project\s+active\s+60\s+never/);
    expect(list).toContain("Total: 1 key(s)");
  }, 900_000);
});
