import { describe, expect, it } from "vitest";
import type { ApiKeyInfo } from "../src/domain/api-key.js";
import { missingScopes } from "../src/pipeline/require-scopes.js";

const key = (scopes: string[]) => ({ scopes }) as unknown as ApiKeyInfo;

describe("missingScopes", () => {
  it("passes a key with every scope, or with *", () => {
    expect(missingScopes(key(["read", "write"]), ["read"])).toBeUndefined();
    expect(missingScopes(key(["*"]), ["admin", "billing"])).toBeUndefined();
  });

  it("names the scopes a key lacks", () => {
    expect(missingScopes(key(["read"]), ["read", "admin", "billing"])).toMatchObject({
      status: 403,
      code: "insufficient_scope",
      detail: "This route needs the scopes admin, billing, which the key does not have.",
    });
  });

  it("refuses a request no KeyGuard middleware ran for", () => {
    for (const absent of [undefined, null]) {
      expect(missingScopes(absent, ["read"])).toMatchObject({
        status: 401,
        code: "missing_api_key",
      });
    }
  });
});
