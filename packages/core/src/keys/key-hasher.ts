import { createHash, createHmac, hash } from "node:crypto";

/**
 * Turns a raw key into the value stored in `api_keys.key_hash`. `ofBytes`, where a hasher
 * has it, does the same for a key already written out as UTF-8 (by the format check).
 */
export type KeyHasher = ((rawKey: string) => string) & {
  readonly ofBytes?: (keyBytes: Uint8Array) => string;
};

const BLOCK = 64; // SHA-256 block size
const MAX_FAST_INPUT = 256; // bytes of message the preallocated buffer holds

/**
 * HMAC-SHA256 keyed with the secret, in hex: keyguard-python's "SHA-256 + secret pepper", done
 * the way a MAC should be (no length extension, no ambiguity between key and pepper).
 * Without the secret, a leaked database cannot be used to test guesses.
 *
 * Lookups go by this hash through an index (and the cache), never by comparing secrets
 * byte by byte, so they leak nothing useful through timing: an attacker cannot steer the
 * HMAC output of a guess.
 *
 * This runs on every request, so it is RFC 2104 spelled out over two one-shot
 * `crypto.hash` calls on preallocated buffers: about half the cost of `createHmac`, which
 * builds a keyed context per call. The output is identical (the tests check it against
 * `createHmac`); inputs too long for the buffer take the `createHmac` path.
 *
 * With `memoEntries`, the answers for that many recent keys (oldest out first) are
 * remembered by their inner digest, SHA-256((secret XOR ipad) || key): a key seen
 * recently then costs the inner hash only, half the work, and a key never seen costs
 * nothing more than without the memo (its inner digest is needed anyway). The memo holds
 * secret-keyed digests and key hashes, never raw keys.
 */
export function createKeyHasher(secret: string, memoEntries = 0): KeyHasher {
  let key = Buffer.from(secret, "utf8");
  if (key.length > BLOCK) key = createHash("sha256").update(key).digest();
  const inner = Buffer.alloc(BLOCK + MAX_FAST_INPUT);
  const outer = Buffer.alloc(BLOCK + 32);
  const memo = new Map<string, string>();
  for (let i = 0; i < BLOCK; i++) {
    const byte = key[i] ?? 0;
    inner[i] = byte ^ 0x36;
    outer[i] = byte ^ 0x5c;
  }
  // One view per message length, made on first use: hashing allocates no Buffer per call.
  const innerViews: Buffer[] = [];
  const digest = (length: number): string => {
    let view = innerViews[length];
    if (view === undefined) {
      view = inner.subarray(0, BLOCK + length);
      innerViews[length] = view;
    }
    const innerDigest = hash("sha256", view, "binary");
    const known = memo.get(innerDigest);
    if (known !== undefined) return known;
    outer.write(innerDigest, BLOCK, "binary");
    const keyHash = hash("sha256", outer, "hex");
    if (memoEntries > 0) {
      // The oldest entry goes (a Map iterates in insertion order): cheap, and a key in use
      // is simply inserted again after its turn comes.
      if (memo.size >= memoEntries) memo.delete(memo.keys().next().value as string);
      memo.set(innerDigest, keyHash);
    }
    return keyHash;
  };
  const hasher = (rawKey: string): string => {
    // utf8 is at most 3 bytes per UTF-16 unit, so this length always fits the buffer.
    if (rawKey.length * 3 > MAX_FAST_INPUT) {
      return createHmac("sha256", secret).update(rawKey).digest("hex");
    }
    return digest(inner.write(rawKey, BLOCK, "utf8"));
  };
  const ofBytes = (keyBytes: Uint8Array): string => {
    if (keyBytes.length > MAX_FAST_INPUT) {
      return createHmac("sha256", secret).update(keyBytes).digest("hex");
    }
    inner.set(keyBytes, BLOCK); // a memory copy: no second UTF-8 encoding of the key
    return digest(keyBytes.length);
  };
  return Object.assign(hasher, { ofBytes });
}
