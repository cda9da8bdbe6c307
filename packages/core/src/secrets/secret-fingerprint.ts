import { createHmac } from "node:crypto";

/**
 * A fixed message MACed with the secret. Its output tells two secrets apart and says
 * nothing more about them than a key hash already does (both are HMAC-SHA256 under the
 * secret): it is what a database records to know which secret its keys were made with.
 */
const FINGERPRINT_MESSAGE = "keyguard secret fingerprint v1";

/** HMAC-SHA256(secret, a constant), hex: stored by the database, never the secret. */
export function secretFingerprint(secret: string): string {
  return createHmac("sha256", secret).update(FINGERPRINT_MESSAGE).digest("hex");
}

/** The first 12 hex digits, enough to tell secrets apart in messages. */
export function shortFingerprint(fingerprint: string): string {
  return fingerprint.slice(0, 12);
}
