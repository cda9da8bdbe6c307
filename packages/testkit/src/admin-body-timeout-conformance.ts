import { connect } from "node:net";
import { KeyGuard, type Limiter, resolveConfig, type Store } from "@keyguard/core";
import { afterEach, describe, expect, it } from "vitest";
import type { AdapterApp } from "./adapter-conformance.js";

/**
 * Starts the adapter's admin API at `/admin` on port 0 with `keyguardAdmin`'s
 * `bodyTimeoutMs` set as given, and no other timeout of the server's changed (on Fastify
 * that means none at all: its `requestTimeout` is 0).
 */
export type StartAdminWithBodyTimeout = (
  kg: KeyGuard,
  options: { bodyTimeoutMs: number },
) => Promise<AdapterApp>;

const SECRET = "admin-timeout-secret";
const BODY_TIMEOUT_MS = 300;

/** What a raw connection received, and whether the server closed it. */
interface SlowExchange {
  readonly raw: string;
  readonly closedByServer: boolean;
  readonly elapsedMs: number;
}

/**
 * Writes `parts` on one connection with `gapMs` between them and never ends its side:
 * resolves when the server closes the connection (or after `giveUpMs`).
 */
function slowRequest(
  url: string,
  parts: readonly string[],
  gapMs: number,
  giveUpMs: number,
): Promise<SlowExchange> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const timers: NodeJS.Timeout[] = [];
    let closedByServer = true;
    parts.forEach((part, i) => {
      timers.push(setTimeout(() => socket.writable && socket.write(part), i * gapMs));
    });
    timers.push(
      setTimeout(() => {
        closedByServer = false;
        socket.destroy();
      }, giveUpMs),
    );
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      for (const timer of timers) clearTimeout(timer);
      resolve({
        raw: Buffer.concat(chunks).toString("utf8"),
        closedByServer,
        elapsedMs: Date.now() - started,
      });
    });
  });
}

/** A keep-alive request unless `close`: the server must close a timed-out one by itself. */
function head(url: string, contentLength: number, close = false): string {
  return (
    `POST /admin/orgs HTTP/1.1\r\nHost: ${new URL(url).host}\r\nX-Admin-Key: ${SECRET}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${contentLength}\r\n` +
    (close ? "Connection: close\r\n\r\n" : "\r\n")
  );
}

/**
 * A client that sends the headers and part of an admin request body, then stalls, gets
 * 408 `request_timeout` (problem+json) after `bodyTimeoutMs` and the connection closed,
 * and nothing is written; a slow body that completes in time is served as usual.
 */
export function describeAdminBodyTimeout(
  name: string,
  start: StartAdminWithBodyTimeout,
  options: { openStore: () => Promise<Store>; createLimiter: () => Limiter },
): void {
  describe(`Admin body timeout: ${name}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function setup() {
      const kg = new KeyGuard({
        config: resolveConfig({ secretKey: SECRET }, {}),
        store: await options.openStore(),
        limiter: options.createLimiter(),
      });
      await kg.init();
      cleanups.push(() => kg.close());
      const app = await start(kg, { bodyTimeoutMs: BODY_TIMEOUT_MS });
      cleanups.push(() => app.close());
      return { kg, app };
    }

    it("answers a body that stalls 408 and closes the connection, writing nothing", async () => {
      const { kg, app } = await setup();
      const body = JSON.stringify({ name: "Stalled Corp" });
      const exchange = await slowRequest(
        app.url,
        [head(app.url, body.length) + body.slice(0, 8)],
        0,
        BODY_TIMEOUT_MS * 20,
      );
      expect(exchange.closedByServer, exchange.raw).toBe(true);
      expect(exchange.elapsedMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
      const [headBlock = "", responseBody = ""] = exchange.raw.split("\r\n\r\n");
      expect(headBlock.split("\r\n")[0]).toMatch(/^HTTP\/1\.1 408 /);
      expect(headBlock).toMatch(/content-type: application\/problem\+json/i);
      expect(headBlock).toMatch(/connection: close/i);
      expect(JSON.parse(responseBody)).toMatchObject({ status: 408, code: "request_timeout" });
      expect(await kg.listOrganizations()).toEqual([]);
    });

    it("serves a slow body that arrives within the bound", async () => {
      const { kg, app } = await setup();
      const body = JSON.stringify({ name: "Slow Corp" });
      const exchange = await slowRequest(
        app.url,
        [head(app.url, body.length, true), body.slice(0, 5), body.slice(5)],
        BODY_TIMEOUT_MS / 6,
        BODY_TIMEOUT_MS * 3,
      );
      expect(exchange.raw.split("\r\n")[0], exchange.raw).toMatch(/^HTTP\/1\.1 201 /);
      expect((await kg.listOrganizations()).map((org) => org.name)).toEqual(["Slow Corp"]);
    });
  });
}
