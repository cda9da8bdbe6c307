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

  it("depends on the secret, and is not keyguard-python's naive SHA-256(key + secret)", () => {
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

describe("key hasher over bytes", () => {
  it("answers what the string form does, for keys and for any bytes, interleaved", () => {
    const hash = createKeyHasher("bytes-secret", 4);
    const ofBytes = hash.ofBytes as (bytes: Uint8Array) => string;
    const inputs = [
      generateRawKey().rawKey,
      "",
      "short",
      generateRawKey("test").rawKey,
      "ünïcödé 東京 🔑",
      "z".repeat(256),
      "z".repeat(257),
      generateRawKey().rawKey.slice(0, 40),
    ];
    for (let round = 0; round < 3; round++) {
      for (const input of inputs) {
        const expected = createHmac("sha256", "bytes-secret").update(input).digest("hex");
        // A view into a larger buffer, as the format check hands over.
        const backing = Buffer.alloc(input.length * 3 + 10, 0xff);
        const length = backing.write(input, 0, "utf8");
        expect(ofBytes(backing.subarray(0, length)), input.slice(0, 10)).toBe(expected);
        expect(hash(input), input.slice(0, 10)).toBe(expected);
      }
    }
  });
});

describe("key hasher memo", () => {
  it("answers the HMAC for every key, remembered or not, past its bound", () => {
    const hash = createKeyHasher("memo-secret", 3);
    const keys = Array.from({ length: 5 }, () => generateRawKey().rawKey);
    const expected = (rawKey: string) =>
      createHmac("sha256", "memo-secret").update(rawKey).digest("hex");
    for (let round = 0; round < 3; round++) {
      for (const key of keys.slice(0, 3)) expect(hash(key)).toBe(expected(key));
      for (const key of keys) expect(hash(key)).toBe(expected(key));
    }
    // Keys differing in one character never share an answer.
    const first = keys[0] as string;
    const twin = `${first.slice(0, -1)}${first.endsWith("A") ? "B" : "A"}`;
    expect(hash(twin)).toBe(expected(twin));
    expect(hash(first)).toBe(expected(first));
    // Another secret's memo knows nothing of this one's.
    expect(createKeyHasher("other-secret", 3)(first)).not.toBe(hash(first));
  });
});
