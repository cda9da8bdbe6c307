import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signWebhookPayload, verifyWebhookSignature, WebhookSignatureError } from "../src/index.js";

const SECRET = "whsec_test-secret";
const BODY = JSON.stringify({
  id: "e1",
  type: "key.revoked",
  created_at: "2026-01-01T00:00:00.000Z",
  data: {},
});
const NOW = Date.UTC(2026, 0, 1, 12);
const T = Math.floor(NOW / 1000);

function reasonOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof WebhookSignatureError) return error.reason;
    throw error;
  }
  return undefined;
}

describe("webhook signatures (t=<unix>,v1=<hex HMAC-SHA256 of 't.body'>)", () => {
  it("signs as Stripe does, and verifies its own signature, returning the event", () => {
    const header = signWebhookPayload(BODY, SECRET, T);
    const expected = createHmac("sha256", SECRET).update(`${T}.${BODY}`).digest("hex");
    expect(header).toBe(`t=${T},v1=${expected}`);
    expect(verifyWebhookSignature(BODY, header, SECRET, { now: NOW })).toMatchObject({ id: "e1" });
    expect(verifyWebhookSignature(Buffer.from(BODY), header, SECRET, { now: NOW })).toMatchObject({
      type: "key.revoked",
    });
  });

  it("refuses a changed body, another secret, a missing or malformed header", () => {
    const header = signWebhookPayload(BODY, SECRET, T);
    expect(reasonOf(() => verifyWebhookSignature(`${BODY} `, header, SECRET, { now: NOW }))).toBe(
      "signature_mismatch",
    );
    expect(reasonOf(() => verifyWebhookSignature(BODY, header, "whsec_other", { now: NOW }))).toBe(
      "signature_mismatch",
    );
    expect(reasonOf(() => verifyWebhookSignature(BODY, undefined, SECRET, { now: NOW }))).toBe(
      "missing_header",
    );
    for (const bad of [
      "garbage",
      `t=${T}`,
      "v1=abc",
      `t=x,v1=${"0".repeat(64)}`,
      "x".repeat(5000),
    ]) {
      expect(reasonOf(() => verifyWebhookSignature(BODY, bad, SECRET, { now: NOW }))).toBe(
        "malformed_header",
      );
    }
  });

  it("refuses a signature older or newer than the tolerance (default 300 s)", () => {
    const old = signWebhookPayload(BODY, SECRET, T - 301);
    expect(reasonOf(() => verifyWebhookSignature(BODY, old, SECRET, { now: NOW }))).toBe(
      "timestamp_out_of_tolerance",
    );
    const future = signWebhookPayload(BODY, SECRET, T + 301);
    expect(reasonOf(() => verifyWebhookSignature(BODY, future, SECRET, { now: NOW }))).toBe(
      "timestamp_out_of_tolerance",
    );
    expect(
      verifyWebhookSignature(BODY, old, SECRET, { now: NOW, toleranceSeconds: 600 }),
    ).toMatchObject({ id: "e1" });
    expect(
      reasonOf(() =>
        verifyWebhookSignature(BODY, signWebhookPayload(BODY, SECRET, T - 299), SECRET, {
          now: NOW,
        }),
      ),
    ).toBeUndefined();
  });

  it("accepts a header listing several v1 signatures when one matches", () => {
    const good = signWebhookPayload(BODY, SECRET, T).split("v1=")[1];
    const header = `t=${T},v1=${"a".repeat(64)},v1=${good}`;
    expect(verifyWebhookSignature(BODY, header, SECRET, { now: NOW })).toMatchObject({ id: "e1" });
  });
});
