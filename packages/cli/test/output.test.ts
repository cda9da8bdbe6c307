import { describe, expect, it } from "vitest";
import type { CliIo } from "../src/cli-io.js";
import { colorsFor } from "../src/output/colors.js";
import { renderStatsBox } from "../src/output/stats-box.js";
import { parseExpiry, parseScopes } from "../src/parse-values.js";
import { parseWholeNumber } from "../src/parse-whole-number.js";
import { rawOption } from "../src/raw-options.js";
import { UsageError } from "../src/usage-error.js";

const ANSI_ESCAPE = "\u001b[";

const io = (isTTY: boolean, env: Record<string, string> = {}): CliIo => ({
  stdout: { write: () => true, isTTY },
  stderr: { write: () => true },
  env,
  cwd: "/",
});

describe("colours", () => {
  it("are used only at a terminal, never with NO_COLOR, always with FORCE_COLOR", () => {
    expect(colorsFor(io(true)).red("x")).toContain(ANSI_ESCAPE);
    expect(colorsFor(io(false)).red("x")).toBe("x");
    expect(colorsFor(io(true, { NO_COLOR: "1" })).red("x")).toBe("x");
    expect(colorsFor(io(false, { FORCE_COLOR: "1" })).red("x")).toContain(ANSI_ESCAPE);
    expect(colorsFor(io(false, { FORCE_COLOR: "1", NO_COLOR: "1" })).red("x")).toBe("x");
  });
});

describe("stats box", () => {
  it("matches keyguard-python's layout", () => {
    const box = renderStatsBox({
      organizations: 2,
      totalKeys: 3,
      activeKeys: 2,
      totalRequests: 1247,
      requestsLastHour: 83,
      errorRate: 0.024,
      legacyHashKeys: 0,
      previousSecretKeys: 0,
    });
    expect(box.trim()).toBe(
      [
        "╔══════════════════════════════════════╗",
        "║        KeyGuard Statistics           ║",
        "╠══════════════════════════════════════╣",
        "║  Organizations:    2                 ║",
        "║  Total Keys:       3                 ║",
        "║  Active Keys:      2                 ║",
        "║  Total Requests:   1,247             ║",
        "║  Requests (1h):    83                ║",
        "║  Error Rate:       2.4%              ║",
        "╚══════════════════════════════════════╝",
      ].join("\n"),
    );
  });

  it("widens for big numbers", () => {
    const box = renderStatsBox({
      organizations: 1,
      totalKeys: 1,
      activeKeys: 1,
      totalRequests: 12_345_678_901_234,
      requestsLastHour: 0,
      errorRate: 0,
      legacyHashKeys: 0,
      previousSecretKeys: 0,
    });
    const widths = new Set(
      box
        .trim()
        .split("\n")
        .map((line) => line.length),
    );
    expect(widths.size).toBe(1);
    expect(box).toContain("12,345,678,901,234");
  });
});

describe("option values", () => {
  it("are read exactly as typed", () => {
    expect(rawOption(["create-key", "--label", "007"], "label")).toBe("007");
    expect(rawOption(["--label=a=b"], "label")).toBe("a=b");
    expect(rawOption(["--label", "x", "--label", "y"], "label")).toBe("y");
    expect(rawOption(["--label"], "label")).toBe("");
    expect(rawOption(["--labels", "x"], "label")).toBeUndefined();
    expect(rawOption(["--", "--label", "x"], "label")).toBeUndefined();
  });

  it("are parsed strictly", () => {
    expect(parseWholeNumber("120", "--rate-limit")).toBe(120);
    for (const bad of ["0", "-1", "1.5", "1e3", "12abc", "", "99999999999999999999"]) {
      expect(() => parseWholeNumber(bad, "--rate-limit")).toThrow(UsageError);
    }
    expect(parseScopes(" read, write ,,admin ")).toEqual(["read", "write", "admin"]);
    const now = Date.UTC(2026, 0, 1);
    expect(parseExpiry("30d", now)).toEqual(new Date(now + 30 * 86_400_000));
    expect(parseExpiry("2027-01-31", now)).toEqual(new Date("2027-01-31T00:00:00Z"));
    expect(parseExpiry("never", now)).toBeNull();
    expect(() => parseExpiry("2027-02-31x", now)).toThrow(UsageError);
    expect(() => parseExpiry("soon", now)).toThrow(/neither a duration/);
  });
});
