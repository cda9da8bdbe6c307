import { type ErrorCode, httpStatusFor } from "../errors/error-codes.js";
import { PROBLEM_CONTENT_TYPE, problemFor } from "./problem-details.js";

/** The part of a socket a client-error reply needs. */
interface ClientSocket {
  readonly writable: boolean;
  /** The response in progress on this socket, if any (Node's `socket._httpMessage`). */
  readonly _httpMessage?: { readonly headersSent?: boolean } | null;
  end(data: string): unknown;
  destroy(): unknown;
}

/** Node's error code -> the answer (the statuses Node's own default reply uses). */
const ANSWERS: Readonly<Record<string, { code: ErrorCode; reason: string; detail: string }>> = {
  HPE_HEADER_OVERFLOW: {
    code: "headers_too_large",
    reason: "Request Header Fields Too Large",
    detail: "The request headers are larger than this server accepts.",
  },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: {
    code: "payload_too_large",
    reason: "Payload Too Large",
    detail: "The request's chunk extensions are larger than this server accepts.",
  },
  // The server's `headersTimeout` or `requestTimeout` ran out while the request was still
  // arriving (a client sending headers or a body slowly, or stalling).
  ERR_HTTP_REQUEST_TIMEOUT: {
    code: "request_timeout",
    reason: "Request Timeout",
    detail: "The request was not received in time.",
  },
};

const BAD_REQUEST = {
  code: "bad_request",
  reason: "Bad Request",
  detail: "The request is not valid HTTP (for example, a header contains a control character).",
} as const;

/**
 * Answers a request Node's HTTP server refused before any framework saw it (control
 * characters in a header, a header block over the size limit, a malformed request line,
 * a request that did not arrive within `headersTimeout` / `requestTimeout`) with a
 * problem+json 400 / 408 / 413 / 431 instead of Node's bare response, so even these
 * requests get the same kind of answer as every other refusal. Use as the server's
 * `clientError` listener, or Fastify's `clientErrorHandler`. If a response has already
 * started on the socket, nothing more can be said: the connection is closed.
 *
 * @example
 * ```ts
 * const server = app.listen(8000);
 * server.on("clientError", answerClientError);
 * // Fastify: Fastify({ clientErrorHandler: answerClientError })
 * ```
 */
export function answerClientError(error: Error & { code?: string }, socket: ClientSocket): void {
  if (!socket.writable || error.code === "ECONNRESET" || socket._httpMessage?.headersSent) {
    socket.destroy();
    return;
  }
  const answer = (error.code === undefined ? undefined : ANSWERS[error.code]) ?? BAD_REQUEST;
  const body = JSON.stringify(problemFor(answer.code, answer.detail));
  socket.end(
    `HTTP/1.1 ${httpStatusFor(answer.code)} ${answer.reason}\r\n` +
      `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
}
