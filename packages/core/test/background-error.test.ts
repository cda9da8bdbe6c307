import { describe, expect, it } from "vitest";
import { KeyGuardError } from "../src/errors/keyguard-error.js";
import { errorKindOf, rateLimitErrors, SuppressedErrors } from "../src/util/background-error.js";
import { TestClock } from "./support/test-clock.js";

/** What ioredis rejects with when Redis refuses a write for lack of memory. */
function oomReply(): Error {
  const error = new Error("OOM command not allowed when used memory > 'maxmemory'.");
  error.name = "ReplyError";
  return error;
}

describe("rateLimitErrors", () => {
  it("passes the first error of each kind at once, then one summary per interval", () => {
    const clock = new TestClock();
    const seen: unknown[] = [];
    const report = rateLimitErrors((error) => seen.push(error), { clock, intervalMs: 60_000 });
    const first = oomReply();
    report(first);
    for (let i = 0; i < 10_000; i++) report(oomReply());
    const down = new KeyGuardError("database_unavailable", "the database is unreachable");
    report(down);
    report(down);
    expect(seen).toEqual([first, down]);

    clock.advance(60_000);
    report(oomReply()); // the interval is over: its count is summarised, this one is counted
    expect(seen).toHaveLength(4);
    const summaries = seen.slice(2) as SuppressedErrors[];
    expect(summaries.every((s) => s instanceof SuppressedErrors)).toBe(true);
    expect(summaries.map((s) => [s.kind, s.count]).sort()).toEqual([
      ["database_unavailable", 1],
      ["redis:OOM", 10_000],
    ]);
    expect(summaries.find((s) => s.kind === "redis:OOM")?.message).toMatch(
      /^10000 more errors of kind redis:OOM in the last 60 s .*last: OOM command not allowed/,
    );

    // A kind quiet for a whole interval is reported at once again.
    clock.advance(60_000);
    clock.advance(60_000);
    const again = new KeyGuardError("database_unavailable", "gone again");
    report(again);
    // The second interval's one OOM was summarised when its interval ended.
    expect(seen.slice(-2)).toEqual([
      expect.objectContaining({ kind: "redis:OOM", count: 1 }),
      again,
    ]);
    report(again);
    report.close(); // hands on what is still counted
    expect(seen.at(-1)).toMatchObject({ kind: "database_unavailable", count: 1 });
  });

  it("keeps a flood to a bounded number of lines whatever its length", () => {
    const clock = new TestClock();
    let lines = 0;
    const report = rateLimitErrors(() => lines++, { clock, intervalMs: 60_000 });
    // An hour of 100 OOM errors a second.
    for (let second = 0; second < 3_600; second++) {
      for (let i = 0; i < 100; i++) report(oomReply());
      clock.advance(1_000);
    }
    report.close();
    // The first at once, then at most one summary per minute.
    expect(lines).toBeGreaterThanOrEqual(2);
    expect(lines).toBeLessThanOrEqual(1 + 61);
  });

  it("bounds the kinds it tracks, and survives a reporter that throws", () => {
    const clock = new TestClock();
    const seen: unknown[] = [];
    const report = rateLimitErrors(
      (error) => {
        seen.push(error);
        throw new Error("the log is gone");
      },
      { clock, maxKinds: 3 },
    );
    for (let i = 0; i < 100; i++) {
      const error = new Error(`failure ${i}`) as Error & { code: string };
      error.code = `E${i}`;
      report(error);
    }
    expect(seen).toHaveLength(4); // three kinds, then everything else as "other"
    report.close();
    expect(seen.at(-1)).toMatchObject({ kind: "other", count: 96 });
  });

  it("is applied once even when wrapped twice", () => {
    const seen: unknown[] = [];
    const once = rateLimitErrors((error) => seen.push(error));
    expect(rateLimitErrors(once)).toBe(once);
  });
});

describe("errorKindOf", () => {
  it("names kinds by code, never by message text", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 10.0.0.7:5432"), {
      code: "ECONNREFUSED",
    });
    expect(errorKindOf(refused)).toBe("ECONNREFUSED");
    expect(errorKindOf(new KeyGuardError("database_unavailable", "down", { cause: refused }))).toBe(
      "database_unavailable/ECONNREFUSED",
    );
    expect(errorKindOf(oomReply())).toBe("redis:OOM");
    expect(errorKindOf(new Error("Command timed out"))).toBe("timeout");
    expect(errorKindOf(new TypeError("x is undefined"))).toBe("TypeError");
    expect(errorKindOf(Object.assign(new Error("x"), { code: "a b".repeat(50) }))).toBe("Error");
    expect(errorKindOf("text")).toBe("string");
    const cycle = new KeyGuardError("service_unavailable", "a");
    Object.defineProperty(cycle, "cause", { value: cycle });
    expect(errorKindOf(cycle)).toBe("service_unavailable/service_unavailable/service_unavailable");
  });
});
