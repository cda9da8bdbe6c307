import type { ServerResponse } from "node:http";
import type { GuardResult, RequestGuard } from "../pipeline/request-guard.js";

/**
 * Logs a guarded request's usage once its response is over, with the status it got.
 * `close` rather than `finish`: a client that hangs up mid-response still spent its limit,
 * and its request still counts toward the month's quota after a restart.
 */
export function completeOnClose(
  res: ServerResponse,
  guard: RequestGuard,
  result: GuardResult,
): void {
  if (result.apiKey === undefined) return;
  res.once("close", () => guard.complete(result, res.statusCode));
}
