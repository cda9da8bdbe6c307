import { createKeyGuard, type KeyGuard } from "@keyguard/express";

/** A started server: where it listens and how to stop accepting requests. */
export interface StartedServer {
  readonly port: number;
  /** Stops accepting connections; resolves once the open ones have ended. */
  close(): Promise<void>;
  /** Ends every connection still open (a browser's pre-opened ones never send a request). */
  closeAllConnections(): void;
}

/** How long requests in flight get to finish on SIGTERM before their connections are cut. */
const SHUTDOWN_GRACE_MS = 3_000;

/**
 * Starts one of the example servers with KeyGuard configured from the `KEYGUARD_*`
 * environment (zero infrastructure by default: `keyguard.db` + in-memory limits), and
 * shuts down cleanly on SIGTERM/SIGINT: stop accepting requests, then `kg.close()`, which
 * writes every queued usage event before the process exits (or, with the database
 * unreachable, spools it for the next start: see `usage.spoolDirectory`).
 */
export async function runExample(
  framework: string,
  start: (kg: KeyGuard) => Promise<StartedServer>,
): Promise<void> {
  let kg: KeyGuard;
  try {
    kg = await createKeyGuard();
  } catch (error) {
    console.error(`keyguard example: ${(error as Error).message}`);
    process.exit(1);
  }
  const server = await start(kg);
  console.log(`KeyGuard example (${framework}) listening on http://localhost:${server.port}`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: closing (queued usage is written first)`);
    // Connections that never send a request (browsers open them ahead of time) would keep
    // close() waiting until Node's headers timeout: after a grace period they are cut.
    const cut = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    await server.close();
    clearTimeout(cut);
    let code = 0;
    try {
      // With the store unreachable, queued usage goes to the spool (one warning line
      // saying how much) and the next start writes it.
      await kg.close();
    } catch (error) {
      // Not even the spool could take it: say what was lost, in one line, rather than crash.
      const { buffered } = kg.usageStats;
      console.error(
        `keyguard example: ${buffered} queued usage events could not be written: ${(error as Error).message}`,
      );
      code = 1;
    }
    // Warnings are printed on a later tick (process.emitWarning): let them out first.
    await new Promise((resolve) => setImmediate(resolve));
    process.exit(code);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
