import { monthPolicy, policyWindow } from "@keyguard/testkit";
import { describe, expect, it } from "vitest";
import { decodeDecideReply, decodeHitReply, OUTCOME } from "../src/scripts/decide.js";

/** The decide script's replies, decoded without a Redis: literal replies as it sends them. */
describe("decodeDecideReply", () => {
  const burst = policyWindow("burst", 3, 1_000);
  const trial = policyWindow("trial", 1, 60_000, "sliding-window-log", { mode: "shadow" });
  const month = monthPolicy(10);

  it("reads a block", () => {
    const outcome = decodeDecideReply(
      [OUTCOME.ipBlocked, 5_000, "manual", "path"],
      [burst],
      1,
      "c",
      "/x",
    );
    expect(outcome).toEqual({
      kind: "blocked",
      block: { client: "c", scope: "path", path: "/x", untilMs: 5_000, reason: "manual" },
    });
  });

  it("reads a lost seeded count", () => {
    expect(decodeDecideReply([OUTCOME.quotaSeedLost], [month], 1, "c", "/x")).toEqual({
      kind: "seed-lost",
    });
  });

  it("gives each allowed request its own figures and the rest one refusal naming the violated", () => {
    // 3 requests, 2 allowed: burst would take 2 (binding), month 3; each charged 2.
    const reply = [
      OUTCOME.decided,
      2,
      2,
      2,
      2,
      0,
      1_500,
      700,
      1,
      1_500,
      0,
      1_500,
      3,
      2,
      7,
      9_000,
      0,
      9,
      9_000,
      8,
      9_000,
    ];
    const outcome = decodeDecideReply(reply, [burst, month], 3, "c", "/x");
    if (outcome.kind !== "decided") throw new Error(outcome.kind);
    const [first, second, third] = outcome.decisions;
    expect(first).toMatchObject({ allowed: true, remaining: 1, limit: 3 });
    expect(first?.policies.map((p) => p.remaining)).toEqual([1, 9]);
    expect(second?.policies.map((p) => p.remaining)).toEqual([0, 8]);
    expect(third).toMatchObject({
      allowed: false,
      refusal: "rate_limited",
      violated: [0],
      retryAfterMs: 700,
      remaining: 0,
    });
    expect(third?.policies[1]).toMatchObject({ allowed: true, remaining: 7 });
  });

  it("names the month's refusal quota_exceeded, and marks a shadow policy's would-be refusals", () => {
    const reply = [
      OUTCOME.decided,
      1,
      2,
      1,
      1,
      0,
      60_000,
      59_000,
      0,
      60_000,
      1,
      1,
      0,
      9_000,
      8_000,
      0,
      9_000,
    ];
    const refused = decodeDecideReply(reply, [trial, month], 2, "c", "/x");
    if (refused.kind !== "decided") throw new Error(refused.kind);
    expect(refused.decisions[1]).toMatchObject({ refusal: "quota_exceeded", violated: [1] });

    const shadowReply = [
      OUTCOME.decided,
      2,
      2,
      1,
      1,
      0,
      60_000,
      59_000,
      0,
      60_000,
      2,
      2,
      8,
      9_000,
      0,
      9,
      9_000,
      8,
      9_000,
    ];
    const shadow = decodeDecideReply(shadowReply, [trial, month], 2, "c", "/x");
    if (shadow.kind !== "decided") throw new Error(shadow.kind);
    expect(shadow.decisions.map((d) => [d.allowed, d.shadowRefused])).toEqual([
      [true, undefined],
      [true, [0]],
    ]);
  });

  it("refuses a reply for another number of policies", () => {
    expect(() => decodeDecideReply([OUTCOME.decided, 0, 2], [burst], 1, "c", "/x")).toThrow(
      /2 policies, 1 were asked/,
    );
  });
});

describe("decodeHitReply", () => {
  it("reads a bucket's figures", () => {
    expect(decodeHitReply([0, 0, 9_000, 4_000], 5)).toEqual({
      allowed: false,
      limit: 5,
      remaining: 0,
      resetAtMs: 9_000,
      retryAfterMs: 4_000,
    });
  });
});
