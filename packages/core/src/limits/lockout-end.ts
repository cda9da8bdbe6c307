import { KeyGuardError } from "../errors/keyguard-error.js";
import { parseDuration } from "../util/duration.js";

/** When a lockout that starts at `now` ends. */
export type LockoutEnd = (now: number) => number;

const CLOCK_TIME = /^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$/i;

/**
 * Reads a lockout as keyguard-python wrote them: seconds (`86400`), a duration (`"1 hour"`), or a
 * clock time (`"4:00 PM"`, `"16:00"`) meaning "until its next occurrence" in `timeZone`.
 * Checked once, when the rule is created: a bad value is an `invalid_config` error then.
 */
export function lockoutEnd(lockout: number | string, timeZone: string): LockoutEnd {
  if (typeof lockout === "string") {
    const clock = CLOCK_TIME.exec(lockout.trim());
    if (clock !== null && (clock[2] !== undefined || clock[3] !== undefined)) {
      let hour = Number(clock[1]);
      const minute = Number(clock[2] ?? 0);
      const meridiem = clock[3]?.toLowerCase();
      if (meridiem !== undefined && (hour < 1 || hour > 12)) throw badLockout(lockout);
      if (meridiem === "pm" && hour !== 12) hour += 12;
      if (meridiem === "am" && hour === 12) hour = 0;
      if (hour > 23 || minute > 59) throw badLockout(lockout);
      return (now) => nextWallClockTime(now, hour, minute, timeZone);
    }
  }
  let ms: number;
  try {
    ms = parseDuration(lockout, "lockout");
  } catch {
    throw badLockout(lockout);
  }
  return (now) => now + ms;
}

function badLockout(lockout: unknown): KeyGuardError {
  return new KeyGuardError(
    "invalid_config",
    `lockout ${JSON.stringify(lockout)} is not seconds, a duration ("1 hour") or a clock time ("4:00 PM", "16:00")`,
  );
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The wall-clock reading in `timeZone` at `instant`, expressed as if it were UTC. */
function wallClock(instant: number, timeZone: string): number {
  let format = formatters.get(timeZone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(timeZone, format);
  }
  const parts: Record<string, number> = {};
  for (const part of format.formatToParts(instant)) parts[part.type] = Number(part.value);
  return (
    Date.UTC(
      parts.year ?? 1970,
      (parts.month ?? 1) - 1,
      parts.day ?? 1,
      parts.hour ?? 0,
      parts.minute ?? 0,
      parts.second ?? 0,
    ) +
    (instant % 1000)
  );
}

/** The next instant after `now` at which the clock in `timeZone` reads `hour:minute`. */
function nextWallClockTime(now: number, hour: number, minute: number, timeZone: string): number {
  const wallNow = wallClock(now, timeZone);
  const day = new Date(wallNow);
  let target = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), hour, minute);
  if (target <= wallNow) target += 86_400_000;
  // Wall time -> instant, correcting for the offset at the target (twice covers DST changes).
  let instant = now + (target - wallNow);
  for (let i = 0; i < 2; i++) instant += target - wallClock(instant, timeZone);
  return instant;
}
