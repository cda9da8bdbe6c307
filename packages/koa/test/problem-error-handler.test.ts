import {
  clientStatusError,
  describeErrorAnswerConformance,
  INTERNAL_MESSAGE,
  serveNodeServer,
  unavailableError,
} from "@keyguard/testkit";
import Router from "@koa/router";
import Koa, { type Context } from "koa";
import { afterEach, describe, expect, it } from "vitest";
import { problemErrorHandler } from "../src/index.js";

/** What a JSON body parser (koa-bodyparser, co-body) does: 415, 413 and 400 via ctx.throw. */
async function readJson(ctx: Context, limit: number): Promise<unknown> {
  if (!ctx.is("application/json")) ctx.throw(415, "Unsupported Media Type");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) ctx.throw(413, `request entity too large (${INTERNAL_MESSAGE})`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (error) {
    ctx.throw(400, (error as Error).message);
  }
}

function app(handler: Koa.Middleware): Koa {
  const koa = new Koa();
  const router = new Router();
  router.post("/json", async (ctx) => {
    await readJson(ctx, 1024);
    ctx.body = { ok: true };
  });
  router.get("/throw", () => {
    throw new Error(INTERNAL_MESSAGE);
  });
  router.get("/reject", async () => {
    throw new TypeError(INTERNAL_MESSAGE);
  });
  router.get("/conflict", () => {
    throw clientStatusError(409);
  });
  router.get("/unavailable", async () => {
    throw unavailableError();
  });
  koa.use(handler);
  koa.use(router.routes());
  return koa;
}

describeErrorAnswerConformance("Koa", async (report) =>
  serveNodeServer(app(problemErrorHandler({ onUnexpectedError: report })).listen(0)),
);

describe("Koa problemErrorHandler", () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  it("reports through the app's error event by default", async () => {
    const koa = app(problemErrorHandler());
    const emitted: unknown[] = [];
    koa.on("error", (error) => emitted.push(error));
    const server = await serveNodeServer(koa.listen(0));
    cleanups.push(server.close);
    const thrown = await fetch(`${server.url}/throw`);
    expect(thrown.status).toBe(500);
    expect(await thrown.text()).not.toContain("internal detail");
    const conflict = await fetch(`${server.url}/conflict`);
    expect(conflict.status).toBe(409);
    expect(emitted.map((error) => (error as Error).message)).toEqual([INTERNAL_MESSAGE]);
  });
});
