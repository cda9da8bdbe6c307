import { execFile, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { basename, join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, inject, it } from "vitest";
import { packagesDir, publishable, userEnv } from "./packed-project.js";
import { allBlocks, kindOf, type ReadmeBlock } from "./readme-blocks.js";

const exec = promisify(execFile);
const SECRET = "readme-snippet-secret-0123";
const blocks = allBlocks();
const programs = blocks.filter((block) =>
  ["esm", "cjs", "esm-server", "cjs-server"].includes(kindOf(block)),
);

/** A port nothing listens on right now. */
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

describe("README code blocks", () => {
  it("every block is run or marked: output (no info string), no-run, install, quick-start, js esm|cjs [server]", () => {
    const unknown = blocks.filter((block) => kindOf(block) === "unknown");
    expect(
      unknown.map((block) => `${block.where}: \`\`\`${[block.language, ...block.flags].join(" ")}`),
    ).toEqual([]);
    // Enough of each kind that the checks below check something.
    expect(programs.filter((b) => kindOf(b) === "esm-server").length).toBeGreaterThanOrEqual(6);
    expect(programs.filter((b) => kindOf(b) === "cjs-server").length).toBeGreaterThanOrEqual(4);
    expect(blocks.filter((b) => kindOf(b) === "quick-start")).toHaveLength(1);
  });

  it("install blocks name only packages `pnpm release:pack` builds, and better-sqlite3@12", () => {
    const manifests = publishable.map(
      (name) =>
        JSON.parse(readFileSync(join(packagesDir, name, "package.json"), "utf8")) as {
          name: string;
          version: string;
          dependencies?: Record<string, string>;
        },
    );
    const tarballOf = (m: { name: string; version: string }) =>
      `${m.name.replace(/^@/, "").replace("/", "-")}-${m.version}.tgz`;
    const names = new Set(manifests.map((m) => m.name));
    const tarballs = new Set(manifests.map(tarballOf));
    const installs = blocks.filter((block) => kindOf(block) === "install");
    expect(installs.length).toBeGreaterThanOrEqual(6);
    for (const block of installs) {
      const commands = block.code
        .replace(/\\\n/g, " ")
        .split("\n")
        .map((line) => line.replace(/#.*$/, "").trim())
        .filter((line) => line.startsWith("npm install "));
      expect(commands.length, block.where).toBeGreaterThan(0);
      for (const command of commands) {
        // Tarballs are installed together with every @keyguard tarball they depend on:
        // npm would look for a missing one on the registry, where it is not.
        const listed = new Set(
          command
            .split(/\s+/)
            .filter((word) => word.endsWith(".tgz"))
            .map((word) => basename(word)),
        );
        for (const manifest of manifests) {
          if (!listed.has(tarballOf(manifest))) continue;
          for (const dependency of Object.keys(manifest.dependencies ?? {})) {
            const needed = manifests.find((m) => m.name === dependency);
            if (needed === undefined) continue;
            expect(listed, `${block.where}: ${manifest.name} needs ${dependency}`).toContain(
              tarballOf(needed),
            );
          }
        }
        for (const word of command.split(/\s+/).slice(2)) {
          if (word.endsWith(".tgz")) {
            expect(tarballs, `${block.where}: ${word}`).toContain(basename(word));
          } else if (word.startsWith("@keyguard/") || word.startsWith("keyguard-")) {
            expect(names, `${block.where}: ${word}`).toContain(word);
          } else if (word.startsWith("better-sqlite3")) {
            expect(word, block.where).toBe("better-sqlite3@12");
          }
        }
      }
    }
  });
});

/**
 * Each program block, as a user pastes it into a project made by `npm init -y` with the
 * packed tarballs installed (test/packed-project.ts): `app.mjs` for ES modules, `app.js`
 * (CommonJS there) for the rest, in a directory of its own (its own ./keyguard.db).
 */
describe("README programs, run with the packed packages", () => {
  const app = inject("packedProject");
  const env = { ...userEnv(), KEYGUARD_SECRET_KEY: SECRET };
  const keyguard = join(app, "node_modules", ".bin", "keyguard");

  const directoryFor = (block: ReadmeBlock) => {
    const directory = join(app, "snippets", block.where.replace(/[^A-Za-z0-9]+/g, "-"));
    mkdirSync(directory, { recursive: true });
    return directory;
  };
  const fileFor = (block: ReadmeBlock) => (kindOf(block).startsWith("esm") ? "app.mjs" : "app.js");

  it.each(programs.filter((b) => !kindOf(b).endsWith("server")).map((b) => [b.where, b] as const))(
    "%s runs to completion",
    async (_where, block) => {
      const directory = directoryFor(block);
      writeFileSync(join(directory, fileFor(block)), block.code);
      const { stderr } = await exec(process.execPath, [fileFor(block)], {
        cwd: directory,
        env,
        timeout: 120_000,
      });
      expect(stderr).toBe("");
    },
  );

  it.each(programs.filter((b) => kindOf(b).endsWith("server")).map((b) => [b.where, b] as const))(
    "%s serves /api/data: 401 without a key, 200 with one made by the CLI",
    async (_where, block) => {
      const directory = directoryFor(block);
      const cli = (args: string[]) =>
        exec(keyguard, args, { cwd: directory, env, timeout: 120_000 });
      await cli(["init"]);
      await cli(["create-org", "Acme"]);
      const created = await cli(["create-key", "--org", "Acme", "--label", "snippet", "--json"]);
      const rawKey = JSON.parse(created.stdout).raw_key as string;

      const port = await freePort();
      expect(block.code).toContain("8000");
      writeFileSync(join(directory, fileFor(block)), block.code.replaceAll("8000", String(port)));
      const child = spawn(process.execPath, [fileFor(block)], { cwd: directory, env });
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.stderr.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      let exited: number | null | undefined;
      child.once("exit", (code) => {
        exited = code;
      });
      try {
        const url = `http://localhost:${port}/api/data`;
        let refused: Response | undefined;
        for (let waited = 0; refused === undefined; waited += 100) {
          if (exited !== undefined) throw new Error(`exited (${exited}): ${output}`);
          if (waited > 60_000) throw new Error(`not listening after 60 s: ${output}`);
          refused = await fetch(url).catch(() => undefined);
          if (refused === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
        }
        expect(refused.status).toBe(401);
        expect(await refused.json()).toMatchObject({ code: "missing_api_key" });
        const allowed = await fetch(url, { headers: { "x-api-key": rawKey } });
        expect(allowed.status).toBe(200);
        expect(await allowed.json()).toEqual({ message: "Authorized!", key: "snippet" });
        expect(output).toBe("");
      } finally {
        child.kill("SIGKILL");
      }
    },
  );
});
