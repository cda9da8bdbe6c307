import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";

/** What one HTTP attempt came to. */
export interface WebhookSendResult {
  /** The response's status, or null when none came. */
  readonly statusCode: number | null;
  /** Why there was no usable answer, in KeyGuard's words; null for a 2xx. */
  readonly error: string | null;
}

export interface WebhookRequest {
  readonly url: string;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The whole exchange (lookup, connect, send, response head, body read) is bounded by this. */
  readonly timeoutMs: number;
  /** Response bytes read at most; the rest is not waited for. */
  readonly maxResponseBytes: number;
  /** Aborts the request (the process shutting down). */
  readonly signal?: AbortSignal;
}

/**
 * POSTs one delivery. Redirects are not followed (a 3xx is a failed attempt: the
 * registered URL is the one signed events go to), the response body is read up to
 * `maxResponseBytes` and then dropped, and everything is bounded by `timeoutMs`, so a
 * receiver that stalls or streams forever holds one delivery slot for at most that long.
 * Never throws.
 */
export function sendWebhook(request: WebhookRequest): Promise<WebhookSendResult> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: WebhookSendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.signal?.removeEventListener("abort", onAbort);
      req.destroy();
      resolve(result);
    };
    const url = new URL(request.url);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(url, {
      method: "POST",
      headers: { ...request.headers, "content-length": Buffer.byteLength(request.body) },
      // A fresh connection per delivery: no socket of a stalled receiver is reused.
      agent: false,
    });
    const timer = setTimeout(
      () => finish({ statusCode: null, error: `no answer within ${request.timeoutMs} ms` }),
      request.timeoutMs,
    );
    const onAbort = () => finish({ statusCode: null, error: "aborted: the process is stopping" });
    request.signal?.addEventListener("abort", onAbort, { once: true });
    req.on("error", (error) => finish({ statusCode: null, error: describeError(error) }));
    req.on("response", (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      let read = 0;
      const done = () =>
        finish({
          statusCode: status,
          error: status >= 200 && status < 300 ? null : describeStatus(status),
        });
      response.on("data", (chunk: Buffer) => {
        read += chunk.length;
        if (read >= request.maxResponseBytes) done();
      });
      response.on("end", done);
      response.on("error", done);
    });
    req.end(request.body);
  });
}

function describeStatus(status: number): string {
  if (status >= 300 && status < 400) return `answered ${status} (redirects are not followed)`;
  return `answered ${status}`;
}

/** A transport error in a few words (codes, not driver text that may be long). */
function describeError(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const known: Record<string, string> = {
    ECONNREFUSED: "connection refused",
    ECONNRESET: "connection reset",
    ENOTFOUND: "host not found",
    EAI_AGAIN: "host lookup failed",
    ETIMEDOUT: "connection timed out",
    EHOSTUNREACH: "host unreachable",
    ENETUNREACH: "network unreachable",
    EPIPE: "connection closed while sending",
  };
  if (typeof code === "string") return known[code] ?? `request failed (${code.slice(0, 40)})`;
  return "request failed";
}
