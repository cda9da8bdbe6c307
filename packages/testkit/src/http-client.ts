import { connect } from "node:net";

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/**
 * Sends bytes exactly as given (duplicate headers, control characters, huge values:
 * things `fetch` refuses to send) and reads the response. The request must ask for
 * `Connection: close`. With `timeoutMs`, a server that stays silent that long fails the
 * request (the socket is destroyed) instead of hanging the test.
 */
export function rawRequest(
  url: string,
  head: string,
  options: { readonly timeoutMs?: number } = {},
): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(Buffer.from(head, "latin1")));
    if (options.timeoutMs !== undefined) {
      const timeoutMs = options.timeoutMs;
      socket.setTimeout(timeoutMs, () =>
        socket.destroy(new Error(`no answer within ${timeoutMs} ms`)),
      );
    }
    const chunks: Buffer[] = [];
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const [headerBlock = "", ...rest] = text.split("\r\n\r\n");
      const [statusLine = "", ...headerLines] = headerBlock.split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      let body = rest.join("\r\n\r\n");
      if (headers["transfer-encoding"] === "chunked") body = unchunk(body);
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body });
    });
  });
}

function unchunk(body: string): string {
  let out = "";
  let rest = body;
  for (;;) {
    const lineEnd = rest.indexOf("\r\n");
    if (lineEnd < 0) return out;
    const size = Number.parseInt(rest.slice(0, lineEnd), 16);
    if (!size) return out;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}
