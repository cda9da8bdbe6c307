import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { userEnv } from "./packed-project.js";
import { allBlocks, kindOf, repositoryRoot } from "./readme-blocks.js";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts connections on the port (IPv4 or IPv6 loopback). */
async function listening(port: number): Promise<boolean> {
  const attempt = (host: string) =>
    new Promise<boolean>((resolve) => {
      const socket = connect({ port, host });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
  return (await attempt("127.0.0.1")) || (await attempt("::1"));
}

/**
 * The README's quick start, run as pasted: on a fresh copy of the repository's files
 * (tracked and new ones, never build output or node_modules), by bash with `-e`, with a
 * user's environment (no KEYGUARD_* variables). Port 8000 becomes a free port: `PORT` for
 * the server, and in the script's text for the curls.
 */
describe("the README quick start", () => {
  const copy = mkdtempSync(join(tmpdir(), "keyguard-quick-start-"));
  afterAll(() => rmSync(copy, { recursive: true, force: true }));

  it("runs as a script: builds, serves, limits, and stops cleanly when pnpm is killed", async () => {
    const [block] = allBlocks().filter((b) => kindOf(b) === "quick-start");
    expect(block).toBeDefined();
    const files = execFileSync(
      "git",
      ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
      {
        cwd: repositoryRoot,
        maxBuffer: 50_000_000,
      },
    );
    const archive = execFileSync("tar", ["--null", "--ignore-failed-read", "-T", "-", "-cf", "-"], {
      cwd: repositoryRoot,
      input: files,
      maxBuffer: 500_000_000,
    });
    execFileSync("tar", ["-xf", "-"], { cwd: copy, input: archive });

    const port = await freePort();
    const script = (block?.code ?? "").replaceAll("8000", String(port));
    writeFileSync(join(copy, "quick-start.sh"), script);
    // PORT for the server (the README says it picks the port), the text for the curls.
    const child = spawn("bash", ["-e", "-o", "pipefail", "quick-start.sh"], {
      cwd: copy,
      env: { ...userEnv(), PORT: String(port) },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
    const exitCode = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    // The server started in the background holds bash's stdout until it exits: "close"
    // comes once it has, which must be soon after `kill %1`.
    const stopped = await Promise.race([
      closed.then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 30_000)),
    ]);
    const output = `--- stdout\n${stdout}\n--- stderr\n${stderr}`;
    expect(exitCode, output).toBe(0);
    expect(stderr, output).toContain("Building the CLI (the first build takes 30-120 s)...");
    expect(stderr, output).toContain("Building the example app");
    expect(stdout, output).toContain("KeyGuard database ready: sqlite:keyguard.db");
    expect(stdout, output).toContain(
      `KeyGuard example (express) listening on http://localhost:${port}`,
    );
    expect(stdout.match(/\{"message":"Authorized!"\}/g), output).toHaveLength(3);
    expect(stdout, output).toMatch(/HTTP\/1\.1 429 Too Many Requests/);
    expect(stdout, output).toMatch(/"code":"rate_limited"/);
    expect(stdout, output).not.toMatch(/EADDRINUSE|\n\s+at /);

    // `kill %1` killed pnpm (bash passes the signal to nothing else): the server noticed,
    // wrote its usage and freed the port.
    const deadline = Date.now() + 20_000;
    while ((await listening(port)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await listening(port), "the server still listens after kill %1").toBe(false);
    expect(stopped, "the server process still runs 30 s after kill %1").toBe(true);
    const keys = JSON.parse(
      execFileSync(process.execPath, ["packages/cli/dist/cli.js", "list-keys", "--json"], {
        cwd: copy,
        env: userEnv(),
        encoding: "utf8",
      }),
    ) as { items: { label: string; last_used_at: string | null }[] };
    expect(keys.items).toHaveLength(1);
    expect(keys.items[0]).toMatchObject({ label: "dev-key" });
    expect(keys.items[0]?.last_used_at).not.toBeNull();
    expect(stdout, output).toContain("SIGTERM: closing (queued usage is written first)");
  });
});
