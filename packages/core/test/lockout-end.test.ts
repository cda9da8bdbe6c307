import { describe, expect, it } from "vitest";
import { lockoutEnd } from "../src/limits/lockout-end.js";

const at = (iso: string) => Date.parse(iso);

describe("lockoutEnd", () => {
  it("reads seconds and durations", () => {
    expect(lockoutEnd(86_400, "UTC")(0)).toBe(86_400_000);
    expect(lockoutEnd("1 hour", "UTC")(1000)).toBe(3_601_000);
  });

  it("reads a clock time as its next occurrence in the time zone", () => {
    const fourPm = lockoutEnd("4:00 PM", "UTC");
    expect(fourPm(at("2026-01-15T10:00:00Z"))).toBe(at("2026-01-15T16:00:00Z"));
    expect(fourPm(at("2026-01-15T16:00:00Z"))).toBe(at("2026-01-16T16:00:00Z"));
    expect(lockoutEnd("16:00", "UTC")(at("2026-01-15T17:30:00Z"))).toBe(at("2026-01-16T16:00:00Z"));
    expect(lockoutEnd("12:30 am", "UTC")(at("2026-01-15T10:00:00Z"))).toBe(
      at("2026-01-16T00:30:00Z"),
    );
    // 4 PM in New York is 21:00 UTC in winter and 20:00 UTC in summer.
    const ny = lockoutEnd("4:00 PM", "America/New_York");
    expect(ny(at("2026-01-15T10:00:00Z"))).toBe(at("2026-01-15T21:00:00Z"));
    expect(ny(at("2026-07-15T10:00:00Z"))).toBe(at("2026-07-15T20:00:00Z"));
    // Across the spring-forward night (2026-03-08 in the US).
    expect(lockoutEnd("09:00", "America/New_York")(at("2026-03-07T20:00:00Z"))).toBe(
      at("2026-03-08T13:00:00Z"),
    );
    expect(lockoutEnd("5:45", "Asia/Kolkata")(at("2026-01-15T00:00:00Z"))).toBe(
      at("2026-01-15T00:15:00Z"),
    );
  });

  it("refuses anything else when the rule is made", () => {
    for (const bad of ["tomorrow", "25:00", "13:00 pm", "4:60", "", -5, 0]) {
      expect(() => lockoutEnd(bad, "UTC"), String(bad)).toThrow(/lockout/);
    }
  });
});
