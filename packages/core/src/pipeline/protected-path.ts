import { detachString } from "../util/detach-string.js";

/**
 * The longest path limits, blocks and usage rows are keyed by. Longer paths are cut to this
 * length: two long spellings then share one bucket (never a fresh one each), and a key holder
 * cannot grow the usage table by sending 8 KB targets.
 */
export const MAX_KEYED_PATH_LENGTH = 1024;

/**
 * A test for "is this routed path under `prefix`?" (`/api` covers `/api` and `/api/data`,
 * not `/apiary`), built once per middleware. Give it the path the framework routes (its
 * parsed pathname), never the raw request target. Paths are compared case-insensitively and
 * after percent-decoding, because Express and Koa route `/API/data` to the same handlers as
 * `/api/data`, and a router that decodes (find-my-way) routes `/%61pi/data` there too: a
 * stricter check would let those requests past the guard. Protecting a spelling that no
 * router sends to a handler costs nothing; missing one that does is a bypass.
 */
export function createPathMatcher(prefix: string): (path: string) => boolean {
  const normalizedPrefix = normalize(prefix).replace(/\/+$/, "");
  if (normalizedPrefix === "") return () => true;
  const withSlash = `${normalizedPrefix}/`;
  // The last answer is remembered: a server sees the same few paths again and again, and a
  // string comparison is cheaper than the regex and the lower-casing (an exact equal path
  // gets an equal answer, so nothing about the decision changes).
  let lastPath: string | undefined;
  let lastAnswer = false;
  return (path) => {
    if (path === lastPath) return lastAnswer;
    const normalizedPath = NEEDS_DECODING.test(path) ? normalize(path) : path.toLowerCase();
    lastAnswer = normalizedPath === normalizedPrefix || normalizedPath.startsWith(withSlash);
    lastPath = path.length <= MAX_KEYED_PATH_LENGTH ? path : undefined;
    return lastAnswer;
  };
}

/** A path with an escape, a `//`, a `?` or a `#` must be worked on before it is compared. */
const NEEDS_DECODING = /[%?#]|\/\//;

/** One-off form of {@link createPathMatcher}. */
export function isProtectedPath(path: string, prefix: string): boolean {
  return createPathMatcher(prefix)(path);
}

/**
 * The form of a routed path that limits, blocks and usage rows are keyed by: query and
 * fragment cut off, percent-decoded, repeated and trailing slashes removed, lower-cased, at
 * most {@link MAX_KEYED_PATH_LENGTH} characters. Express and Koa route `/LOGIN`, `/login/`
 * and `/login#1` to the `/login` handler; keyed by the raw text, each spelling would get its
 * own counter and escape a lockout on the others.
 */
/** The last path `normalizePath` was asked about and its answer (see there). */
let lastPath = "/";
let lastNormalized = "/";

export function normalizePath(path: string): string {
  // Requests repeat paths: an equal path has an equal answer, found by one comparison.
  if (path === lastPath) return lastNormalized;
  if (isAlreadyNormal(path)) {
    lastPath = path;
    lastNormalized = path;
    return path; // the usual case, checked without allocating
  }
  const normalized = normalize(path).replace(/\/+$/, "");
  const bounded =
    normalized.length > MAX_KEYED_PATH_LENGTH
      ? detachString(normalized.slice(0, MAX_KEYED_PATH_LENGTH))
      : normalized;
  return bounded === "" ? "/" : bounded;
}

/**
 * What a path needing work has: a `%`, `?` or `#`, an upper-case or non-ASCII letter, a `//`,
 * or a trailing `/` after something. One native regex test rather than a `charCodeAt` loop:
 * with ioredis loaded, V8 runs string method calls on a slower path (see `key-format.ts`),
 * and the loop went from 45 to 180 ns per request; the regex takes ~50 ns either way.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const NEEDS_NORMALIZING = /[%?#A-Z\u0000-\u001f\u007f-\uffff]|\/\/|[\s\S]\/$/;

function isAlreadyNormal(path: string): boolean {
  return path !== "" && path.length <= MAX_KEYED_PATH_LENGTH && !NEEDS_NORMALIZING.test(path);
}

function normalize(path: string): string {
  const end = path.search(/[?#]/);
  const pathOnly = end === -1 ? path : path.slice(0, end);
  return escapeControls(decodeEscapes(pathOnly))
    .replace(/\/{2,}/g, "/")
    .toLowerCase();
}

/**
 * Control characters (`%00` decodes to NUL) are written back as escapes: a key, a block or
 * a usage row must never carry bytes a database refuses (PostgreSQL rejects NUL in text)
 * or a terminal interprets.
 */
function escapeControls(path: string): string {
  return CONTROL.test(path)
    ? path.replace(CONTROL_ALL, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`)
    : path;
}
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL_ALL = /[\u0000-\u001f\u007f]/g;

/**
 * Percent-decodes once, as routers do (`%2561` stays `%61`). A malformed escape (`%zz`, a
 * lone `%`) stays as typed while the well-formed ones around it are still decoded, so
 * `/%61pi/data/%zz` is still seen under `/api`.
 */
function decodeEscapes(path: string): string {
  if (!path.includes("%")) return path;
  try {
    return decodeURIComponent(path);
  } catch {
    return path.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run; // bytes that are not UTF-8
      }
    });
  }
}

/**
 * The path part of a request target as routers read it: an absolute-form target's scheme
 * and authority dropped (`http://h/api/data` -> `/api/data`, RFC 9112 §3.2.2), then the
 * query and fragment cut off. For frameworks that hand over only the raw target; where the
 * framework parses it itself (Express, Koa), use the framework's pathname.
 */
export function pathOf(target: string): string {
  let path = target;
  if (path.charCodeAt(0) !== 47 /* "/" */) {
    const authority = path.indexOf("://");
    if (authority !== -1) {
      const start = path.indexOf("/", authority + 3);
      path = start === -1 ? "/" : path.slice(start);
    }
  }
  const end = path.search(/[?#]/);
  return end === -1 ? path : path.slice(0, end);
}
