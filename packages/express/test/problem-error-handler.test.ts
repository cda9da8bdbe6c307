import {
  clientStatusError,
  describeErrorAnswerConformance,
  INTERNAL_MESSAGE,
  serveNodeServer,
  unavailableError,
} from "@keyguard/testkit";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { problemErrorHandler } from "../src/index.js";

describeErrorAnswerConformance("Express", async (report) => {
  const app = express();
  app.post("/json", express.json({ limit: "1kb" }), (req, res) => {
    if (!req.is("application/json")) throw clientStatusError(415);
    res.json({ ok: true });
  });
  app.get("/throw", () => {
    throw new Error(INTERNAL_MESSAGE);
  });
  app.get("/reject", async () => {
    throw new TypeError(INTERNAL_MESSAGE);
  });
  app.get("/conflict", () => {
    throw clientStatusError(409);
  });
  app.get("/unavailable", async () => {
    throw unavailableError();
  });
  app.use(problemErrorHandler({ onUnexpectedError: report }));
  return serveNodeServer(app.listen(0));
});

describe("Express problemErrorHandler", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it("answers an undecodable path parameter 400 instead of an HTML page", async () => {
    const app = express();
    app.get("/items/:id", (req, res) => {
      res.json({ id: req.params.id });
    });
    app.use(problemErrorHandler({ onUnexpectedError: () => {} }));
    const server = await serveNodeServer(app.listen(0));
    cleanups.push(() => server.close());
    const response = await fetch(`${server.url}/items/%E0%A4%A`);
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(await response.text()).not.toMatch(/<|URIError|at /);
  });

  it("reports to console.error by default, and survives a reporter that throws", async () => {
    const serve = async (handler: ReturnType<typeof problemErrorHandler>) => {
      const app = express();
      app.get("/throw", () => {
        throw new Error(INTERNAL_MESSAGE);
      });
      app.use(handler);
      const server = await serveNodeServer(app.listen(0));
      cleanups.push(() => server.close());
      return server.url;
    };
    const byDefault = await serve(problemErrorHandler());
    const throwing = await serve(
      problemErrorHandler({
        onUnexpectedError: () => {
          throw new Error("reporter broke");
        },
      }),
    );
    const logged: unknown[] = [];
    const original = console.error;
    console.error = (value: unknown) => void logged.push(value);
    try {
      for (const url of [byDefault, throwing]) {
        const response = await fetch(`${url}/throw`);
        expect(response.status).toBe(500);
        expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
        expect(await response.text()).not.toContain("internal detail");
      }
    } finally {
      console.error = original;
    }
    expect(logged.map((error) => (error as Error).message)).toEqual([
      INTERNAL_MESSAGE,
      INTERNAL_MESSAGE,
      "reporter broke",
    ]);
  });
});
