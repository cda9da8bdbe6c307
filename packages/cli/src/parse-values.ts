import { type ConcurrencySpec, isKeyGuardError, type LimitSpec } from "@keyguard/core";
import { MAX_CONCURRENCY, parseDuration } from "@keyguard/core/internal";
import { parseWholeNumber } from "./parse-whole-number.js";
import { UsageError } from "./usage-error.js";

/** `a,b,c` -> `["a", "b", "c"]`; an empty value means no scopes. */
export function parseScopes(text: string): string[] {
  return text
    .split(",")
    .map((scope) => scope.trim())
    .filter((scope) => scope !== "");
}

/**
 * `--expires`: a duration from now (`30d`, `12h`) or a date (`2027-01-31`,
 * `2027-01-31T12:00:00Z`); `never` clears it.
 */
export function parseExpiry(text: string, now: number): Date | null {
  const value = text.trim();
  if (value.toLowerCase() === "never") return null;
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) {
      throw new UsageError(`--expires "${text}" is not a valid date (use 2027-01-31 or 30d)`);
    }
    return date;
  }
  try {
    return new Date(now + parseDuration(value, "--expires"));
  } catch (error) {
    // A duration, but too long (over 10 years): say so rather than "not a duration".
    if (isKeyGuardError(error) && error.details?.maxMs !== undefined) {
      throw new UsageError(error.message);
    }
    throw new UsageError(
      `--expires "${text}" is neither a duration (30d, 12h) nor a date (2027-01-31)`,
    );
  }
}

/** A positive duration, as a usage error naming the flag when it is not one. */
export function parseDurationOption(text: string, flag: string): number {
  try {
    return parseDuration(text, flag);
  } catch (error) {
    const maxMs = isKeyGuardError(error) ? error.details?.maxMs : undefined;
    if (typeof maxMs === "number") {
      // Core quotes bare seconds as it read them (99999999999999999999 as 1e20): quote the text.
      const shown = text.length > 40 ? `${text.slice(0, 40)}...` : text;
      throw new UsageError(
        `${flag} "${shown.trim()}" is too long: at most ${maxMs / 86_400_000} days (10 years)`,
      );
    }
    throw new UsageError((error as Error).message);
  }
}

const LIMIT_OPTION = /^([^=\s]+)=([^/]*)\/([^:]+)((?::[^:]*)*)$/;
/** Core's bound on a window's limit, checked here first so the message names the value typed. */
const MAX_WINDOW_LIMIT = 1_000_000_000;
const ALGORITHMS = ["sliding-window-log", "sliding-window-counter", "gcra"] as const;
const MODES = ["enforce", "shadow"] as const;

/**
 * `--limit NAME=LIMIT/WINDOW[:ALGORITHM][:shadow]` (`burst=10/1s`, `day=10000/1d:gcra`,
 * `trial=100/1h:shadow`), repeatable; `none` alone means no named windows. The window is a
 * duration of whole seconds; the suffixes pick the algorithm (`sliding-window-log`,
 * `sliding-window-counter`, `gcra`) and the mode (`shadow`: counted, never refusing; or
 * `enforce`, the default). Core checks the rest (names, bounds, uniqueness) with the admin
 * API's rules. {@link formatLimits} writes the same syntax.
 */
export function parseLimitOptions(texts: readonly string[]): LimitSpec[] {
  if (texts.length === 1 && /^none$/i.test((texts[0] as string).trim())) return [];
  return texts.map((text) => {
    const match = LIMIT_OPTION.exec(text.trim());
    if (match === null) {
      throw new UsageError(
        `--limit must be NAME=LIMIT/WINDOW[:ALGORITHM][:shadow], e.g. burst=10/1s (got ${text})`,
      );
    }
    const [, name, limit, window, suffixes] = match as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    const ms = parseDurationOption(window, "--limit"); // bare digits are seconds
    if (ms % 1000 !== 0) {
      throw new UsageError(`--limit windows are whole seconds (got ${window} in ${text})`);
    }
    const spec: { -readonly [K in keyof LimitSpec]: LimitSpec[K] } = {
      name,
      limit: parseWholeNumber(limit, `the limit in --limit ${text.trim()}`, {
        max: MAX_WINDOW_LIMIT,
      }),
      windowSeconds: ms / 1000,
    };
    for (const suffix of suffixes.split(":").slice(1)) {
      if ((ALGORITHMS as readonly string[]).includes(suffix) && spec.algorithm === undefined) {
        spec.algorithm = suffix as LimitSpec["algorithm"];
      } else if ((MODES as readonly string[]).includes(suffix) && spec.mode === undefined) {
        spec.mode = suffix as LimitSpec["mode"];
      } else {
        throw new UsageError(
          `--limit ${text}: "${suffix}" is no algorithm (${ALGORITHMS.join(", ")}) or mode (shadow, enforce), or is given twice`,
        );
      }
    }
    return spec;
  });
}

/**
 * `burst=10/1s day=10000/1d:gcra trial=100/1h:shadow`: a key's or organization's windows,
 * compactly, in `--limit`'s syntax (an algorithm or mode only where one is set).
 */
export function formatLimits(limits: readonly LimitSpec[] | undefined): string {
  return (limits ?? [])
    .map(
      (limit) =>
        `${limit.name}=${limit.limit}/${formatSeconds(limit.windowSeconds)}${limit.algorithm === undefined ? "" : `:${limit.algorithm}`}${limit.mode === undefined ? "" : `:${limit.mode}`}`,
    )
    .join(" ");
}

/** A window in `--limit`'s units: 86400 -> `1d`, 90 -> `90s`. */
export function formatSeconds(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/**
 * `--concurrency N` (requests in flight at once, 1 to 10000; `none` removes the cap) with
 * `--concurrency-mode enforce|shadow`; `undefined` when neither was given.
 */
export function parseConcurrencyOptions(
  text: string | undefined,
  modeText: string | undefined,
): ConcurrencySpec | null | undefined {
  if (text === undefined) {
    if (modeText !== undefined) {
      throw new UsageError("--concurrency-mode needs --concurrency N in the same command");
    }
    return undefined;
  }
  if (/^none$/i.test(text.trim())) {
    if (modeText !== undefined) {
      throw new UsageError("--concurrency-mode needs --concurrency N, not none");
    }
    return null;
  }
  const limit = parseWholeNumber(text, "--concurrency", { max: MAX_CONCURRENCY });
  if (modeText === undefined) return { limit };
  const mode = modeText.trim().toLowerCase();
  if (mode !== "enforce" && mode !== "shadow") {
    throw new UsageError(`--concurrency-mode must be enforce or shadow (got ${modeText})`);
  }
  return { limit, mode };
}

/** `concurrency=5` (`concurrency=5/shadow` for a shadow cap), or `""` for none. */
export function formatConcurrency(
  spec: ConcurrencySpec | null | undefined,
  name = "concurrency",
): string {
  if (spec === null || spec === undefined) return "";
  return `${name}=${spec.limit}${spec.mode === "shadow" ? "/shadow" : ""}`;
}
