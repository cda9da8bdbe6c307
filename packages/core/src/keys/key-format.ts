import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";

/**
 * The raw key format:
 *
 * ```
 * kg_live_ 4Gk9mBX3pLqRsW...(43 chars)  1a2B3c
 * └prefix┘ └ 32 random bytes, base64url ┘└CRC32, base62┘
 * ```
 *
 * The checksum is the approach GitHub's token format uses: a typo or a truncated paste is
 * rejected by arithmetic alone, before any hashing, cache or database work, which also
 * keeps floods of junk keys cheap.
 */
export type KeyEnvironment = "live" | "test";

const RANDOM_BYTES = 32;
const RANDOM_LENGTH = 43; // base64url of 32 bytes, no padding
const CHECKSUM_LENGTH = 6; // 62^6 > 2^32, so every CRC32 fits
const TYPE_PREFIX_LENGTH = "kg_live_".length;
/** Characters of the random part kept in the display prefix (`kg_live_` + 4, as in the seed). */
const DISPLAY_RANDOM_CHARS = 4;

export const RAW_KEY_LENGTH = TYPE_PREFIX_LENGTH + RANDOM_LENGTH + CHECKSUM_LENGTH;
export const DISPLAY_PREFIX_LENGTH = TYPE_PREFIX_LENGTH + DISPLAY_RANDOM_CHARS;

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_PART = /^[A-Za-z0-9_-]{43}$/;

function typePrefix(environment: KeyEnvironment): string {
  return `kg_${environment}_`;
}

function checksumOf(body: string): string {
  let value = crc32(body);
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** A freshly generated raw key and the display prefix to store beside its hash. */
export interface GeneratedKey {
  readonly rawKey: string;
  readonly prefix: string;
}

/** Generates a raw key from 32 cryptographically random bytes. */
export function generateRawKey(environment: KeyEnvironment = "live"): GeneratedKey {
  const body = typePrefix(environment) + randomBytes(RANDOM_BYTES).toString("base64url");
  const rawKey = body + checksumOf(body);
  return { rawKey, prefix: rawKey.slice(0, DISPLAY_PREFIX_LENGTH) };
}

/**
 * True when `value` has the exact shape of a KeyGuard key and its checksum matches.
 * Does no I/O and allocates nothing for junk of the wrong length, so it is safe to run on
 * hostile input (10 KB headers, control characters) before anything else.
 */
export function isWellFormedKey(value: string): boolean {
  if (value.length !== RAW_KEY_LENGTH) return false;
  if (!value.startsWith("kg_live_") && !value.startsWith("kg_test_")) return false;
  const body = value.slice(0, TYPE_PREFIX_LENGTH + RANDOM_LENGTH);
  if (!RANDOM_PART.test(body.slice(TYPE_PREFIX_LENGTH))) return false;
  return checksumOf(body) === value.slice(TYPE_PREFIX_LENGTH + RANDOM_LENGTH);
}

/** The environment (`live` / `test`) a well-formed key was issued for. */
export function keyEnvironmentOf(rawKey: string): KeyEnvironment {
  return rawKey.startsWith("kg_test_") ? "test" : "live";
}
