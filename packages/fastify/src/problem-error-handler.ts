import { HEADERS_DROPPED_ON_ERROR, problemForError } from "@keyguard/core/internal";
import type { FastifyReply, FastifyRequest } from "fastify";

export interface ProblemErrorHandlerOptions {
  /**
   * Told about every error answered 5xx (a handler that threw, a database that is down),
   * with its stack: the client only gets a generic problem. Default: `request.log.error`,
   * as Fastify's own handler does (silent unless the app has a logger).
   */
  readonly onUnexpectedError?: (error: unknown, request: FastifyRequest) => void;
}

/** A Fastify error handler, as `setErrorHandler` takes it. */
export type ProblemErrorHandler = (
  error: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
) => FastifyReply;

/**
 * An error handler that answers every error as RFC 9457 problem+json. Fastify's default
 * handler sends `error.message` even for a 500, so whatever a handler or a driver put in
 * it reaches the client. Client errors keep their status (400 bad JSON or a failed schema,
 * 413 over `bodyLimit`, 415 no parser for the content type, ...) with a generic detail;
 * anything else is 500 `internal_error` and is reported through `onUnexpectedError`.
 *
 * @example
 * ```ts
 * app.setErrorHandler(createProblemErrorHandler({ onUnexpectedError: (e) => sentry.capture(e) }));
 * ```
 */
export function createProblemErrorHandler(
  options: ProblemErrorHandlerOptions = {},
): ProblemErrorHandler {
  const report =
    options.onUnexpectedError ??
    ((error: unknown, request: FastifyRequest) =>
      request.log.error({ err: error }, "unexpected error answered 500"));
  return (error, request, reply) => {
    const answer = problemForError(error);
    if (answer.unexpected) {
      try {
        report(error, request);
      } catch (reporterError) {
        request.log.error({ err: reporterError }, "onUnexpectedError threw");
      }
    }
    for (const name of HEADERS_DROPPED_ON_ERROR) reply.removeHeader(name);
    return reply.code(answer.status).headers(answer.headers).send(JSON.stringify(answer.problem));
  };
}

/**
 * {@link createProblemErrorHandler} with the default reporting (`request.log.error`).
 *
 * @example
 * ```ts
 * const app = Fastify({ logger: true });
 * app.setErrorHandler(problemErrorHandler);
 * ```
 */
export const problemErrorHandler: ProblemErrorHandler = createProblemErrorHandler();
