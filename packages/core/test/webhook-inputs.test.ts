import { describe, expect, it } from "vitest";
import { parseWebhookEvents, parseWebhookUrl, webhookBackoffMs } from "../src/internal.js";
import { openWebhookSecret, sealWebhookSecret } from "../src/webhooks/webhook-secret-box.js";

function messageOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toMatchObject({ code: "invalid_input" });
    return (error as Error).message;
  }
  throw new Error("expected a refusal");
}

describe("webhook inputs", () => {
  it("accepts http and https URLs, normalised", () => {
    expect(parseWebhookUrl("https://example.com/hooks?x=1")).toBe("https://example.com/hooks?x=1");
    expect(parseWebhookUrl("http://127.0.0.1:8080")).toBe("http://127.0.0.1:8080/");
  });

  it("refuses other schemes, credentials, fragments, whitespace and over-long URLs", () => {
    expect(messageOf(() => parseWebhookUrl("ftp://example.com/"))).toBe(
      "url must use http:// or https://",
    );
    expect(messageOf(() => parseWebhookUrl("javascript:alert(1)"))).toBe(
      "url must use http:// or https://",
    );
    expect(messageOf(() => parseWebhookUrl("https://user:pw@example.com/"))).toBe(
      "url must not contain a user name or password",
    );
    expect(messageOf(() => parseWebhookUrl("https://example.com/#x"))).toBe(
      "url must not contain a fragment (#...)",
    );
    expect(messageOf(() => parseWebhookUrl("https://exa\nmple.com/"))).toBe(
      "url must not contain spaces or control characters",
    );
    expect(messageOf(() => parseWebhookUrl(`https://example.com/${"a".repeat(2100)}`))).toBe(
      "url must be at most 2048 characters",
    );
    expect(messageOf(() => parseWebhookUrl("/relative"))).toBe(
      "url must be an absolute http:// or https:// URL",
    );
    expect(messageOf(() => parseWebhookUrl(42))).toBe("url must be a string");
  });

  it("accepts known event names and *, each once; refuses others and too many", () => {
    expect(parseWebhookEvents(["key.revoked", "ip.auto_blocked", "key.revoked"])).toEqual([
      "key.revoked",
      "ip.auto_blocked",
    ]);
    expect(parseWebhookEvents(["*"])).toEqual(["*"]);
    expect(parseWebhookEvents(["key.expiring", "quota.exceeded"])).toEqual([
      "key.expiring",
      "quota.exceeded",
    ]);
    expect(messageOf(() => parseWebhookEvents(["key.exploded"]))).toMatch(
      /^events: key\.exploded is not an event KeyGuard sends; use \* or one of organization\.created, /,
    );
    expect(messageOf(() => parseWebhookEvents(["x".repeat(10_000)]))).toMatch(
      /^events: \(an unknown name\) is not/,
    );
    expect(messageOf(() => parseWebhookEvents([]))).toBe(
      "events must name at least one event (or *)",
    );
    expect(messageOf(() => parseWebhookEvents(Array(33).fill("*")))).toBe(
      "events must name at most 32 events",
    );
    expect(messageOf(() => parseWebhookEvents("key.revoked"))).toBe(
      "events must be a list of event names",
    );
  });
});

describe("webhook backoff", () => {
  it("doubles from the initial wait up to the cap, jittered within the upper half", () => {
    expect(webhookBackoffMs(1, 10_000, 3_600_000, () => 0)).toBe(5_000);
    expect(webhookBackoffMs(1, 10_000, 3_600_000, () => 1)).toBe(10_000);
    expect(webhookBackoffMs(3, 10_000, 3_600_000, () => 1)).toBe(40_000);
    expect(webhookBackoffMs(30, 10_000, 3_600_000, () => 1)).toBe(3_600_000);
    expect(webhookBackoffMs(1_000, 10_000, 3_600_000, () => 0.5)).toBe(2_700_000);
  });
});

describe("sealed signing secrets", () => {
  it("open with the server secret that sealed them (current or previous), for their endpoint only", () => {
    const sealed = sealWebhookSecret("whsec_abc", "endpoint-1", "server-secret-one");
    expect(sealed).not.toContain("whsec_abc");
    expect(openWebhookSecret(sealed, "endpoint-1", ["server-secret-one"])).toEqual({
      secret: "whsec_abc",
      index: 0,
    });
    expect(
      openWebhookSecret(sealed, "endpoint-1", ["server-secret-two", "server-secret-one"]),
    ).toEqual({ secret: "whsec_abc", index: 1 });
    expect(() => openWebhookSecret(sealed, "endpoint-2", ["server-secret-one"])).toThrow(
      expect.objectContaining({ code: "secret_mismatch" }),
    );
    expect(() => openWebhookSecret(sealed, "endpoint-1", ["server-secret-two"])).toThrow(
      expect.objectContaining({ code: "secret_mismatch" }),
    );
    expect(() => openWebhookSecret("v1.junk", "endpoint-1", ["server-secret-one"])).toThrow(
      expect.objectContaining({ code: "secret_mismatch" }),
    );
  });
});
