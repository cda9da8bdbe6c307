import {
  HEADERS_DROPPED_ON_ERROR,
  PROBLEM_CONTENT_TYPE,
  problemForError,
  reportUnexpectedError,
} from "@keyguard/core/internal";
import type { Context, Middleware } from "koa";

export interface ProblemErrorHandlerOptions {
  /**
   * Told about every error answered 5xx (a handler that threw, a database that is down),
   * with its stack: the client only gets a generic problem. Default: the app's `error`
   * event (`ctx.app.emit("error", error, ctx)`), so `app.on("error", ...)` listeners and
   * Koa's own logging see it as before.
   */
  readonly onUnexpectedError?: (error: unknown, ctx: Context) => void;
}

/**
 * Koa middleware that answers every error thrown further down the chain as RFC 9457
 * problem+json instead of Koa's text answer. Client errors (`ctx.throw(400)`, a body
 * parser's 400 / 413 / 415) keep their status with a generic detail; anything else is
 * 500 `internal_error` and is reported through `onUnexpectedError`. Use it first, so it
 * wraps everything else. An error after the response started is left to Koa, which
 * closes the connection.
 *
 * @example
 * ```ts
 * const app = new Koa();
 * app.use(problemErrorHandler());
 * app.use(keyguard(kg, { protectedPath: "/api" }));
 * app.use(router.routes());
 * ```
 */
export function problemErrorHandler(options: ProblemErrorHandlerOptions = {}): Middleware {
  const report =
    options.onUnexpectedError ??
    ((error: unknown, ctx: Context) =>
      ctx.app.emit("error", error instanceof Error ? error : new Error(String(error)), ctx));
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      if (ctx.headerSent || !ctx.writable) throw error;
      const answer = problemForError(error);
      if (answer.unexpected) reportUnexpectedError(report, error, ctx);
      for (const name of HEADERS_DROPPED_ON_ERROR) ctx.remove(name);
      ctx.status = answer.status;
      ctx.set(answer.headers);
      ctx.body = JSON.stringify(answer.problem);
      ctx.type = PROBLEM_CONTENT_TYPE;
    }
  };
}
