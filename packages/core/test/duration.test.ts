import { describe, expect, it } from "vitest";
import { KeyGuardError } from "../src/errors/keyguard-error.js";
import { MAX_DURATION_MS, parseDuration } from "../src/util/duration.js";

describe("parseDuration", () => {
  it.each([
    ["90s", 90_000],
    ["15m", 900_000],
    ["24h", 86_400_000],
    ["30d", 2_592_000_000],
    ["1 hour", 3_600_000],
    ["2 days", 172_800_000],
    ["1h30m", 5_400_000],
    ["1h 30m", 5_400_000],
    ["1.5h", 5_400_000],
    ["2 weeks", 1_209_600_000],
    ["86400", 86_400_000],
    ["250ms", 250],
    [" 10 Minutes ", 600_000],
  ])("reads %j", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it("reads a number as seconds, as keyguard-python's lockout=86400", () => {
    expect(parseDuration(86_400)).toBe(86_400_000);
  });

  it.each(["", "abc", "0", "-5m", "5 fortnights", "h", "10m garbage", "1e3s", "0s"])(
    "refuses %j with a message naming the option",
    (text) => {
      expect(() => parseDuration(text, "--grace")).toThrow(KeyGuardError);
      expect(() => parseDuration(text, "--grace")).toThrow(/--grace .* is not a duration/);
    },
  );
});

describe("parseDuration bounds", () => {
  it.each([
    1e300,
    1e12,
    Number.MAX_VALUE,
    "99999999999 days",
    "3651d",
    "522 weeks",
    `${"9".repeat(60)}d`,
  ])(
    "refuses %j as too long (over 10 years), so no end time is past what a Date holds",
    (value) => {
      expect(() => parseDuration(value, "duration")).toThrow(
        /duration .* is too long: at most 3650 days/,
      );
    },
  );

  it("accepts exactly 10 years", () => {
    expect(parseDuration("3650d")).toBe(MAX_DURATION_MS);
    expect(parseDuration(MAX_DURATION_MS / 1000)).toBe(MAX_DURATION_MS);
  });

  it.each([
    1e-9,
    "0.0001ms",
    "5 constructor",
    "1 __proto__",
    "x".repeat(100_000),
    Number.NaN,
    Infinity,
  ])("refuses %j as no duration", (value) => {
    expect(() => parseDuration(value as string, "--grace")).toThrow(/--grace .* is not a duration/);
  });
});
