import { KeyGuardError } from "../errors/keyguard-error.js";

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  sec: 1_000,
  secs: 1_000,
  second: 1_000,
  seconds: 1_000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
};

const PART = /(\d+(?:\.\d+)?)\s*([a-z]+)/gy;

/**
 * The longest duration accepted: 3,650 days (10 years). Blocks, lockouts, grace periods
 * and expiries longer than that are typos, and far enough out (`1e300` seconds,
 * "99999999999 days") they are not even a time a `Date` can hold: every duration ends
 * up as `now + ms` in a stored timestamp.
 */
export const MAX_DURATION_MS = 3_650 * 86_400_000;

/** Longer text is no duration anyone types (and is not worth scanning). */
const MAX_DURATION_TEXT = 64;

/**
 * Parses a human duration into milliseconds: `"30d"`, `"24h"`, `"90s"`, `"1 hour"`,
 * `"2 days"`, `"1h30m"`. A bare number is seconds (keyguard-python's `lockout=86400`). Throws
 * `invalid_input` naming `what` for anything else, including zero and negative values
 * and anything under 1 ms or over {@link MAX_DURATION_MS} (10 years; the error's
 * `details.maxMs` says so).
 *
 * @example
 * ```ts
 * parseDuration("1 hour"); // 3_600_000
 * parseDuration(86400);    // 86_400_000
 * ```
 */
export function parseDuration(value: string | number, what = "duration"): number {
  const shown = String(value).length > 40 ? `${String(value).slice(0, 40)}...` : String(value);
  const invalid = () =>
    new KeyGuardError(
      "invalid_input",
      `${what} "${shown}" is not a duration: use e.g. 90s, 15m, 24h, 30d, "1 hour" or seconds`,
    );
  const bounded = (ms: number) => {
    if (ms > MAX_DURATION_MS) {
      throw new KeyGuardError(
        "invalid_input",
        `${what} "${shown}" is too long: at most ${MAX_DURATION_MS / 86_400_000} days (10 years)`,
        { details: { maxMs: MAX_DURATION_MS } },
      );
    }
    const rounded = Math.round(ms);
    if (!(rounded >= 1)) throw invalid(); // also NaN
    return rounded;
  };
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value <= 0) throw invalid();
    return bounded(value * 1000);
  }
  if (typeof value !== "string" || value.length > MAX_DURATION_TEXT) throw invalid();
  const text = value.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(text)) return parseDuration(Number(text), what);
  let total = 0;
  let consumed = 0;
  PART.lastIndex = 0;
  for (let match = PART.exec(text); match !== null; match = PART.exec(text)) {
    const name = match[2] as string;
    // Own keys only: "5 constructor" must not multiply by Object.prototype.constructor.
    const unit = Object.hasOwn(UNIT_MS, name) ? UNIT_MS[name] : undefined;
    if (unit === undefined) throw invalid();
    total += Number(match[1]) * unit;
    consumed = PART.lastIndex;
    while (text[consumed] === " ") consumed++;
    PART.lastIndex = consumed;
  }
  if (text === "" || consumed !== text.length || total <= 0) throw invalid();
  return bounded(total);
}
