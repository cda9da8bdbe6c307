import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { generateRawKey } from "../src/keys/key-format.js";
import { createKeyHasher } from "../src/keys/key-hasher.js";

describe("key hasher", () => {
  const { rawKey } = generateRawKey();

  it("is HMAC-SHA256 keyed with the secret, in hex", () => {
    const hash = createKeyHasher("the-secret-value")(rawKey);
    expect(hash).toBe(createHmac("sha256", "the-secret-value").update(rawKey).digest("hex"));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("depends on the secret, and is not the seed's naive SHA-256(key + secret)", () => {
    const a = createKeyHasher("secret-number-one")(rawKey);
    const b = createKeyHasher("secret-number-two")(rawKey);
    expect(a).not.toBe(b);
    expect(a).not.toBe(createHash("sha256").update(`${rawKey}secret-number-one`).digest("hex"));
  });

  it("is stable for one secret", () => {
    const hash = createKeyHasher("stable-secret");
    expect(hash(rawKey)).toBe(hash(rawKey));
  });
});
