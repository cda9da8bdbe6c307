import { describe, expect, it } from "vitest";
import {
  formatCredits,
  formatKeyCounts,
  formatKeyLimits,
  formatOrganizationLimits,
  formatPercent,
  formatPolicyScope,
  formatPolicyWindow,
  formatRelative,
  formatRemaining,
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

describe("a key's live limits", () => {
  const policy = (
    name: string,
    scope: "key" | "quota" | "organization",
    window_seconds: number,
    remaining: number | null = 3,
  ) => ({
    name,
    scope,
    mode: "enforce" as const,
    limit: 10_000,
    window_seconds,
    remaining,
    resets_at: null,
  });

  it("says what each policy counts over, told apart by its reserved name and scope", () => {
    expect(formatPolicyWindow(policy("minute", "key", 60))).toBe("per 1m");
    expect(formatPolicyWindow(policy("org.day", "organization", 86_400))).toBe("per 1d");
    expect(formatPolicyWindow(policy("month", "quota", 2_592_000))).toBe("calendar month (UTC)");
    // An organization's window may be called month: it is a window, not the quota.
    expect(formatPolicyWindow(policy("org.month", "organization", 2_592_000))).toBe("per 30d");
    expect(formatPolicyWindow(policy("concurrency", "key", 0))).toBe("in flight at once");
    expect(formatPolicyWindow(policy("org.concurrency", "organization", 0))).toBe(
      "in flight at once",
    );
    expect(formatPolicyWindow(policy("credits", "quota", 0))).toBe("prepaid");
    expect(formatPolicyWindow(policy("credits", "quota", 86_400))).toBe("prepaid, refilled daily");
    expect(formatPolicyWindow(policy("credits", "quota", 2_592_000))).toBe(
      "prepaid, refilled monthly",
    );
    expect(formatPolicyScope(policy("org.day", "organization", 86_400))).toBe(
      "organization (all its keys)",
    );
    expect(formatPolicyScope(policy("month", "quota", 0))).toBe("key and its rotations");
  });

  it("writes what is left as part of the limit, a dash where it is not counted", () => {
    expect(formatRemaining(policy("minute", "key", 60, 1_234))).toBe("1,234 of 10,000");
    expect(formatRemaining(policy("minute", "key", 60, 0))).toBe("0 of 10,000");
    expect(formatRemaining(policy("concurrency", "key", 0, null))).toBe("—");
  });

  it("counts an organization's keys and lists its shared limits", () => {
    expect(formatKeyCounts({ total: 1_500, active: 2 })).toBe("2 active of 1,500");
    expect(formatKeyCounts(null)).toBe("—");
    const org = {
      id: "0190f0c2-5b7e-7cc1-8a47-2d3c0b8e4a11",
      name: "Acme",
      status: "active" as const,
      created_at: "2026-12-01T00:00:00.000Z",
      limits: [{ name: "day", limit: 100, window_seconds: 86_400 }],
      concurrency: null,
      concurrency_mode: null,
    };
    expect(formatOrganizationLimits(org)).toBe("day=100/1d");
    expect(formatOrganizationLimits({ ...org, limits: [] })).toBe("none");
    expect(
      formatOrganizationLimits({ ...org, concurrency: 5, concurrency_mode: "shadow" as const }),
    ).toBe("day=100/1d concurrency=5 (shadow)");
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
