import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import { KeyGuardError } from "@keyguard/core";

/**
 * Reads a request body stream (a Node `IncomingMessage`, or Fastify's raw payload) as UTF-8
 * text, refusing more than `maxBytes` with `payload_too_large` as soon as the limit is
 * passed (the rest is discarded, not buffered). If a body parser already consumed the
 * stream (`express.json()`, `koa-bodyparser`), its result is used instead, re-serialised.
 */
export function readNodeBody(
  req: Readable & { readonly headers?: IncomingHttpHeaders },
  maxBytes: number,
  alreadyParsed?: unknown,
): Promise<string | undefined> {
  if (req.readableEnded || req.readableDidRead) {
    if (alreadyParsed === undefined) return Promise.resolve(undefined);
    return Promise.resolve(
      typeof alreadyParsed === "string" ? alreadyParsed : JSON.stringify(alreadyParsed),
    );
  }
  const declared = Number(req.headers?.["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    return Promise.reject(tooLarge(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off("data", onData);
        req.resume(); // drain what is left so the answer can be sent
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => {
      if (size <= maxBytes)
        resolve(size === 0 ? undefined : Buffer.concat(chunks).toString("utf8"));
    });
    req.once("error", reject);
  });
}

function tooLarge(maxBytes: number): KeyGuardError {
  return new KeyGuardError(
    "payload_too_large",
    `The request body must be at most ${maxBytes} bytes.`,
  );
}
