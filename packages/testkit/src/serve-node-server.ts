import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { answerClientError } from "@keyguard/core";
import type { AdapterApp } from "./adapter-conformance.js";

/**
 * An adapter test's `http.Server` (Express's or Koa's `listen(0)`) as an {@link AdapterApp}:
 * waits until it listens, installs `answerClientError`, and closes it on request.
 */
export async function serveNodeServer(server: Server): Promise<AdapterApp> {
  server.on("clientError", answerClientError);
  if (!server.listening) await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
