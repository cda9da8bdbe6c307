import type { AddressInfo } from "node:net";
import {
  clientStatusError,
  describeErrorAnswerConformance,
  INTERNAL_MESSAGE,
  unavailableError,
} from "@keyguard/testkit";
import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { answerClientError, createProblemErrorHandler, problemErrorHandler } from "../src/index.js";

async function listen(app: FastifyInstance) {
  await app.listen({ port: 0, host: "127.0.0.1" });
  return {
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    close: () => app.close(),
  };
}

function routes(app: FastifyInstance): FastifyInstance {
  app.post("/json", { bodyLimit: 1024 }, async () => ({ ok: true }));
  app.get("/throw", () => {
    throw new Error(INTERNAL_MESSAGE);
  });
  app.get("/reject", async () => {
    throw new TypeError(INTERNAL_MESSAGE);
  });
  app.get("/conflict", async () => {
    throw clientStatusError(409);
  });
  app.get("/unavailable", async () => {
    throw unavailableError();
  });
  return app;
}

describeErrorAnswerConformance("Fastify", async (report) => {
  const app = Fastify({ clientErrorHandler: answerClientError });
  app.setErrorHandler(createProblemErrorHandler({ onUnexpectedError: report }));
  return listen(routes(app));
});

describe("Fastify problemErrorHandler", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it("is usable as setErrorHandler(problemErrorHandler) and logs through request.log", async () => {
    const lines: string[] = [];
    const app = Fastify({
      logger: { level: "error", stream: { write: (line: string) => void lines.push(line) } },
    });
    app.setErrorHandler(problemErrorHandler);
    const server = await listen(routes(app));
    cleanups.push(server.close);
    const response = await fetch(`${server.url}/throw`);
    expect(response.status).toBe(500);
    expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    const body = await response.text();
    expect(body).not.toContain("internal detail");
    expect(JSON.parse(body)).toMatchObject({ code: "internal_error" });
    expect(lines.join("")).toContain(INTERNAL_MESSAGE); // the operator's log has it
  });

  it("answers a schema failure 400 without echoing the schema's message", async () => {
    const app = Fastify();
    app.setErrorHandler(createProblemErrorHandler({ onUnexpectedError: () => {} }));
    app.post(
      "/typed",
      {
        schema: {
          body: { type: "object", required: ["name"], properties: { name: { type: "string" } } },
        },
      },
      async () => ({ ok: true }),
    );
    const server = await listen(app);
    cleanups.push(server.close);
    const response = await fetch(`${server.url}/typed`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: "bad_request", status: 400 });
  });
});
