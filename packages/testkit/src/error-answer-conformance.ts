import { KeyGuardError } from "@keyguard/core";
import { afterEach, describe, expect, it } from "vitest";
import type { AdapterApp } from "./adapter-conformance.js";

/** In every message a route throws: it must never reach a client. */
export const INTERNAL_MESSAGE = "internal detail: SELECT * FROM secrets; /srv/app/config.json";

/** An error a handler might throw with a client status (http-errors' shape). */
export function clientStatusError(status: number): Error {
  return Object.assign(new Error(INTERNAL_MESSAGE), { status, expose: true });
}

/** A failure of the kind a store reports, whose message names a host. */
export function unavailableError(): KeyGuardError {
  return new KeyGuardError(
    "database_unavailable",
    `The postgres database is unavailable: connect ECONNREFUSED 10.0.0.7:5432 (${INTERNAL_MESSAGE})`,
  );
}

/**
 * Starts an app with the adapter's problem error handler (reporting unexpected errors to
 * `report`) on port 0, with these routes:
 * - `POST /json`: reads a JSON body with the framework's parser (or, on Koa, the way
 *   body-parser middleware does) with a 1 KiB limit; any other media type is 415; answers
 *   `{ "ok": true }`
 * - `GET /throw`: a handler that throws `new Error(INTERNAL_MESSAGE)`
 * - `GET /reject`: an async handler that rejects with a `TypeError(INTERNAL_MESSAGE)`
 * - `GET /conflict`: throws `clientStatusError(409)`
 * - `GET /unavailable`: throws `unavailableError()`
 */
export type StartErrorAnswerApp = (report: (error: unknown) => void) => Promise<AdapterApp>;

/**
 * Errors never leak internals: every error a framework or a handler raises is answered
 * as problem+json without stack, file path or message; client errors keep their status;
 * only 5xx are reported, with the original error. The same assertions run against
 * Express, Fastify and Koa.
 */
export function describeErrorAnswerConformance(name: string, start: StartErrorAnswerApp): void {
  describe(`Error answers: ${name}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup();
    });

    async function serve() {
      const reported: unknown[] = [];
      const app = await start((error) => reported.push(error));
      cleanups.push(() => app.close());
      const request = async (path: string, init?: RequestInit) => {
        const response = await fetch(`${app.url}${path}`, init);
        return { response, body: await response.text() };
      };
      return { request, reported };
    }

    function expectClean(
      response: Response,
      body: string,
      status: number,
      code: string,
    ): Record<string, unknown> {
      expect(response.status, body).toBe(status);
      expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(body).not.toContain("internal detail");
      expect(body).not.toContain("ECONNREFUSED");
      expect(body).not.toContain("10.0.0.7");
      expect(body).not.toContain(process.cwd());
      expect(body).not.toMatch(/\n\s+at |node_modules|\.(?:[cm]?js|ts):\d+|file:\/\//);
      const problem = JSON.parse(body) as Record<string, unknown>;
      expect(problem).toMatchObject({ type: `urn:keyguard:problem:${code}`, status, code });
      expect(Object.keys(problem).sort()).toEqual(["code", "detail", "status", "title", "type"]);
      return problem;
    }

    const json = (body: string, type = "application/json") => ({
      method: "POST",
      headers: { "content-type": type },
      body,
    });

    it("answers a well-formed body normally", async () => {
      const { request } = await serve();
      const { response, body } = await request("/json", json('{"a":1}'));
      expect(response.status, body).toBe(200);
      expect(JSON.parse(body)).toEqual({ ok: true });
    });

    it("answers malformed JSON 400 bad_request, without the parser's message", async () => {
      const { request, reported } = await serve();
      for (const text of ['{"a":', "{'a': 1}", "\u0000\u00ff", '{"a":1}}']) {
        const { response, body } = await request("/json", json(text));
        const problem = expectClean(response, body, 400, "bad_request");
        expect(String(problem.detail)).not.toMatch(/JSON at position|Unexpected token/i);
      }
      expect(reported).toEqual([]);
    });

    it("answers a body over the limit 413 and another media type 415", async () => {
      const { request, reported } = await serve();
      const big = await request("/json", json(JSON.stringify({ a: "x".repeat(4096) })));
      expectClean(big.response, big.body, 413, "payload_too_large");
      const xml = await request("/json", json("<a/>", "application/xml"));
      expectClean(xml.response, xml.body, 415, "unsupported_media_type");
      expect(reported).toEqual([]);
    });

    it("answers a thrown or rejected handler error 500 internal_error and reports it", async () => {
      const { request, reported } = await serve();
      for (const path of ["/throw", "/reject"]) {
        const { response, body } = await request(path);
        expectClean(response, body, 500, "internal_error");
      }
      expect(reported).toHaveLength(2);
      expect((reported[0] as Error).message).toBe(INTERNAL_MESSAGE);
      expect(reported[1]).toBeInstanceOf(TypeError);
      expect((reported[1] as Error).stack).toContain("at ");
    });

    it("keeps a handler's client status without its message, unreported", async () => {
      const { request, reported } = await serve();
      const { response, body } = await request("/conflict");
      expectClean(response, body, 409, "conflict");
      expect(reported).toEqual([]);
    });

    it("answers a store outage 503 with Retry-After, naming no host", async () => {
      const { request, reported } = await serve();
      const { response, body } = await request("/unavailable");
      expectClean(response, body, 503, "database_unavailable");
      expect(response.headers.get("retry-after")).toBe("5");
      expect(reported).toHaveLength(1);
    });
  });
}
