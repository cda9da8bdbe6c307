import type { ServerResponse } from "node:http";
import type { GuardResult, RequestGuard } from "../pipeline/request-guard.js";

/**
 * Logs a guarded request's usage once its response is over, with the status it got, and
 * gives back its concurrency slot if it holds one. `close` rather than `finish`: a client
 * that hangs up mid-response still spent its limit, its request still counts toward the
 * month's quota after a restart, and its slot is free again even though no response was
 * ever finished (Node emits `close` once per response, after `finish` or without it).
 */
export function completeOnClose(
  res: ServerResponse,
  guard: RequestGuard,
  result: GuardResult,
): void {
  if (result.apiKey === undefined) return;
  const done = () => {
    guard.releaseSlot(result);
    guard.complete(result, res.statusCode);
  };
  // The client may have hung up while the request was being decided: `close` is past.
  if (res.closed) done();
  else res.once("close", done);
}

/**
 * Gives back a guarded request's concurrency slot, if it holds one, when its response
 * closes: for adapters that log usage at another point of their framework's life cycle
 * (Fastify's `onResponse`, which a client that hangs up mid-request never reaches).
 */
export function releaseSlotOnClose(
  res: ServerResponse,
  guard: RequestGuard,
  result: GuardResult,
): void {
  if (!result.allowed || result.slot === undefined) return;
  // The client may have hung up while the request was being decided: `close` is past.
  if (res.closed) guard.releaseSlot(result);
  else res.once("close", () => guard.releaseSlot(result));
}
