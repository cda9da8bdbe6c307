import { createHmac, timingSafeEqual } from "node:crypto";

/** The header every delivery carries: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`. */
export const WEBHOOK_SIGNATURE_HEADER = "KeyGuard-Signature";

/** How old (or how far in the future) a signature's time may be, by default: 5 minutes. */
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

/** The longest header `verifyWebhookSignature` reads: a real one is under 100 characters. */
const MAX_HEADER_LENGTH = 4096;
/** A header may list a few `v1` signatures (one per secret while a secret is replaced). */
const MAX_SIGNATURES = 8;

/** Why `verifyWebhookSignature` refused a request. */
export type WebhookSignatureFailure =
  | "missing_header"
  | "malformed_header"
  | "timestamp_out_of_tolerance"
  | "signature_mismatch"
  | "malformed_body";

/** Thrown by `verifyWebhookSignature`; `reason` says which check failed. */
export class WebhookSignatureError extends Error {
  readonly reason: WebhookSignatureFailure;

  constructor(reason: WebhookSignatureFailure, message: string) {
    super(message);
    this.name = "WebhookSignatureError";
    this.reason = reason;
  }
}

/** The body as bytes: the signature covers exactly what was received, never a re-encoding. */
function bytesOf(body: string | Uint8Array): Buffer {
  return typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body);
}

/** The hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`. */
export function webhookSignatureDigest(
  body: string | Uint8Array,
  secret: string,
  timestamp: number,
): string {
  return createHmac("sha256", secret)
    .update(`${timestamp}.`, "utf8")
    .update(bytesOf(body))
    .digest("hex");
}

/** The `KeyGuard-Signature` value for a body sent at `timestamp` (Unix seconds). */
export function signWebhookPayload(
  body: string | Uint8Array,
  secret: string,
  timestamp: number,
): string {
  return `t=${timestamp},v1=${webhookSignatureDigest(body, secret, timestamp)}`;
}

export interface VerifyWebhookSignatureOptions {
  /** How far the signature's time may be from now, in seconds (default 300; 0 = no check). */
  readonly toleranceSeconds?: number;
  /** The current time in milliseconds (default `Date.now()`), for tests. */
  readonly now?: number;
}

/**
 * Checks a webhook request from KeyGuard: the `KeyGuard-Signature` header must hold a
 * `v1` HMAC-SHA256 of `"<t>.<raw body>"` under the endpoint's signing secret, and its
 * time `t` must be within `toleranceSeconds` of now (so a captured request cannot be
 * replayed later). Pass the raw body exactly as received, before any JSON parsing.
 * Signatures are compared in constant time. Returns the verified event, parsed; throws
 * a `WebhookSignatureError` (with a `reason`) otherwise.
 *
 * @example
 * ```ts
 * import { verifyWebhookSignature } from "@keyguard/core";
 * app.post("/hooks/keyguard", express.raw({ type: "application/json" }), (req, res) => {
 *   try {
 *     const event = verifyWebhookSignature(req.body, req.get("KeyGuard-Signature"), secret);
 *     // ... handle event.type, once per event.id
 *     res.sendStatus(204);
 *   } catch {
 *     res.sendStatus(400);
 *   }
 * });
 * ```
 */
export function verifyWebhookSignature(
  body: string | Uint8Array,
  header: string | null | undefined,
  secret: string,
  options: VerifyWebhookSignatureOptions = {},
): WebhookEventPayload {
  if (typeof secret !== "string" || secret.length === 0) {
    throw new TypeError("verifyWebhookSignature needs the endpoint's signing secret");
  }
  if (header === undefined || header === null || header === "") {
    throw new WebhookSignatureError(
      "missing_header",
      `The request has no ${WEBHOOK_SIGNATURE_HEADER} header.`,
    );
  }
  if (typeof header !== "string" || header.length > MAX_HEADER_LENGTH) {
    throw new WebhookSignatureError(
      "malformed_header",
      `The ${WEBHOOK_SIGNATURE_HEADER} header is not one KeyGuard sends.`,
    );
  }
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(",")) {
    const separator = part.indexOf("=");
    const name = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (separator < 1) continue;
    if (name === "t" && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (name === "v1" && /^[0-9a-f]{64}$/i.test(value) && signatures.length < MAX_SIGNATURES)
      signatures.push(Buffer.from(value, "hex"));
  }
  if (timestamp === undefined || signatures.length === 0) {
    throw new WebhookSignatureError(
      "malformed_header",
      `The ${WEBHOOK_SIGNATURE_HEADER} header needs t=<unix seconds> and v1=<64 hex digits>.`,
    );
  }
  const tolerance = options.toleranceSeconds ?? DEFAULT_SIGNATURE_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new TypeError("toleranceSeconds must be a number of seconds, at least 0");
  }
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  if (tolerance > 0 && Math.abs(nowSeconds - timestamp) > tolerance) {
    throw new WebhookSignatureError(
      "timestamp_out_of_tolerance",
      `The signature's time is ${nowSeconds - timestamp} s from now, more than the ${tolerance} s tolerated (a replayed request, or a clock that is off).`,
    );
  }
  const expected = Buffer.from(webhookSignatureDigest(body, secret, timestamp), "hex");
  let matched = false;
  // Every listed signature is compared, each in constant time.
  for (const signature of signatures) {
    if (timingSafeEqual(signature, expected)) matched = true;
  }
  if (!matched) {
    throw new WebhookSignatureError(
      "signature_mismatch",
      "No signature matches this body and secret (a different secret, or a body changed on its way, e.g. parsed and serialised again).",
    );
  }
  const text = typeof body === "string" ? body : bytesOf(body).toString("utf8");
  try {
    return JSON.parse(text) as WebhookEventPayload;
  } catch {
    throw new WebhookSignatureError("malformed_body", "The signed body is not JSON.");
  }
}

/** What every delivery's body holds. */
export interface WebhookEventPayload {
  /** The event's id: the same in every attempt, so receivers can drop repeats. */
  readonly id: string;
  readonly type: string;
  /** ISO 8601 time of the event. */
  readonly created_at: string;
  readonly data: Record<string, unknown>;
}
