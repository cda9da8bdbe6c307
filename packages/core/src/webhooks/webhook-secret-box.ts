import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { KeyGuardError } from "../errors/keyguard-error.js";

/**
 * Endpoint signing secrets at rest. KeyGuard must be able to sign with a secret, so it
 * cannot keep only a hash of it (as it does for API keys); stored as plain text, anyone
 * who reads the database (a backup, a replica, `SELECT` rights) could sign forged events
 * that every receiver accepts. So a secret is stored sealed: AES-256-GCM under a key
 * derived (HKDF-SHA256) from KeyGuard's secret key, with the endpoint's id as associated
 * data, so a sealed secret copied onto another endpoint's row does not open.
 *
 * Format: `v1.<iv>.<ciphertext+tag>` (base64url). After `rotate-secret`, secrets sealed
 * under the previous secret key still open while it is listed in `previousSecretKeys`.
 */

const INFO = "keyguard webhook signing secret v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

function keyFor(serverSecret: string): Buffer {
  return Buffer.from(hkdfSync("sha256", serverSecret, Buffer.alloc(0), INFO, 32));
}

/** Seals `secret` for endpoint `endpointId` under the server secret. */
export function sealWebhookSecret(
  secret: string,
  endpointId: string,
  serverSecret: string,
): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", keyFor(serverSecret), iv);
  cipher.setAAD(Buffer.from(endpointId, "utf8"));
  const sealed = Buffer.concat([
    cipher.update(secret, "utf8"),
    cipher.final(),
    cipher.getAuthTag(),
  ]);
  return `v1.${iv.toString("base64url")}.${sealed.toString("base64url")}`;
}

/**
 * Opens a sealed secret with the first of `serverSecrets` (current, then previous ones)
 * that sealed it; `index` says which. Throws `secret_mismatch` when none does.
 */
export function openWebhookSecret(
  sealed: string,
  endpointId: string,
  serverSecrets: readonly string[],
): { readonly secret: string; readonly index: number } {
  const [version, ivText, bodyText] = sealed.split(".");
  if (version === "v1" && ivText !== undefined && bodyText !== undefined) {
    const iv = Buffer.from(ivText, "base64url");
    const body = Buffer.from(bodyText, "base64url");
    if (iv.length === IV_BYTES && body.length > TAG_BYTES) {
      for (const [index, serverSecret] of serverSecrets.entries()) {
        try {
          const decipher = createDecipheriv("aes-256-gcm", keyFor(serverSecret), iv);
          decipher.setAAD(Buffer.from(endpointId, "utf8"));
          decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
          const secret = Buffer.concat([
            decipher.update(body.subarray(0, body.length - TAG_BYTES)),
            decipher.final(),
          ]).toString("utf8");
          return { secret, index };
        } catch {
          // Not this server secret: try the next one.
        }
      }
    }
  }
  throw new KeyGuardError(
    "secret_mismatch",
    "This webhook endpoint's signing secret was sealed under a secret key that is not configured (neither the secret key nor a previous one): configure it in previousSecretKeys, or register the endpoint again.",
  );
}

/** A new signing secret: `whsec_` and 32 random bytes (base64url). */
export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64url")}`;
}
