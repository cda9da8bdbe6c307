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

describe("key hasher fast path", () => {
  it("equals createHmac for every secret length and input shape", () => {
    const secrets = [8, 32, 63, 64, 65, 200].map((n) => `${"s".repeat(n - 1)}é`);
    const inputs = [
      "",
      generateRawKey().rawKey,
      generateRawKey("test").rawKey,
      "ünïcödé 東京 🔑",
      "x".repeat(85),
      "x".repeat(86),
      "y".repeat(10_240),
      "\u0000\r\n",
    ];
    for (const secret of secrets) {
      const hash = createKeyHasher(secret);
      for (const input of inputs) {
        expect(hash(input), `${secret.length}/${input.slice(0, 10)}`).toBe(
          createHmac("sha256", secret).update(input).digest("hex"),
        );
      }
    }
  });
});
