import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One request a receiver got. */
export interface ReceivedWebhook {
  readonly headers: IncomingHttpHeaders;
  /** The raw body, as sent. */
  readonly body: string;
  readonly path: string;
}

/** How the receiver answers its `n`th request (from 1): a status, or `"hang"` (never answers). */
export type WebhookAnswer = (request: ReceivedWebhook, n: number) => number | "hang" | Answer;

interface Answer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

export interface WebhookReceiver {
  readonly url: string;
  readonly received: ReceivedWebhook[];
  close(): Promise<void>;
}

/**
 * A real HTTP server on a free port that records every request and answers as told
 * (default 200). Requests it leaves hanging are cut when it closes.
 */
export async function startWebhookReceiver(
  answer: WebhookAnswer = () => 200,
): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const hanging = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const request = {
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        path: req.url ?? "/",
      };
      received.push(request);
      const reply = answer(request, received.length);
      if (reply === "hang") {
        hanging.add(res);
        return;
      }
      const { status, headers, body } = typeof reply === "number" ? { status: reply } : reply;
      res.writeHead(status, { "content-type": "text/plain", ...headers });
      res.end(body ?? "ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
