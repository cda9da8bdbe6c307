import { describe, expect, it } from "vitest";
import {
  DISPLAY_PREFIX_LENGTH,
  generateRawKey,
  isWellFormedKey,
  keyEnvironmentOf,
  RAW_KEY_LENGTH,
  wellFormedKeyBytes,
} from "../src/keys/key-format.js";

describe("key format", () => {
  it("generates kg_live_ keys of 32 random bytes plus a checksum, with a display prefix", () => {
    const { rawKey, prefix } = generateRawKey();
    expect(rawKey).toMatch(/^kg_live_[A-Za-z0-9_-]{43}[A-Za-z0-9]{6}$/);
    expect(rawKey).toHaveLength(RAW_KEY_LENGTH);
    expect(prefix).toBe(rawKey.slice(0, DISPLAY_PREFIX_LENGTH));
    expect(prefix).toMatch(/^kg_live_[A-Za-z0-9_-]{4}$/);
    expect(isWellFormedKey(rawKey)).toBe(true);
    expect(keyEnvironmentOf(rawKey)).toBe("live");
  });

  it("generates kg_test_ keys on request", () => {
    const { rawKey } = generateRawKey("test");
    expect(rawKey.startsWith("kg_test_")).toBe(true);
    expect(isWellFormedKey(rawKey)).toBe(true);
    expect(keyEnvironmentOf(rawKey)).toBe("test");
  });

  it("hands over a well-formed key's exact UTF-8 bytes, and nothing for any other value", () => {
    const { rawKey } = generateRawKey();
    const bytes = wellFormedKeyBytes(rawKey);
    expect(bytes && Buffer.from(bytes).toString("latin1")).toBe(rawKey);
    expect(bytes?.length).toBe(RAW_KEY_LENGTH);
    const typo = `${rawKey.slice(0, -1)}${rawKey.endsWith("A") ? "B" : "A"}`;
    for (const value of [typo, "", "x".repeat(RAW_KEY_LENGTH), `${rawKey.slice(0, -1)}é`]) {
      expect(wellFormedKeyBytes(value), value).toBeUndefined();
    }
  });

  it("checks keys one after another without carrying anything over", () => {
    const { rawKey } = generateRawKey();
    const typo = `${rawKey.slice(0, 30)}${rawKey[30] === "A" ? "B" : "A"}${rawKey.slice(31)}`;
    expect([rawKey, typo, rawKey, "x".repeat(57), rawKey].map(isWellFormedKey)).toEqual([
      true,
      false,
      true,
      false,
      true,
    ]);
  });

  it("never repeats a key", () => {
    const keys = new Set(Array.from({ length: 5_000 }, () => generateRawKey().rawKey));
    expect(keys.size).toBe(5_000);
  });

  it("rejects every single-character typo through the checksum", () => {
    const { rawKey } = generateRawKey();
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let tried = 0;
    for (let i = 8; i < rawKey.length; i++) {
      for (const replacement of alphabet) {
        if (replacement === rawKey[i]) continue;
        const typo = rawKey.slice(0, i) + replacement + rawKey.slice(i + 1);
        expect(isWellFormedKey(typo), typo).toBe(false);
        tried++;
      }
    }
    expect(tried).toBeGreaterThan(3_000);
  });

  it("rejects keys of the wrong shape", () => {
    const { rawKey } = generateRawKey();
    const bad = [
      "",
      "kg_live_",
      rawKey.slice(0, -1),
      `${rawKey}A`,
      `kg_prod_${rawKey.slice(8)}`,
      `KG_LIVE_${rawKey.slice(8)}`,
      `kg_test_${rawKey.slice(8)}`, // the checksum covers the prefix too
      "x".repeat(10_240),
      `${rawKey.slice(0, 20)}\u0000${rawKey.slice(21)}`,
      `${rawKey.slice(0, 20)}ü${rawKey.slice(21)}`,
      `${rawKey.slice(0, 20)}+${rawKey.slice(21)}`,
      // A character whose low byte is the one it replaces (U+0141 for "A", say): the
      // key would pass if it were read as Latin-1, which keeps only that low byte.
      `${rawKey.slice(0, 20)}${String.fromCharCode(0x100 + rawKey.charCodeAt(20))}${rawKey.slice(21)}`,
      `${rawKey.slice(0, -1)}${String.fromCharCode(0x100 + rawKey.charCodeAt(56))}`,
      `${rawKey.slice(0, 20)}\ud800${rawKey.slice(21)}`, // a lone surrogate
    ];
    for (const value of bad) expect(isWellFormedKey(value), JSON.stringify(value)).toBe(false);
  });
});

describe("checksum", () => {
  it("is zlib's CRC-32, base62-encoded", async () => {
    const { crc32 } = await import("node:zlib");
    for (let i = 0; i < 200; i++) {
      const { rawKey } = generateRawKey();
      let value = crc32(rawKey.slice(0, 51));
      let expected = "";
      for (let d = 0; d < 6; d++) {
        expected =
          "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[value % 62] + expected;
        value = Math.floor(value / 62);
      }
      expect(rawKey.slice(51)).toBe(expected);
    }
  });
});
