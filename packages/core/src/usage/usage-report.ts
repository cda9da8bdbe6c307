import { KeyGuardError } from "../errors/keyguard-error.js";

const HOUR_MS = 3_600_000;
/** One bucket per hour: a report reaching back to 1970 would be half a million of them. */
const MAX_REPORT_MS = 366 * 24 * HOUR_MS;

/**
 * Checks an hourly report's start (`usage`, `usageOverview`): a valid time, not in the
 * future, within the last 366 days.
 */
export function checkReportStart(since: unknown, now: number): Date {
  const sinceMs = since instanceof Date ? since.getTime() : Number.NaN;
  if (Number.isNaN(sinceMs)) throw new KeyGuardError("invalid_input", "since must be a valid date");
  if (sinceMs > now) throw new KeyGuardError("invalid_input", "since must not be in the future");
  if (now - sinceMs > MAX_REPORT_MS) {
    throw new KeyGuardError("invalid_input", "since must be within the last 366 days");
  }
  return since as Date;
}

/**
 * A report's rows with every hour from `since`'s to `now`'s: the hours the store had no
 * requests for (it omits them) are `empty(hour)`.
 */
export function fillHours<T extends { readonly hour: Date }>(
  rows: readonly T[],
  since: Date,
  now: number,
  empty: (hour: Date) => T,
): T[] {
  const byHour = new Map(rows.map((row) => [row.hour.getTime(), row]));
  const hours: T[] = [];
  for (let hour = Math.floor(since.getTime() / HOUR_MS) * HOUR_MS; hour <= now; hour += HOUR_MS) {
    hours.push(byHour.get(hour) ?? empty(new Date(hour)));
  }
  return hours;
}
