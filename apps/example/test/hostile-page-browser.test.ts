import { mkdtempSync, rmSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard } from "@keyguard/express";
import { type BrowserContext, chromium } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, startExampleProcess } from "./example-process.js";
import { CHROMIUM, CHROMIUM_ARGS, chromiumAvailable } from "./real-chromium.js";

const haveChromium = chromiumAvailable("the hostile page browser test");

/** Failed authentications that block a client (the default is 100 an hour). */
const THRESHOLD = 10;
/** What the hostile page makes its visitor's browser send, each many times the threshold. */
const IMAGES = 100;
const SIMPLE_FETCHES = 20; // fetch(..., { mode: "no-cors" }): sent as they are
const PREFLIGHTED = 20; // PUT, or a custom header: the browser asks with OPTIONS first

/**
 * A page on another site. Nothing it does can carry an API key: `<img>` and no-cors fetches
 * cannot set headers, and a request with an `X-API-KEY` header (or PUT) is only sent after a
 * CORS preflight the API does not approve, so only the preflight goes out. When every
 * request has been answered it sets `window.hostileDone`.
 */
function hostilePage(target: string): string {
  const images = Array.from(
    { length: IMAGES },
    (_, i) => `<img loading="eager" width="1" height="1" src="${target}/api/data?img=${i}">`,
  ).join("\n");
  return `<!doctype html>
<html><head><title>Cute cats</title></head>
<body>
<h1>Cute cats</h1>
${images}
<script>
  const target = ${JSON.stringify(target)};
  window.pending = { load: 1 };
  const track = (kind, promise) => {
    window.pending[kind] = (window.pending[kind] ?? 0) + 1;
    const settled = () => window.pending[kind]--;
    promise.then(settled, settled);
    return promise;
  };
  const loaded = track("load", new Promise((resolve) => window.addEventListener("load", resolve)));
  window.pending.load--;
  const fetches = [];
  for (let i = 0; i < ${SIMPLE_FETCHES}; i++) {
    fetches.push(track("simple", fetch(target + "/api/data?simple=" + i, { mode: "no-cors" })));
  }
  for (let i = 0; i < ${PREFLIGHTED}; i++) {
    fetches.push(
      i % 2 === 0
        ? track("put", fetch(target + "/api/data?put=" + i, { method: "PUT", body: "x" }))
        : track("header", fetch(target + "/api/data?header=" + i, {
            headers: { "x-api-key": "kg_live_not-the-visitors-key-" + i },
          })),
    );
  }
  Promise.allSettled([loaded, ...fetches]).then(() => {
    window.hostileDone = true;
  });
</script>
</body></html>`;
}

interface Seen {
  readonly method: string;
  readonly status: number;
  readonly code: string | undefined;
}

/**
 * A relay in front of the API server that records each request the browser sent through it
 * and the answer it got (counted when the answer arrives, so before the browser sees it).
 * The server sees the same client address (127.0.0.1) as without it.
 */
async function startCountingRelay(target: string) {
  const seen: Seen[] = [];
  const { hostname, port } = new URL(target);
  const server = createServer((incoming, outgoing) => {
    const upstream = request(
      {
        hostname,
        port,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
        agent: false, // a connection per request: none left open when the server stops
      },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => chunks.push(chunk));
        answer.on("end", () => {
          const body = Buffer.concat(chunks);
          let code: string | undefined;
          try {
            code = (JSON.parse(body.toString()) as { code?: string }).code;
          } catch {
            code = undefined;
          }
          seen.push({ method: incoming.method ?? "", status: answer.statusCode ?? 0, code });
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          outgoing.end(body);
        });
      },
    );
    upstream.on("error", () => outgoing.destroy());
    incoming.pipe(upstream);
  });
  const url = await listen(server, "127.0.0.1");
  return { url, seen, close: () => close(server) };
}

async function listen(server: Server, host: string): Promise<string> {
  server.listen(0, host);
  await new Promise((resolve) => server.once("listening", resolve));
  return `http://${host}:${(server.address() as AddressInfo).port}`;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * GET with the admin key from another address than the visitor's (127.0.0.3): the operator's
 * view, which a block of the visitor does not hide.
 */
function operatorGet(url: string): Promise<{ status: number; body: unknown }> {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const sent = request(
      {
        hostname,
        port,
        path: pathname,
        localAddress: "127.0.0.3",
        headers: { "x-admin-key": EXAMPLE_SECRET },
      },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => chunks.push(chunk));
        answer.on("end", () =>
          resolve({
            status: answer.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString()),
          }),
        );
      },
    );
    sent.on("error", reject);
    sent.end();
  });
}

/**
 * Chromium with a fresh profile of its own (no cache, no cookies); Playwright passes it as
 * --user-data-dir and adds --headless itself. Closing it closes every connection it holds,
 * pre-opened ones included, which a server shutting down would otherwise wait for.
 */
async function launchBrowser(): Promise<{ browser: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), "keyguard-hostile-profile-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  return {
    browser,
    async close() {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

describe.runIf(haveChromium)("a hostile web page in a real browser", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it.each(["express", "fastify", "koa"])(
    "%s: cannot get its visitor blocked with requests that carry no key (images, fetches, preflights)",
    async (framework) => {
      const directory = mkdtempSync(join(tmpdir(), `keyguard-hostile-${framework}-`));
      cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
      const databaseUrl = `sqlite:${join(directory, "keyguard.db")}`;
      const admin = await createKeyGuard({ secretKey: EXAMPLE_SECRET, databaseUrl }, { env: {} });
      await admin.createOrganization("Visitor Inc");
      const { rawKey } = await admin.createApiKey({ organization: "Visitor Inc", label: "own" });
      await admin.close();

      const server = await startExampleProcess(framework, {
        KEYGUARD_DATABASE_URL: databaseUrl,
        KEYGUARD_IP_BLOCK_THRESHOLD: String(THRESHOLD),
      });
      cleanups.push(async () => {
        server.child.kill("SIGTERM");
        await server.exited;
      });
      const relay = await startCountingRelay(server.url);
      cleanups.push(relay.close);
      // Another site: 127.0.0.2 is neither the API's origin nor its site (127.0.0.1).
      const attacker = createServer((req, res) => {
        if (req.url !== "/") {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        res.end(hostilePage(relay.url));
      });
      const attackerUrl = await listen(attacker, "127.0.0.2");
      cleanups.push(() => close(attacker));
      // Closed first (cleanups run last to first), before the server is asked to stop.
      const { browser, close: closeBrowser } = await launchBrowser();
      cleanups.push(closeBrowser);

      const hostile = await browser.newPage();
      await hostile.goto(`${attackerUrl}/`);
      await hostile
        .waitForFunction("window.hostileDone === true", undefined, { timeout: 90_000 })
        .catch(async (error: Error) => {
          const pending = await hostile.evaluate("JSON.stringify(window.pending)");
          throw new Error(
            `the page's requests did not all settle (still pending: ${pending}; the server answered ${relay.seen.length}): ${error.message}`,
          );
        });
      // Everything the page could make the browser send reached the server: every image and
      // simple fetch, and one preflight per other fetch (whose request itself the browser
      // then never sent).
      const count = (method: string) => relay.seen.filter((s) => s.method === method).length;
      expect({ GET: count("GET"), OPTIONS: count("OPTIONS"), all: relay.seen.length }).toEqual({
        GET: IMAGES + SIMPLE_FETCHES,
        OPTIONS: PREFLIGHTED,
        all: IMAGES + SIMPLE_FETCHES + PREFLIGHTED,
      });

      // What the visitor notices: their own use of the API, from the same browser, works;
      // the operator sees no block; the page's requests were never answered "blocked".
      const own = await browser.newPage();
      await own.goto(`${server.url}/health`);
      const visitor = await own.evaluate(async (key) => {
        const response = await fetch("/api/data", { headers: { "x-api-key": key } });
        return { status: response.status, body: await response.json() };
      }, rawKey);
      const blocks = await operatorGet(`${server.url}/admin/ip-blocks`);
      expect({
        visitor,
        blocks,
        answeredIpBlocked: relay.seen.filter((s) => s.code === "ip_blocked").length,
      }).toEqual({
        visitor: { status: 200, body: { message: "Authorized!" } },
        blocks: { status: 200, body: expect.objectContaining({ items: [] }) },
        answeredIpBlocked: 0,
      });

      // The threshold is in force: wrong keys from this client still get it blocked.
      for (let i = 0; i < THRESHOLD; i++) {
        const wrong = await fetch(`${server.url}/api/data`, {
          headers: { "x-api-key": `kg_live_wrong-${i}` },
        });
        expect(wrong.status).toBe(401);
      }
      const blocked = await fetch(`${server.url}/api/data`, { headers: { "x-api-key": rawKey } });
      expect(blocked.status).toBe(403);
      expect(((await blocked.json()) as { code: string }).code).toBe("ip_blocked");
    },
    // A browser start and a server start each, on a machine that may be busy.
    120_000,
  );
});
