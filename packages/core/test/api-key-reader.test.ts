import { describe, expect, it } from "vitest";
import { ApiKeyReader } from "../src/pipeline/api-key-reader.js";
import type { GuardRequest } from "../src/pipeline/guard-request.js";

function request(headers: Record<string, string | string[]>): GuardRequest {
  return {
    method: "GET",
    path: "/api/data",
    remoteAddress: "203.0.113.7",
    header: (name) => headers[name],
  };
}

describe("ApiKeyReader", () => {
  const reader = new ApiKeyReader("X-API-KEY", true);

  it("reads the key header, or a bearer token, or both when they agree", () => {
    expect(reader.read(request({ "x-api-key": "kg_a" }))).toEqual({ ok: true, value: "kg_a" });
    expect(reader.read(request({ authorization: "Bearer kg_b" }))).toEqual({
      ok: true,
      value: "kg_b",
    });
    expect(reader.read(request({ authorization: "bEaReR   kg_b" }))).toEqual({
      ok: true,
      value: "kg_b",
    });
    expect(reader.read(request({ "x-api-key": "kg_a", authorization: "Bearer kg_a" }))).toEqual({
      ok: true,
      value: "kg_a",
    });
  });

  it("reads no key from an empty header, an empty bearer or another scheme", () => {
    const keyless: Record<string, string>[] = [
      {},
      { "x-api-key": "" },
      { authorization: "Bearer " },
      { authorization: "Basic a2c6c2VjcmV0" },
      { "x-api-key": "", authorization: "Token kg_a" },
    ];
    for (const headers of keyless) {
      expect(reader.read(request(headers))).toEqual({ ok: true, value: undefined });
    }
    // An empty key header beside a bearer key is no conflict.
    expect(reader.read(request({ "x-api-key": "", authorization: "Bearer kg_b" }))).toEqual({
      ok: true,
      value: "kg_b",
    });
  });

  it("refuses two different keys and a repeated key header", () => {
    expect(reader.read(request({ "x-api-key": "kg_a", authorization: "Bearer kg_b" }))).toEqual({
      ok: false,
      detail: "Two different API keys were sent (X-API-KEY and Authorization).",
    });
    expect(reader.read(request({ "x-api-key": ["kg_a", "kg_a"] }))).toEqual({
      ok: false,
      detail: "Send exactly one X-API-KEY header.",
    });
  });

  it("ignores Authorization when bearer keys are off, and names its header in its answers", () => {
    const headerOnly = new ApiKeyReader("x-tenant-key", false);
    expect(headerOnly.read(request({ authorization: "Bearer kg_b" }))).toEqual({
      ok: true,
      value: undefined,
    });
    expect(headerOnly.challenge).toEqual({
      "www-authenticate": 'ApiKey realm="keyguard", header="X-TENANT-KEY"',
    });
    expect(headerOnly.missingDetail).toBe("Send an API key in the X-TENANT-KEY header.");
    expect(reader.challenge["www-authenticate"]).toBe(
      'ApiKey realm="keyguard", header="X-API-KEY", Bearer realm="keyguard"',
    );
  });
});
