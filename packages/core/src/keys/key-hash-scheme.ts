import { createHash } from "node:crypto";

/**
 * How a stored `key_hash` was computed from the raw key (`api_keys.key_hash_scheme`):
 *
 * - `hmac-sha256`: KeyGuard's own keys, HMAC-SHA256 keyed with the secret (hex).
 * - `imported-hmac-sha256`: a key imported from another system (its raw key is not in
 *   KeyGuard's format) that has been presented once and re-stored under the same HMAC.
 * - `keyguard-python`: keyguard-python's SHA-256(raw key + its SECRET_KEY), hex.
 * - `sha256-hex`, `sha256-base64url`: plain SHA-256 of the raw key, as Unkey and
 *   better-auth store keys.
 *
 * The last three are "legacy" hashes: verified by their own rule and upgraded to
 * `imported-hmac-sha256` the first time their key is presented.
 */
export type KeyHashScheme =
  | "hmac-sha256"
  | "imported-hmac-sha256"
  | "keyguard-python"
  | "sha256-hex"
  | "sha256-base64url";

export const KEY_HASH_SCHEMES: readonly KeyHashScheme[] = [
  "hmac-sha256",
  "imported-hmac-sha256",
  "keyguard-python",
  "sha256-hex",
  "sha256-base64url",
];

/** Schemes whose hashes are still in another system's form, waiting for the key's first use. */
export type LegacyHashScheme = "keyguard-python" | "sha256-hex" | "sha256-base64url";

export const LEGACY_HASH_SCHEMES: readonly LegacyHashScheme[] = [
  "keyguard-python",
  "sha256-hex",
  "sha256-base64url",
];

export function isKeyHashScheme(value: unknown): value is KeyHashScheme {
  return typeof value === "string" && (KEY_HASH_SCHEMES as readonly string[]).includes(value);
}

export function isLegacyHashScheme(value: unknown): value is LegacyHashScheme {
  return typeof value === "string" && (LEGACY_HASH_SCHEMES as readonly string[]).includes(value);
}

/**
 * The hash a legacy scheme stores for `rawKey`. `keyguard-python` needs the old
 * SECRET_KEY (concatenated after the key, exactly as keyguard-python did).
 */
export function legacyHashOf(
  scheme: LegacyHashScheme,
  rawKey: string,
  legacySecret?: string,
): string {
  if (scheme === "keyguard-python") {
    return createHash("sha256")
      .update(rawKey + (legacySecret ?? ""), "utf8")
      .digest("hex");
  }
  return createHash("sha256")
    .update(rawKey, "utf8")
    .digest(scheme === "sha256-hex" ? "hex" : "base64url");
}
