import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The built `keyguard` bin of the workspace's keyguard-cli. */
const KEYGUARD_BIN = join(
  dirname(createRequire(import.meta.url).resolve("keyguard-cli/package.json")),
  "dist/cli.js",
);

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `keyguard <args>` as an operator would, with only the given KEYGUARD_* variables. */
export function runKeyguardCli(
  args: readonly string[],
  env: Record<string, string>,
  cwd: string,
): Promise<CliResult> {
  const inherited: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("KEYGUARD_")) inherited[name] = value;
  }
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [KEYGUARD_BIN, ...args],
      { cwd, env: { ...inherited, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({
          code: error ? (typeof error.code === "number" ? error.code : 1) : 0,
          stdout,
          stderr,
        });
      },
    );
  });
}
