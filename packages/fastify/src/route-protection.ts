/**
 * Whether every request a route pattern can match lies under a protected path:
 * - `"always"`: the pattern's static start is the protected path (`/api/users/:id` under `/api`);
 * - `"never"`: a static segment leaves it (`/health`, `/apiary`);
 * - `"depends"`: a parameter or wildcard stands where the protected path is decided
 *   (`/:tenant/data`, `/*` under `/api`), so each request's own path decides.
 *
 * Decided once per route when it is registered, so a request reaches a protected handler
 * only through the guard, whatever its target looked like.
 */
export type RouteProtection = "always" | "never" | "depends";

export function routeProtection(
  routeUrl: string,
  protectedPath: string | undefined,
): RouteProtection {
  if (protectedPath === undefined) return "always";
  const wanted = segments(protectedPath.toLowerCase());
  const route = segments(routeUrl);
  for (const [index, segment] of wanted.entries()) {
    const routeSegment = route[index];
    if (routeSegment === undefined) return "never";
    if (/[:*(]/.test(routeSegment)) return "depends";
    if (decodeSafely(routeSegment).toLowerCase() !== decodeSafely(segment)) return "never";
  }
  return "always";
}

function segments(path: string): string[] {
  return path.split("/").filter((segment) => segment !== "");
}

function decodeSafely(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
