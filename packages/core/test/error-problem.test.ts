import { describe, expect, it } from "vitest";
import { KeyGuardError } from "../src/errors/keyguard-error.js";
import { problemForError } from "../src/pipeline/error-problem.js";

const withStatus = (status: unknown, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error("secret internal message"), { status, ...extra });

describe("problemForError", () => {
  it("keeps a client status, with a generic detail", () => {
    for (const [status, code] of [
      [400, "bad_request"],
      [404, "not_found"],
      [408, "request_timeout"],
      [413, "payload_too_large"],
      [415, "unsupported_media_type"],
      [422, "unprocessable_content"],
      [418, "bad_request"], // no code of its own: a plain 400
    ] as const) {
      const answer = problemForError(withStatus(status));
      expect(answer.status).toBe(code === "bad_request" ? 400 : status);
      expect(answer.problem.code).toBe(code);
      expect(answer.problem.detail).not.toContain("secret");
      expect(answer.unexpected).toBe(false);
    }
    // Fastify spells it statusCode.
    expect(problemForError(Object.assign(new Error("x"), { statusCode: 415 })).status).toBe(415);
  });

  it("answers anything else 500 internal_error (or 503), as unexpected", () => {
    for (const error of [
      new Error("boom"),
      new TypeError("x is undefined"),
      "a thrown string",
      undefined,
      null,
      withStatus(200),
      withStatus(302),
      withStatus("400"),
      withStatus(400.5),
      withStatus(502),
      new KeyGuardError("invalid_config", "KEYGUARD_SECRET_KEY is missing"),
    ]) {
      const answer = problemForError(error);
      expect(answer.status).toBe(500);
      expect(answer.problem.code).toBe("internal_error");
      expect(answer.problem.detail).not.toMatch(/boom|undefined|secret|KEYGUARD/);
      expect(answer.unexpected).toBe(true);
    }
    const unavailable = problemForError(withStatus(503));
    expect(unavailable.problem.code).toBe("service_unavailable");
    expect(unavailable.headers["retry-after"]).toBe("5");
  });

  it("keeps a KeyGuardError's code; its message only below 500", () => {
    const invalid = problemForError(new KeyGuardError("invalid_input", "label: too long"));
    expect(invalid.problem).toMatchObject({
      status: 400,
      code: "invalid_input",
      detail: "label: too long",
    });
    const down = problemForError(
      new KeyGuardError(
        "database_unavailable",
        "The postgres database is unavailable: connect ECONNREFUSED 10.0.0.7:5432",
      ),
    );
    expect(down.status).toBe(503);
    expect(down.problem.detail).not.toContain("10.0.0.7");
    expect(down.unexpected).toBe(true);
    const blocked = problemForError(
      new KeyGuardError("ip_blocked", "blocked", { details: { retryAfter: "60" } }),
    );
    expect(blocked.headers["retry-after"]).toBe("60");
  });

  it("passes only safe, known headers an error carries", () => {
    const answer = problemForError(
      withStatus(405, {
        headers: { Allow: "GET, HEAD", "Set-Cookie": "a=b", "Retry-After": "1\r\nX-Evil: 1" },
      }),
    );
    expect(answer.headers).toEqual({
      "content-type": "application/problem+json",
      allow: "GET, HEAD",
    });
    // A 500's headers are never copied.
    expect(problemForError(withStatus(500, { headers: { allow: "GET" } })).headers.allow).toBe(
      undefined,
    );
  });
});
