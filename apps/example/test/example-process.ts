import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const EXAMPLE_SECRET = "example-app-test-secret";
const dist = fileURLToPath(new URL("../dist/", import.meta.url));

/** An example server running in a process of its own. */
export interface ExampleProcess {
  readonly url: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Everything the process printed so far, from its start. */
  readonly output: { readonly stdout: string; readonly stderr: string };
  /** Everything the server wrote to stderr so far (its warnings and errors: its log). */
  stderr(): string;
}

/**
 * Starts `dist/<framework>.js` on a free port, configured only by the environment (as a
 * user runs it): `KEYGUARD_SECRET_KEY` plus `env`. Other `KEYGUARD_*` variables of the
 * test's own environment are not passed on.
 */
export async function startExampleProcess(
  framework: string,
  env: Record<string, string>,
): Promise<ExampleProcess> {
  const inherited: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith("KEYGUARD_")) inherited[name] = value;
  }
  const child = spawn(process.execPath, [join(dist, `${framework}.js`)], {
    env: { ...inherited, PORT: "0", KEYGUARD_SECRET_KEY: EXAMPLE_SECRET, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const output = { stdout: "", stderr: "" };
  child.stdout?.on("data", (chunk: Buffer) => {
    output.stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output.stderr += chunk.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on("data", () => {
      const match = /listening on http:\/\/localhost:(\d+)/.exec(output.stdout);
      if (match) resolve(Number(match[1]));
    });
    void exited.then((code) =>
      reject(new Error(`${framework} server exited (${code}): ${output.stderr}`)),
    );
  });
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    exited,
    output,
    stderr: () => output.stderr,
  };
}
