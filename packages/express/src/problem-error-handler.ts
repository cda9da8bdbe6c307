import {
  HEADERS_DROPPED_ON_ERROR,
  problemForError,
  reportUnexpectedError,
} from "@keyguard/core/internal";
import type { ErrorRequestHandler, Request } from "express";

export interface ProblemErrorHandlerOptions {
  /**
   * Told about every error answered 5xx (a handler that threw, a database that is down),
   * with its stack: the client only gets a generic problem. Default: `console.error`.
   */
  readonly onUnexpectedError?: (error: unknown, req: Request) => void;
}

/**
 * Express error middleware that answers every error as RFC 9457 problem+json, never with
 * Express's HTML page (which, outside `NODE_ENV=production`, is a stack trace holding
 * absolute file paths). Client errors keep their status (400 for a malformed JSON body
 * from `express.json()`, 413 for a body over its limit, 415, ...) with a generic detail;
 * anything else is 500 `internal_error` and is reported through `onUnexpectedError`.
 * Register it after every route. If the response had already started, the connection is
 * closed (as Express does), since no answer can follow.
 *
 * @example
 * ```ts
 * app.use(express.json());
 * app.post("/api/orders", createOrder);
 * app.use(problemErrorHandler({ onUnexpectedError: (error) => logger.error(error) }));
 * ```
 */
export function problemErrorHandler(options: ProblemErrorHandlerOptions = {}): ErrorRequestHandler {
  const report = options.onUnexpectedError ?? ((error: unknown) => console.error(error));
  return (error: unknown, req, res, _next) => {
    const answer = problemForError(error);
    if (answer.unexpected) reportUnexpectedError(report, error, req);
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    for (const name of HEADERS_DROPPED_ON_ERROR) res.removeHeader(name);
    res.status(answer.status).set(answer.headers).send(JSON.stringify(answer.problem));
  };
}
