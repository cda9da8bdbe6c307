import type { LimitSpec } from "@keyguard/core";

/**
 * The `limits` column (keys and organizations): JSON text, null for none. Core validated
 * what is written; what is read is checked for shape again, so a row edited by hand
 * cannot put something else on the request path (an unreadable value is no limits).
 */
export function writeLimits(limits: readonly LimitSpec[] | undefined): string | null {
  if (limits === undefined || limits.length === 0) return null;
  return JSON.stringify(
    limits.map((limit) => ({
      name: limit.name,
      limit: limit.limit,
      windowSeconds: limit.windowSeconds,
      ...(limit.algorithm === undefined ? {} : { algorithm: limit.algorithm }),
      ...(limit.mode === undefined ? {} : { mode: limit.mode }),
    })),
  );
}

const ALGORITHMS = new Set(["sliding-window-log", "sliding-window-counter", "gcra"]);

export function readLimits(value: string | null | undefined): LimitSpec[] | undefined {
  if (value === null || value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  const limits: LimitSpec[] = [];
  for (const item of parsed) {
    if (typeof item !== "object" || item === null) continue;
    const { name, limit, windowSeconds, algorithm, mode } = item as Record<string, unknown>;
    if (
      typeof name !== "string" ||
      !Number.isSafeInteger(limit) ||
      !Number.isSafeInteger(windowSeconds)
    ) {
      continue;
    }
    if ((limit as number) <= 0 || (windowSeconds as number) <= 0) continue;
    limits.push({
      name,
      limit: limit as number,
      windowSeconds: windowSeconds as number,
      ...(typeof algorithm === "string" && ALGORITHMS.has(algorithm)
        ? { algorithm: algorithm as LimitSpec["algorithm"] }
        : {}),
      ...(mode === "shadow" || mode === "enforce" ? { mode } : {}),
    });
  }
  return limits.length === 0 ? undefined : limits;
}
