import { randomBytes } from "node:crypto";

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
const BODY_LENGTH = TYPE_PREFIX_LENGTH + RANDOM_LENGTH;
/** Characters of the random part kept in the display prefix (`kg_live_` + 4, as in keyguard-python). */
const DISPLAY_RANDOM_CHARS = 4;

export const RAW_KEY_LENGTH = BODY_LENGTH + CHECKSUM_LENGTH;
export const DISPLAY_PREFIX_LENGTH = TYPE_PREFIX_LENGTH + DISPLAY_RANDOM_CHARS;

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE64URL = `${BASE62.slice(10)}${BASE62.slice(0, 10)}-_`;

// Lookup tables: this check runs on every request, including floods of junk keys, so it
// is one pass over the string with no allocation (no slices, no regex, no string building).
const BASE62_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE62.length; i++) BASE62_VALUE[BASE62.charCodeAt(i)] = i;
const IS_BASE64URL = new Uint8Array(128);
for (const char of BASE64URL) IS_BASE64URL[char.charCodeAt(0)] = 1;

const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}

/** CRC-32 (IEEE, as zlib) of the first `length` bytes. */
function crc32(bytes: Uint8Array, length: number): number {
  let crc = -1;
  for (let i = 0; i < length; i++) {
    crc = (CRC_TABLE[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  }
  return (crc ^ -1) >>> 0;
}

/**
 * Where a candidate key's UTF-8 bytes are checked: a key is ASCII, so a well-formed one is
 * exactly RAW_KEY_LENGTH bytes; the room for 3 bytes per character lets any string of the
 * right length be written whole, so a non-ASCII one shows as more bytes than characters.
 *
 * Bytes, not `charCodeAt`: once any loaded module makes `String.prototype` the prototype
 * of another object (ioredis 6 does, with `class VerbatimString extends String`), V8
 * (Node 20) runs every string method call on a slower path, and this per-character loop
 * went from 0.3 to 1.1 µs per request. One `write` and a byte loop cost the same either way.
 */
const candidate = Buffer.alloc(RAW_KEY_LENGTH * 3);
const PREFIX_LIVE = Buffer.from("kg_live_", "latin1");
const PREFIX_TEST = Buffer.from("kg_test_", "latin1");

function startsWithBytes(bytes: Uint8Array, prefix: Uint8Array): boolean {
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function encodeChecksum(crc: number): string {
  let value = crc;
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
  const body = `kg_${environment}_${randomBytes(RANDOM_BYTES).toString("base64url")}`;
  const rawKey = body + encodeChecksum(crc32(Buffer.from(body, "latin1"), BODY_LENGTH));
  return { rawKey, prefix: rawKey.slice(0, DISPLAY_PREFIX_LENGTH) };
}

/** The candidate's bytes of a well-formed key: a fixed view, so answering allocates nothing. */
const CANDIDATE_KEY_BYTES = candidate.subarray(0, RAW_KEY_LENGTH);

/**
 * The UTF-8 bytes of `value` when it has the exact shape of a KeyGuard key and its
 * checksum matches, else `undefined`. Does no I/O and allocates nothing (one preallocated
 * buffer, reused), so it is safe and cheap on hostile input (10 KB headers, control
 * characters, non-ASCII) before anything else runs. The bytes are a view of that buffer,
 * valid until the next call: the verifier hands them straight to the key hasher, so a
 * request's key is written out once, not once for the check and again for the HMAC.
 */
export function wellFormedKeyBytes(value: string): Uint8Array | undefined {
  if (value.length !== RAW_KEY_LENGTH) return undefined;
  const bytes = candidate;
  if (bytes.write(value, 0, "utf8") !== RAW_KEY_LENGTH) return undefined; // non-ASCII
  if (!startsWithBytes(bytes, PREFIX_LIVE) && !startsWithBytes(bytes, PREFIX_TEST)) {
    return undefined;
  }
  for (let i = TYPE_PREFIX_LENGTH; i < BODY_LENGTH; i++) {
    const code = bytes[i] as number;
    if (code >= 128 || IS_BASE64URL[code] === 0) return undefined;
  }
  let checksum = 0;
  for (let i = BODY_LENGTH; i < RAW_KEY_LENGTH; i++) {
    const code = bytes[i] as number;
    const digit = code < 128 ? (BASE62_VALUE[code] as number) : -1;
    if (digit < 0) return undefined;
    checksum = checksum * 62 + digit;
  }
  return checksum === crc32(bytes, BODY_LENGTH) ? CANDIDATE_KEY_BYTES : undefined;
}

/** True when `value` has the exact shape of a KeyGuard key and its checksum matches. */
export function isWellFormedKey(value: string): boolean {
  return wellFormedKeyBytes(value) !== undefined;
}

/** The environment (`live` / `test`) a well-formed key was issued for. */
export function keyEnvironmentOf(rawKey: string): KeyEnvironment {
  return rawKey.startsWith("kg_test_") ? "test" : "live";
}
