import type { Server } from "node:http";

/**
 * `server.listen(port)` as a promise that also rejects: Node reports a taken port
 * (`EADDRINUSE`) as an `error` event, which, unhandled, crashes the process with a stack.
 */
export function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (error: Error) => reject(error);
    server.once("error", failed);
    server.listen(port, () => {
      server.off("error", failed);
      resolve();
    });
  });
}
