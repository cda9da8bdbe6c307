import type { ServerResponse } from "node:http";
import type { GuardResult, RequestGuard } from "../pipeline/request-guard.js";

/**
 * Where a response keeps what its `close` listener needs: symbol properties read by one
 * shared listener, so a guarded request costs no closure and no `once` wrapper (which
 * also has to remove itself again). The response object is dropped after `close` anyway.
 */
const kGuard = Symbol("keyguard.guard");
const kResult = Symbol("keyguard.result");

type Pending = ServerResponse & { [kGuard]?: RequestGuard; [kResult]?: GuardResult };

/** Node emits `close` once per response, so the listener stays on the (discarded) response. */
function onClose(this: Pending): void {
  finish(this[kGuard] as RequestGuard, this[kResult] as GuardResult, this.statusCode);
}

function finish(guard: RequestGuard, result: GuardResult, statusCode: number): void {
  guard.releaseSlot(result);
  guard.complete(result, statusCode);
}

/**
 * Logs a guarded request's usage once its response is over, with the status it got, and
 * gives back its concurrency slot if it holds one: what every adapter calls after
 * `guard.check`. `close` rather than `finish` (or Fastify's `onResponse`): a client that
 * hangs up mid-response still spent its limit, its request still counts toward the month's
 * quota after a restart, and its slot is free again even though no response was ever
 * finished (Node emits `close` once per response, after `finish` or without it).
 */
export function completeOnClose(
  res: ServerResponse,
  guard: RequestGuard,
  result: GuardResult,
): void {
  if (result.apiKey === undefined) return; // nothing to log, and no slot without a key
  // The client may have hung up while the request was being decided: `close` is past.
  if (res.closed) {
    finish(guard, result, res.statusCode);
    return;
  }
  const pending = res as Pending;
  if (pending[kResult] === undefined) {
    pending[kGuard] = guard;
    pending[kResult] = result;
    res.on("close", onClose);
    return;
  }
  // A second guard on the same response (two middlewares on one route): its own listener.
  res.once("close", () => finish(guard, result, res.statusCode));
}
