import { describe, expect, it } from "vitest";
import { ERROR_CODES, httpStatusFor, isErrorCode, titleFor } from "../src/errors/error-codes.js";
import { isKeyGuardError, KeyGuardError } from "../src/errors/keyguard-error.js";

describe("errors", () => {
  it("maps every code to one HTTP status and a title", () => {
    for (const code of Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[]) {
      expect(httpStatusFor(code)).toBeGreaterThanOrEqual(400);
      expect(titleFor(code).length).toBeGreaterThan(3);
    }
    expect(httpStatusFor("missing_api_key")).toBe(401);
    expect(httpStatusFor("organization_suspended")).toBe(403);
    expect(httpStatusFor("rate_limited")).toBe(429);
    expect(httpStatusFor("database_unavailable")).toBe(503);
  });

  it("keeps the code, the cause and the details", () => {
    const cause = new Error("driver said no");
    const error = new KeyGuardError("organization_exists", "taken", { cause, details: { a: 1 } });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("KeyGuardError");
    expect(error.status).toBe(409);
    expect(error.cause).toBe(cause);
    expect(error.details).toEqual({ a: 1 });
    expect(isKeyGuardError(error)).toBe(true);
    expect(isKeyGuardError(error, "organization_exists")).toBe(true);
    expect(isKeyGuardError(error, "invalid_input")).toBe(false);
    expect(isKeyGuardError(new Error("x"))).toBe(false);
    expect(isErrorCode("nope")).toBe(false);
  });
});
