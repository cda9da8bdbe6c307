/** Where the CLI reads and writes: the process's streams, or a test's. */
export interface CliIo {
  readonly stdout: { write(chunk: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(chunk: string): unknown };
  readonly env: Record<string, string | undefined>;
  readonly cwd: string;
}
