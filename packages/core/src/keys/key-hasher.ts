import { createHmac } from "node:crypto";

/** Turns a raw key into the value stored in `api_keys.key_hash`. */
export type KeyHasher = (rawKey: string) => string;

/**
 * HMAC-SHA256 keyed with the secret: the seed's "SHA-256 + secret pepper", done the way a
 * MAC should be (no length-extension, no ambiguity between key and pepper). Without the
 * secret, a leaked database cannot be used to test guesses.
 *
 * Lookups go by this hash through an index (and the cache), never by comparing secrets
 * byte by byte, so they leak nothing useful through timing: an attacker cannot steer the
 * HMAC output of a guess.
 */
export function createKeyHasher(secret: string): KeyHasher {
  return (rawKey) => createHmac("sha256", secret).update(rawKey).digest("hex");
}
