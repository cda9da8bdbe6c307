import { type ErrorCode, httpStatusFor } from "../errors/error-codes.js";
import { PROBLEM_CONTENT_TYPE, problemFor } from "./problem-details.js";

/** The part of a socket a client-error reply needs. */
interface ClientSocket {
  readonly writable: boolean;
  end(data: string): unknown;
  destroy(): unknown;
}

/**
 * Answers a request Node's HTTP parser rejected (control characters in a header, a header
 * block over the size limit, a malformed request line) with a problem+json 4xx instead of
 * Node's bare `400 Bad Request`, so even these requests get the same kind of answer as
 * every other refusal. Use as the server's `clientError` listener, or Fastify's
 * `clientErrorHandler`.
 *
 * @example
 * ```ts
 * const server = app.listen(8000);
 * server.on("clientError", answerClientError);
 * // Fastify: Fastify({ clientErrorHandler: answerClientError })
 * ```
 */
export function answerClientError(error: Error & { code?: string }, socket: ClientSocket): void {
  if (!socket.writable || error.code === "ECONNRESET") {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === "HPE_HEADER_OVERFLOW";
  const code: ErrorCode = tooLarge ? "headers_too_large" : "bad_request";
  const body = JSON.stringify(
    problemFor(
      code,
      tooLarge
        ? "The request headers are larger than this server accepts."
        : "The request is not valid HTTP (for example, a header contains a control character).",
    ),
  );
  const status = httpStatusFor(code);
  socket.end(
    `HTTP/1.1 ${status} ${tooLarge ? "Request Header Fields Too Large" : "Bad Request"}\r\n` +
      `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Connection: close\r\n\r\n${body}`,
  );
}
