/** A path with an escape or a `//` must be decoded before it is compared. */
const NEEDS_DECODING = /%|\/\//;

/**
 * A test for "is this request path under `prefix`?" (`/api` covers `/api` and `/api/data`,
 * not `/apiary`), built once per middleware. Paths are compared case-insensitively and
 * after percent-decoding, because Express and Koa route `/API/data` and `/%61pi/data` to the
 * same handlers as `/api/data`: a case-sensitive check would let those requests past the
 * guard. The common case (no `%`, no `//`) costs one lower-casing and one `startsWith`.
 */
export function createPathMatcher(prefix: string): (path: string) => boolean {
  const normalizedPrefix = normalize(prefix).replace(/\/+$/, "");
  if (normalizedPrefix === "") return () => true;
  const withSlash = `${normalizedPrefix}/`;
  return (path) => {
    const normalizedPath = NEEDS_DECODING.test(path) ? normalize(path) : path.toLowerCase();
    return normalizedPath === normalizedPrefix || normalizedPath.startsWith(withSlash);
  };
}

/** One-off form of {@link createPathMatcher}. */
export function isProtectedPath(path: string, prefix: string): boolean {
  return createPathMatcher(prefix)(path);
}

/**
 * The form of a path that limits and blocks are keyed by: percent-decoded, repeated and
 * trailing slashes removed, lower-cased. Express and Koa route `/LOGIN`, `/login/` and
 * `/%6Cogin` to the `/login` handler; keyed by the raw path, each spelling would get its own
 * counter and escape a lockout on the others.
 */
export function normalizePath(path: string): string {
  if (isAlreadyNormal(path)) return path; // the usual case, checked without allocating
  const normalized = normalize(path).replace(/\/+$/, "");
  return normalized === "" ? "/" : normalized;
}

/**
 * What a path needing work has: a `%`, an upper-case or non-ASCII letter, a `//`, or a
 * trailing `/` after something. One native regex test rather than a `charCodeAt` loop:
 * with ioredis loaded, V8 runs string method calls on a slower path (see `key-format.ts`),
 * and the loop went from 45 to 180 ns per request; the regex takes ~50 ns either way.
 */
const NEEDS_NORMALIZING = /[%A-Z\u0080-\uffff]|\/\/|[\s\S]\/$/;

/** No `%`, no upper-case letter, no `//`, no trailing `/` (other than the root's). */
function isAlreadyNormal(path: string): boolean {
  return path !== "" && !NEEDS_NORMALIZING.test(path);
}

function normalize(path: string): string {
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // A malformed escape stays as typed; the framework will not route it anywhere either.
  }
  return decoded.replace(/\/{2,}/g, "/").toLowerCase();
}

/** The path part of a request target (`/api/data?x=1` -> `/api/data`). */
export function pathOf(url: string): string {
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}
