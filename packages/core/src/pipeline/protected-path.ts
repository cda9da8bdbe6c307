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
    const normalizedPath =
      path.includes("%") || path.includes("//") ? normalize(path) : path.toLowerCase();
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

/** No `%`, no upper-case letter, no `//`, no trailing `/` (other than the root's). */
function isAlreadyNormal(path: string): boolean {
  const last = path.length - 1;
  if (last < 0 || (last > 0 && path.charCodeAt(last) === SLASH)) return false;
  let previous = 0;
  for (let i = 0; i <= last; i++) {
    const code = path.charCodeAt(i);
    if (code === PERCENT || (code >= UPPER_A && code <= UPPER_Z) || code >= 128) return false;
    if (code === SLASH && previous === SLASH) return false;
    previous = code;
  }
  return true;
}

const SLASH = 0x2f;
const PERCENT = 0x25;
const UPPER_A = 0x41;
const UPPER_Z = 0x5a;

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
