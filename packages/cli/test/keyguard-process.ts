import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The built bin, run the way a user's shell runs it. */
export const KEYGUARD_BIN = fileURLToPath(new URL("../dist/cli.js", import.meta.url));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `keyguard <args>` in `cwd` with only the given KEYGUARD_* variables (the caller's
 * own environment must not leak into the test), stdout and stderr captured (not a TTY).
 */
export function keyguard(
  args: readonly string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<CliResult> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (
      value !== undefined &&
      !name.startsWith("KEYGUARD_") &&
      name !== "FORCE_COLOR" &&
      name !== "NO_COLOR"
    ) {
      env[name] = value;
    }
  }
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [KEYGUARD_BIN, ...args],
      { cwd: options.cwd, env: { ...env, ...options.env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Asserts nothing about the result; returns the single stderr line, failing if there are more. */
export function oneLine(result: CliResult): string {
  const lines = result.stderr.split("\n").filter((line) => line !== "");
  if (lines.length !== 1) {
    throw new Error(`expected one line on stderr, got ${lines.length}:\n${result.stderr}`);
  }
  return lines[0] as string;
}
