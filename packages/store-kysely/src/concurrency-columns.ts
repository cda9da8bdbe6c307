import type { ConcurrencySpec } from "@keyguard/core";

/** A concurrency cap as its two columns (keys and organizations, migration 0018). */
export function concurrencyColumns(spec: ConcurrencySpec | null | undefined): {
  concurrency: number | null;
  concurrency_mode: string | null;
} {
  if (spec === null || spec === undefined) return { concurrency: null, concurrency_mode: null };
  return { concurrency: spec.limit, concurrency_mode: spec.mode === "shadow" ? "shadow" : null };
}

/**
 * The cap the columns hold. Core validated what was written; a row edited by hand into
 * something else (0, a fraction, a huge number) is read as no cap rather than put on the
 * request path.
 */
export function readConcurrency(
  limit: number | string | null | undefined,
  mode: string | null | undefined,
): ConcurrencySpec | null {
  if (limit === null || limit === undefined) return null;
  const value = Number(limit);
  if (!Number.isSafeInteger(value) || value < 1 || value > 1_000_000) return null;
  return mode === "shadow" ? { limit: value, mode: "shadow" } : { limit: value };
}
