import { describe, expect, it } from "vitest";
import {
  formatCredits,
  formatKeyLimits,
  formatPercent,
  formatRelative,
  formatTime,
  formatWindow,
  parseLimits,
} from "../app/src/format.js";
import { hrefOf, parseRoute } from "../app/src/route.js";
import { usageSeries, usageTotals } from "../app/src/usage-series.js";

describe("formatting", () => {
  it("writes windows and limits as the CLI takes them", () => {
    expect([1, 60, 90, 3_600, 86_400, 172_800].map(formatWindow)).toEqual([
      "1s",
      "1m",
      "90s",
      "1h",
      "1d",
      "2d",
    ]);
    expect(
      formatKeyLimits({
        rate_limit_per_minute: 60,
        monthly_limit: 10_000,
        limits: [
          { name: "burst", limit: 10, window_seconds: 1 },
          { name: "day", limit: 5_000, window_seconds: 86_400, mode: "shadow" },
        ],
      }),
    ).toBe("minute=60/1m burst=10/1s day=5000/1d (shadow) month=10000");
  });

  it("shows a concurrency cap and credits among the limits", () => {
    const credits = {
      remaining: 7,
      period_credits: 10,
      period_start: "2026-12-01T00:00:00.000Z",
      refills_at: "2027-01-01T00:00:00.000Z",
      refill: { amount: 10, interval: "monthly" as const },
    };
    expect(
      formatKeyLimits({
        rate_limit_per_minute: 60,
        monthly_limit: null,
        limits: [],
        concurrency: 5,
        concurrency_mode: "shadow",
        credits,
      }),
    ).toBe("minute=60/1m concurrency=5 (shadow) credits=7/10 (refill 10 monthly)");
    expect(formatCredits({ ...credits, remaining: null, refill: null })).toBe("10");
  });

  it("reads limits back, and names a bad entry", () => {
    expect(parseLimits("burst=10/1s, day=10000/1d\nhour=100/1h x=5/30")).toEqual([
      { name: "burst", limit: 10, window_seconds: 1 },
      { name: "day", limit: 10_000, window_seconds: 86_400 },
      { name: "hour", limit: 100, window_seconds: 3_600 },
      { name: "x", limit: 5, window_seconds: 30 },
    ]);
    expect(parseLimits("  ")).toEqual([]);
    for (const bad of [
      "burst",
      "burst=10",
      "Burst=10/1s",
      "burst=-1/1s",
      "burst=10/1w",
      "b=1e3/1s",
    ]) {
      expect(() => parseLimits(bad), bad).toThrow(`"${bad}" is not a limit`);
    }
  });

  it("says how long ago, percentages and UTC times", () => {
    const now = Date.parse("2026-12-02T12:00:00Z");
    expect(formatRelative(null, now)).toBe("never");
    expect(formatRelative("2026-12-02T11:59:58Z", now)).toBe("just now");
    expect(formatRelative("2026-12-02T11:57:00Z", now)).toBe("3 min ago");
    expect(formatRelative("2026-12-02T14:30:00Z", now)).toBe("in 2 h");
    expect(formatRelative("2026-11-29T12:00:00Z", now)).toBe("3 d ago");
    expect(formatPercent(0.024)).toBe("2.4%");
    expect(formatPercent(0.0004)).toBe("0.04%");
    expect(formatTime("2026-12-02T04:31:12.345Z")).toBe("2026-12-02 04:31 UTC");
    expect(formatTime(null)).toBe("—");
  });
});

describe("chart data", () => {
  it("has one column per hour, zeros where the API listed none", () => {
    const since = Date.parse("2026-12-02T09:30:00Z");
    const now = Date.parse("2026-12-02T12:10:00Z");
    const series = usageSeries(
      [
        {
          hour: "2026-12-02T10:00:00.000Z",
          total: 7,
          status_2xx: 5,
          status_3xx: 0,
          status_4xx: 2,
          status_5xx: 0,
        },
        {
          hour: "2026-12-02T12:00:00.000Z",
          total: 1,
          status_2xx: 0,
          status_3xx: 0,
          status_4xx: 0,
          status_5xx: 1,
        },
      ],
      since,
      now,
    );
    expect(series.hours.map((s) => new Date(s * 1000).toISOString().slice(11, 13))).toEqual([
      "09",
      "10",
      "11",
      "12",
    ]);
    expect(series.ok).toEqual([0, 5, 0, 0]);
    expect(series.clientErrors).toEqual([0, 2, 0, 0]);
    expect(series.serverErrors).toEqual([0, 0, 0, 1]);
    expect(series.limited).toBeUndefined();
    expect(usageTotals(series)).toEqual({
      total: 8,
      ok: 5,
      clientErrors: 2,
      limited: 0,
      serverErrors: 1,
    });
  });

  it("draws 429s apart when the API counts them apart", () => {
    const hour = "2026-12-02T10:00:00.000Z";
    const row = { hour, total: 9, status_2xx: 4, status_3xx: 0, status_4xx: 5, status_5xx: 0 };
    const since = Date.parse(hour);
    const series = usageSeries([{ ...row, status_429: 3 }], since, since + 1000);
    expect(series.clientErrors).toEqual([2]);
    expect(series.limited).toEqual([3]);
    expect(usageTotals(series)).toEqual({
      total: 9,
      ok: 4,
      clientErrors: 5,
      limited: 3,
      serverErrors: 0,
    });
  });
});

describe("routes", () => {
  it("round-trips every screen through the hash, and sends anything else to the overview", () => {
    const id = "0190f0c2-5b7e-7cc1-8a47-2d3c0b8e4a11";
    for (const route of [
      { screen: "overview" },
      { screen: "organizations" },
      { screen: "keys" },
      { screen: "keys", org: "Acme & Co" },
      { screen: "key", id },
      { screen: "blocks" },
      { screen: "audit", target: id },
    ] as const) {
      expect(parseRoute(hrefOf(route))).toEqual(route);
    }
    expect(parseRoute("#/keys/not-an-id")).toEqual({ screen: "keys" });
    expect(parseRoute("#/javascript:alert(1)")).toEqual({ screen: "overview" });
    expect(parseRoute("")).toEqual({ screen: "overview" });
  });
});
