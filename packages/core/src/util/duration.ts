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
 * Parses a human duration into milliseconds: `"30d"`, `"24h"`, `"90s"`, `"1 hour"`,
 * `"2 days"`, `"1h30m"`. A bare number is seconds (the seed's `lockout=86400`). Throws
 * `invalid_input` naming `what` for anything else, including zero and negative values.
 *
 * @example
 * ```ts
 * parseDuration("1 hour"); // 3_600_000
 * parseDuration(86400);    // 86_400_000
 * ```
 */
export function parseDuration(value: string | number, what = "duration"): number {
  const invalid = () =>
    new KeyGuardError(
      "invalid_input",
      `${what} "${String(value)}" is not a duration: use e.g. 90s, 15m, 24h, 30d, "1 hour" or seconds`,
    );
  if (typeof value === "number") {
    if (!Number.isFinite(value) || value <= 0) throw invalid();
    return Math.round(value * 1000);
  }
  const text = value.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(text)) return parseDuration(Number(text), what);
  let total = 0;
  let consumed = 0;
  PART.lastIndex = 0;
  for (let match = PART.exec(text); match !== null; match = PART.exec(text)) {
    const unit = UNIT_MS[match[2] as string];
    if (unit === undefined) throw invalid();
    total += Number(match[1]) * unit;
    consumed = PART.lastIndex;
    while (text[consumed] === " ") consumed++;
    PART.lastIndex = consumed;
  }
  if (text === "" || consumed !== text.length || total <= 0 || !Number.isFinite(total)) {
    throw invalid();
  }
  return Math.round(total);
}
