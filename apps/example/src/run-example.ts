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
  let kg: KeyGuard | undefined;
  let server: StartedServer | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: closing (queued usage is written first)`);
    if (server !== undefined) {
      const started = server;
      // Connections that never send a request (browsers open them ahead of time) would keep
      // close() waiting until Node's headers timeout: after a grace period they are cut.
      const cut = setTimeout(() => started.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await started.close();
      clearTimeout(cut);
    }
    let code = 0;
    try {
      // With the store unreachable, queued usage goes to the spool (one warning line
      // saying how much) and the next start writes it.
      await kg?.close();
    } catch (error) {
      // Not even the spool could take it: say what was lost, in one line, rather than crash.
      const buffered = kg?.usageStats.buffered ?? 0;
      console.error(
        `keyguard example: ${buffered} queued usage events could not be written: ${(error as Error).message}`,
      );
      code = 1;
    }
    // Warnings are printed on a later tick (process.emitWarning): let them out first.
    await new Promise((resolve) => setImmediate(resolve));
    process.exit(code);
  };
  // Before anything can be told to stop it: a script that sends SIGTERM as soon as it reads
  // the "listening" line must find the handler there (installed after the line, the signal
  // could arrive first and kill the process with its usage unwritten).
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  try {
    kg = await createKeyGuard();
  } catch (error) {
    console.error(`keyguard example: ${(error as Error).message}`);
    process.exit(1);
  }
  try {
    server = await start(kg);
  } catch (error) {
    console.error(`keyguard example: ${startFailure(error)}`);
    await kg.close().catch(() => {});
    process.exit(1);
  }
  console.log(`KeyGuard example (${framework}) listening on http://localhost:${server.port}`);
}

/** One line for a server that could not listen; Node's own would be a stack trace. */
function startFailure(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  const wanted = process.env.PORT ?? "8000";
  if (code === "EADDRINUSE") {
    return `port ${wanted} is already in use (is another server still running? Stop it, or set PORT to another port).`;
  }
  if (code === "EACCES") {
    return `not allowed to listen on port ${wanted} (ports below 1024 need privileges; set PORT to another port).`;
  }
  return `could not start: ${message}`;
}
