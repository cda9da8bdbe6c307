import { isKeyGuardError } from "../errors/keyguard-error.js";
import { type Clock, systemClock } from "./clock.js";

/** Where failures go when the user gave no `onBackgroundError`: one warning line each. */
export function warnBackgroundError(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof SuppressedErrors ? error.code : "KEYGUARD_BACKGROUND_ERROR";
  process.emitWarning(`KeyGuard: ${message}`, { code });
}

/**
 * The summary a {@link rateLimitErrors} reporter hands on instead of repeating an error:
 * how many more of one kind came in one interval, and the last one's message.
 */
export class SuppressedErrors extends Error {
  override readonly name = "SuppressedErrors";
  readonly code = "KEYGUARD_ERRORS_SUPPRESSED";

  constructor(
    /** The kind, as {@link errorKindOf} names it (`database_unavailable`, `redis:OOM`, ...). */
    readonly kind: string,
    /** Errors of this kind not reported one by one. */
    readonly count: number,
    /** How long they took to come (ms): an interval, or less when reporting stops. */
    readonly periodMs: number,
    lastMessage: string,
  ) {
    super(
      `${count} more error${count === 1 ? "" : "s"} of kind ${kind} in the last ${Math.max(1, Math.round(periodMs / 1000))} s (reported once per kind and interval; last: ${lastMessage.slice(0, 300)})`,
    );
  }
}

export interface RateLimitErrorsOptions {
  /** How often a kind of error is reported: once at once, then one summary per interval. Default 60 s. */
  readonly intervalMs?: number;
  readonly clock?: Clock;
  /** Most kinds tracked; further kinds share one (`other`). Default 32. */
  readonly maxKinds?: number;
}

/** A reporter that will not flood its sink; `close()` hands on what is still counted. */
export interface ErrorReporter {
  (error: unknown): void;
  close(): void;
}

interface KindState {
  windowStartMs: number;
  windowEndMs: number;
  suppressed: number;
  lastMessage: string;
}

const RATE_LIMITED = Symbol.for("keyguard.rateLimitedErrors");

/**
 * Wraps `report` so a flood of failures (Redis out of memory, a database gone, under
 * thousands of requests a second) cannot flood the log: the first error of each kind goes
 * through at once, with its stack and cause; later ones of that kind are counted, and at
 * most one {@link SuppressedErrors} summary per kind per interval says how many there were.
 * A kind quiet for a whole interval is reported at once again when it returns.
 *
 * One timer (unref'd) runs only while something is counted, so a summary is not lost when
 * a flood stops; nothing is scheduled per error. Wrapping a rate-limited reporter again
 * returns it unchanged, so each error is counted once.
 */
export function rateLimitErrors(
  report: (error: unknown) => void,
  options: RateLimitErrorsOptions = {},
): ErrorReporter {
  const existing = report as Partial<ErrorReporter> & { [RATE_LIMITED]?: true };
  if (existing[RATE_LIMITED] === true) return report as ErrorReporter;
  const intervalMs = options.intervalMs ?? 60_000;
  const clock = options.clock ?? systemClock;
  const maxKinds = options.maxKinds ?? 32;
  const kinds = new Map<string, KindState>();
  /** When the earliest window ends: before then, an error costs one map look-up. */
  let nextRollMs = Number.POSITIVE_INFINITY;
  let timer: NodeJS.Timeout | undefined;

  // A reporter that throws must not break what reported (a request, a flush).
  const send = (error: unknown) => {
    try {
      report(error);
    } catch {}
  };
  /** Ends every window that is over: a summary if any were counted, else forgotten. */
  const roll = (now: number) => {
    nextRollMs = Number.POSITIVE_INFINITY;
    for (const [kind, state] of kinds) {
      if (now >= state.windowEndMs) {
        if (state.suppressed === 0) {
          kinds.delete(kind);
          continue;
        }
        send(
          new SuppressedErrors(
            kind,
            state.suppressed,
            now - state.windowStartMs,
            state.lastMessage,
          ),
        );
        // Still flooding: the next interval only counts.
        state.suppressed = 0;
        state.windowStartMs = now;
        state.windowEndMs = now + intervalMs;
      }
      nextRollMs = Math.min(nextRollMs, state.windowEndMs);
    }
  };
  const schedule = () => {
    if (timer !== undefined || kinds.size === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      roll(clock.now());
      schedule();
    }, intervalMs);
    timer.unref();
  };

  const reporter = ((error: unknown) => {
    const now = clock.now();
    if (now >= nextRollMs) roll(now);
    let kind = errorKindOf(error);
    if (!kinds.has(kind) && kinds.size >= maxKinds) kind = "other";
    const state = kinds.get(kind);
    if (state !== undefined) {
      state.suppressed++;
      state.lastMessage = messageOf(error);
      return;
    }
    const windowEndMs = now + intervalMs;
    kinds.set(kind, { windowStartMs: now, windowEndMs, suppressed: 0, lastMessage: "" });
    nextRollMs = Math.min(nextRollMs, windowEndMs);
    schedule();
    send(error);
  }) as ErrorReporter & { [RATE_LIMITED]: true };
  reporter.close = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const now = clock.now();
    for (const [kind, state] of kinds) {
      if (state.suppressed > 0) {
        const periodMs = now - state.windowStartMs;
        send(new SuppressedErrors(kind, state.suppressed, periodMs, state.lastMessage));
      }
    }
    kinds.clear();
    nextRollMs = Number.POSITIVE_INFINITY;
  };
  reporter[RATE_LIMITED] = true;
  return reporter;
}

/**
 * A short, bounded name for what kind of failure `error` is: a KeyGuard error's code
 * (with its cause's kind: `database_unavailable/ECONNREFUSED`), a Node or driver code
 * (`ECONNREFUSED`, PostgreSQL's `57P01`), a Redis error reply's first word (`redis:OOM`,
 * `redis:READONLY`), else the error's class name. Never message text, which can be
 * unbounded (and attacker-influenced).
 */
export function errorKindOf(error: unknown): string {
  return kindOf(error, 0);
}

function kindOf(error: unknown, depth: number): string {
  if (isKeyGuardError(error)) {
    const cause = (error as { cause?: unknown }).cause;
    // Bounded: a cause chain may be long, or even a cycle.
    if (cause === undefined || depth >= 2) return error.code;
    return `${error.code}/${kindOf(cause, depth + 1)}`;
  }
  if (typeof error !== "object" || error === null) return typeof error;
  const { code, name, message } = error as { code?: unknown; name?: unknown; message?: unknown };
  if (typeof code === "string" && /^[A-Za-z0-9_.-]{1,40}$/.test(code)) return code;
  const className = typeof name === "string" && /^\w{1,40}$/.test(name) ? name : "Error";
  // ioredis's ReplyError carries Redis's own error prefix first: OOM, READONLY, NOSCRIPT...
  const word = typeof message === "string" ? /^([A-Z][A-Z_]{1,20})\b/.exec(message) : null;
  if (className === "ReplyError" && word !== null) return `redis:${word[1]}`;
  if (/^Command timed out/.test(typeof message === "string" ? message : "")) return "timeout";
  return className;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
