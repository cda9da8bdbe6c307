import type { ServerResponse } from "node:http";
import type { GuardResult, RequestGuard } from "../pipeline/request-guard.js";

/**
 * Where a response keeps what its `close` listener needs: symbol properties read by one
 * shared listener, so a guarded request costs no closure and no `once` wrapper (which
 * also has to remove itself again). The response object is dropped after `close` anyway.
 */
const kGuard = Symbol("keyguard.guard");
const kResult = Symbol("keyguard.result");
const kSlotOnly = Symbol("keyguard.slotOnly");

type Pending = ServerResponse & {
  [kGuard]?: RequestGuard;
  [kResult]?: GuardResult;
  [kSlotOnly]?: boolean;
};

/** Node emits `close` once per response, so the listener stays on the (discarded) response. */
function onClose(this: Pending): void {
  const guard = this[kGuard] as RequestGuard;
  const result = this[kResult] as GuardResult;
  guard.releaseSlot(result);
  if (this[kSlotOnly] !== true) guard.complete(result, this.statusCode);
}

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
  // The client may have hung up while the request was being decided: `close` is past.
  if (res.closed) {
    guard.releaseSlot(result);
    guard.complete(result, res.statusCode);
  } else listen(res, guard, result, false);
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
  else listen(res, guard, result, true);
}

function listen(res: Pending, guard: RequestGuard, result: GuardResult, slotOnly: boolean) {
  if (res[kResult] === undefined) {
    res[kGuard] = guard;
    res[kResult] = result;
    res[kSlotOnly] = slotOnly;
    res.on("close", onClose);
    return;
  }
  // A second guard on the same response (two middlewares on one route): its own listener.
  res.once("close", () => {
    guard.releaseSlot(result);
    if (!slotOnly) guard.complete(result, res.statusCode);
  });
}
