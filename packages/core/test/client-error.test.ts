import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { answerClientError } from "../src/pipeline/client-error.js";

/** Sends `head`, keeps the socket open (a stalled client) and resolves with all it receives. */
function stalledRequest(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(head));
    const chunks: Buffer[] = [];
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
  });
}

describe("answerClientError", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  async function serve(handler: Parameters<typeof createServer>[1] = () => {}): Promise<number> {
    // Short timeouts, checked often: the test waits a fraction of a second, not minutes.
    const server = createServer(
      { requestTimeout: 300, headersTimeout: 200, connectionsCheckingInterval: 25 },
      handler,
    );
    server.on("clientError", answerClientError);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return (server.address() as AddressInfo).port;
  }

  function parse(raw: string) {
    const [head = "", body = ""] = raw.split("\r\n\r\n");
    return { statusLine: head.split("\r\n")[0], head, problem: JSON.parse(body) };
  }

  it("answers a body that stalls 408 request_timeout problem+json", async () => {
    let handled = false;
    const port = await serve((req) => {
      handled = true;
      req.resume(); // a handler waiting for a body that never completes
    });
    const raw = await stalledRequest(
      port,
      'POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"par',
    );
    expect(handled).toBe(true);
    const { statusLine, head, problem } = parse(raw);
    expect(statusLine).toBe("HTTP/1.1 408 Request Timeout");
    expect(head).toMatch(/content-type: application\/problem\+json/i);
    expect(head).toMatch(/connection: close/i);
    expect(problem).toMatchObject({ status: 408, code: "request_timeout" });
  });

  it("answers headers that never finish 408 too", async () => {
    const port = await serve();
    const { statusLine, problem } = parse(
      await stalledRequest(port, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a"),
    );
    expect(statusLine).toBe("HTTP/1.1 408 Request Timeout");
    expect(problem.code).toBe("request_timeout");
  });

  it("still answers malformed requests 400 and oversized headers 431", async () => {
    const port = await serve();
    const bad = parse(
      await stalledRequest(port, "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u0001b\r\n\r\n"),
    );
    expect(bad.problem).toMatchObject({ status: 400, code: "bad_request" });
    const big = parse(
      await stalledRequest(
        port,
        `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
      ),
    );
    expect(big.problem).toMatchObject({ status: 431, code: "headers_too_large" });
  });

  it("closes the connection without writing when a response already started", () => {
    const written: string[] = [];
    let destroyed = false;
    const socket = {
      writable: true,
      _httpMessage: { headersSent: true },
      end: (data: string) => void written.push(data),
      destroy: () => {
        destroyed = true;
      },
    };
    answerClientError(
      Object.assign(new Error("timeout"), { code: "ERR_HTTP_REQUEST_TIMEOUT" }),
      socket,
    );
    expect(written).toEqual([]);
    expect(destroyed).toBe(true);
  });
});
