import type { GuardRequest } from "@keyguard/core";
import { nodeGuardRequest } from "@keyguard/core/internal";
import type { Request } from "express";
import parseurl from "parseurl";

/**
 * The path Express routes for this request: the pathname `parseurl` gives its router, of
 * the whole original URL (mounts strip their prefix from `req.url`, not from this).
 * `http://h/api/data` and `/api/data#x` are routed as `/api/data`, so they are guarded,
 * limited and blocked as `/api/data`. `undefined` when the target has no pathname Express
 * could route (`http://`, `http://[::1`: the URL parser gives none or throws).
 */
export function routedPath(req: Request): string | undefined {
  try {
    // Outside a mount the two URLs are one, and the router has already parsed (and cached) it.
    const parsed = req.url === req.originalUrl ? parseurl(req) : parseurl.original(req);
    return parsed?.pathname ?? undefined;
  } catch {
    return undefined;
  }
}

/** What KeyGuard's core needs from an Express request. */
export function toGuardRequest(req: Request): GuardRequest {
  return nodeGuardRequest(req, routedPath(req) ?? "/");
}
