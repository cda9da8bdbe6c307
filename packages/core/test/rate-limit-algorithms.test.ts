import { describe, expect, it } from "vitest";
import { gcra } from "../src/limits/gcra.js";
import { calendarMonth, isQuotaExhausted, monthlyQuota } from "../src/limits/monthly-quota.js";
import { slidingWindowCounter } from "../src/limits/sliding-window-counter.js";
import { slidingWindowLog, slidingWindowLogState } from "../src/limits/sliding-window-log.js";

const S = 1_000;

describe("sliding window log", () => {
  it("follows keyguard-python's timeline (5 per minute)", () => {
    const state = slidingWindowLogState();
    const at = (seconds: number) => slidingWindowLog(state, seconds * S, 5, 60 * S);
    expect(at(0)).toMatchObject({ allowed: true, remaining: 4 });
    expect(at(10).allowed).toBe(true);
    expect(at(40).allowed).toBe(true);
    expect(at(59).allowed).toBe(true);
    expect(at(59.5)).toMatchObject({ allowed: true, remaining: 0 });
    expect(at(59.9)).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 100 });
    // At t=60 the request of t=0 is a full window old and no longer counts.
    expect(at(60).allowed).toBe(true);
    expect(at(62)).toMatchObject({ allowed: false, retryAfterMs: 8 * S, resetAtMs: 70 * S });
    // At most one run (time, running total) per request still in the window.
    expect(state.runs.length - state.head).toBeLessThanOrEqual(2 * 5);
  });

  it("never allows more than the limit in any window", () => {
    const state = slidingWindowLogState();
    let allowed = 0;
    for (let t = 0; t < 60 * S; t += 100)
      if (slidingWindowLog(state, t, 10, 60 * S).allowed) allowed++;
    expect(allowed).toBe(10);
  });
});

describe("sliding window counter", () => {
  it("weights the previous window by its overlap", () => {
    const state = { windowStart: 0, current: 0, previous: 0 };
    for (let i = 0; i < 10; i++)
      expect(slidingWindowCounter(state, 30 * S, 10, 60 * S).allowed).toBe(true);
    expect(slidingWindowCounter(state, 59 * S, 10, 60 * S).allowed).toBe(false);
    // At 90 s, half of the previous window overlaps: 10 * 0.5 = 5 counted, 5 more allowed.
    let allowed = 0;
    for (let i = 0; i < 10; i++)
      if (slidingWindowCounter(state, 90 * S, 10, 60 * S).allowed) allowed++;
    expect(allowed).toBe(5);
    const refused = slidingWindowCounter(state, 90 * S, 10, 60 * S);
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    // Two windows later, nothing carries over.
    expect(slidingWindowCounter(state, 200 * S, 10, 60 * S)).toMatchObject({
      allowed: true,
      remaining: 9,
    });
  });
});

describe("GCRA", () => {
  it("allows a burst of the limit, then one request per interval", () => {
    const state = { tat: 0 };
    let allowed = 0;
    for (let i = 0; i < 20; i++) if (gcra(state, 0, 10, 60 * S).allowed) allowed++;
    expect(allowed).toBe(10);
    const refused = gcra(state, 0, 10, 60 * S);
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 6 * S });
    expect(gcra(state, 5.9 * S, 10, 60 * S).allowed).toBe(false);
    expect(gcra(state, 6 * S, 10, 60 * S)).toMatchObject({ allowed: true, remaining: 0 });
    expect(gcra(state, 7 * S, 10, 60 * S).allowed).toBe(false);
    expect(gcra(state, 120 * S, 10, 60 * S)).toMatchObject({ allowed: true, remaining: 9 });
  });
});

describe("monthly quota", () => {
  it("counts per UTC calendar month and resets on the 1st", () => {
    const state = { monthStart: 0, used: 0 };
    const jan31 = Date.UTC(2026, 0, 31, 23, 59, 59);
    expect(monthlyQuota(state, jan31, 2)).toMatchObject({ allowed: true, remaining: 1 });
    expect(monthlyQuota(state, jan31, 2)).toMatchObject({ allowed: true, remaining: 0 });
    expect(isQuotaExhausted(state, jan31, 2)).toBe(true);
    expect(monthlyQuota(state, jan31, 2)).toMatchObject({
      allowed: false,
      resetAtMs: Date.UTC(2026, 1, 1),
      retryAfterMs: 1_000,
    });
    const feb1 = Date.UTC(2026, 1, 1);
    expect(isQuotaExhausted(state, feb1, 2)).toBe(false);
    expect(monthlyQuota(state, feb1, 2)).toMatchObject({ allowed: true, remaining: 1 });
    expect(calendarMonth(Date.UTC(2026, 11, 15))).toEqual({
      start: Date.UTC(2026, 11, 1),
      end: Date.UTC(2027, 0, 1),
    });
  });

  it("answers each instant with its own month, whatever was asked before", () => {
    // The last month asked for is remembered: its edges and a jump back must still be right.
    const lastMsOfDecember = Date.UTC(2027, 0, 1) - 1;
    expect(calendarMonth(lastMsOfDecember).start).toBe(Date.UTC(2026, 11, 1));
    expect(calendarMonth(Date.UTC(2027, 0, 1)).start).toBe(Date.UTC(2027, 0, 1));
    expect(calendarMonth(lastMsOfDecember).end).toBe(Date.UTC(2027, 0, 1));
    expect(calendarMonth(Date.UTC(2026, 11, 1)).start).toBe(Date.UTC(2026, 11, 1));
    expect(calendarMonth(Date.UTC(2026, 11, 1) - 1)).toEqual({
      start: Date.UTC(2026, 10, 1),
      end: Date.UTC(2026, 11, 1),
    });
  });
});

describe("sliding window log at high rates", () => {
  it("keeps constant work per request and drops old entries", () => {
    const state = slidingWindowLogState();
    let allowed = 0;
    for (let t = 0; t < 300_000; t++)
      if (slidingWindowLog(state, t, 1_000_000, 60_000).allowed) allowed++;
    expect(allowed).toBe(300_000);
    // Only the last window's runs (plus at most as many again before compaction) are kept.
    expect(state.runs.length).toBeLessThanOrEqual(2 * 120_001);
    expect(state.runs.length - state.head).toBe(2 * 60_000);
  });

  it("holds one run per millisecond however many requests it counts, and answers as a list of times would", () => {
    const state = slidingWindowLogState();
    const times: number[] = []; // the plain log, for comparison
    const limit = 5_000;
    const windowMs = 1_000;
    for (let t = 0; t < 3_000; t++) {
      // 0 to 9 requests (some of cost 3) per millisecond: many refused near the limit.
      for (let i = 0; i < (t * 7) % 10; i++) {
        const cost = i % 4 === 3 ? 3 : 1;
        const live = times.filter((at) => at > t - windowMs);
        const counted = live.length;
        const allowed = counted + cost <= limit;
        const leaving = counted + cost - limit;
        const expected = {
          allowed,
          limit,
          remaining: allowed ? limit - counted - cost : Math.max(0, limit - counted),
          resetAtMs: (counted > 0 ? (live[0] as number) : t) + windowMs,
          retryAfterMs: allowed
            ? 0
            : (leaving <= counted ? (live[leaving - 1] as number) : t) + windowMs - t,
        };
        expect(slidingWindowLog(state, t, limit, windowMs, cost)).toEqual(expected);
        if (allowed) for (let c = 0; c < cost; c++) times.push(t);
        times.splice(0, times.length - live.length - (allowed ? cost : 0));
      }
      expect(state.runs.length - state.head).toBeLessThanOrEqual(2 * windowMs);
    }
  });
});
