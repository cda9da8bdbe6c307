import { once } from "node:events";
import { createConnection, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy in front of a real server (PostgreSQL, say) that a test can break in the ways
 * networks and databases break, while the server itself never stops (so other tests sharing
 * it are not disturbed):
 *
 * - `cut()` drops every open connection and refuses new ones, as a server that went away
 *   does; `restore()` listens on the same port again.
 * - `reset()` aborts every open connection with a TCP RST (the peer sees ECONNRESET) and keeps
 *   accepting new ones, as a restarted server or a firewall dropping state does.
 * - `stall()` stops forwarding in both directions but keeps every socket open, and accepts new
 *   connections without forwarding them either: a half-open connection, a hung server or a
 *   partition that drops packets. Nothing errors; bytes just stop. `resume()` forwards again
 *   (what was sent meanwhile is delivered, as TCP would once the path heals).
 * - `killAfterCommit()` arms a PostgreSQL-aware fault: the next COMMIT a client sends (a
 *   simple Query 'Q', or an extended-protocol Parse 'P', whose SQL is COMMIT) is forwarded, the
 *   server's reply is held back until its ReadyForQuery arrives (so the commit has happened),
 *   and then both sockets are destroyed: the transaction is durable but the client never learns
 *   it, the "lost COMMIT" a retry must not double.
 *
 * @example
 * const proxy = await startTcpProxy(5432);
 * const pool = new pg.Pool({ host: "127.0.0.1", port: proxy.port });
 * await proxy.stall();   // queries now hang until a timeout fires
 * await proxy.resume();
 * const killed = proxy.killAfterCommit();
 * await store.recordUsage(...); // its COMMIT is applied, its reply lost
 * await killed;
 */
export interface TcpProxy {
  readonly port: number;
  /** Open client connections (each has one upstream connection). */
  readonly connections: number;
  /** Whether `stall()` is in force. */
  readonly stalled: boolean;
  /** How many COMMITs `killAfterCommit` has applied-and-killed so far. */
  readonly commitsKilled: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  /** Aborts every open connection with RST; new connections are accepted as usual. */
  reset(): Promise<void>;
  /** Stops forwarding, keeping sockets open (half-open); new connections hang too. */
  stall(): Promise<void>;
  /** Forwards again after `stall()`. */
  resume(): Promise<void>;
  /**
   * Arms the lost-COMMIT fault for the next `count` COMMITs (1 unless told) seen on any
   * connection; resolves once that many have been applied by the server and killed.
   */
  killAfterCommit(count?: number): Promise<void>;
  close(): Promise<void>;
}

/** Held-back server replies wait this long for ReadyForQuery before the kill goes ahead anyway. */
const COMMIT_REPLY_WAIT_MS = 5_000;
const SSL_REQUEST_CODE = 80877103;
const GSSENC_REQUEST_CODE = 80877104;
const COMMIT_SQL = /^\s*(commit|end)(\s+(work|transaction))?\s*;?\s*$/i;

interface Pair {
  readonly client: Socket;
  readonly upstream: Socket;
}

export async function startTcpProxy(
  targetPort: number,
  targetHost = "127.0.0.1",
): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let server: Server | undefined;
  let port = 0;
  let stalled = false;
  let commitsKilled = 0;
  let commitKillsArmed = 0;
  const commitWaiters: { target: number; resolve: () => void }[] = [];

  const noteCommitKilled = () => {
    commitsKilled += 1;
    for (const waiter of [...commitWaiters]) {
      if (commitsKilled >= waiter.target) {
        commitWaiters.splice(commitWaiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };

  const accept = (client: Socket) => {
    const upstream = createConnection({ port: targetPort, host: targetHost });
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    const destroyBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on("close", () => {
        pairs.delete(pair);
        destroyBoth();
      });
      socket.on("error", destroyBoth);
    }
    const frontend = new FrontendScanner();
    // After a COMMIT was forwarded with the kill armed: server bytes are held, not forwarded.
    let holdingReply: BackendScanner | undefined;

    const forward = (from: Socket, to: Socket, chunk: Buffer) => {
      if (to.destroyed) return;
      if (!to.write(chunk) && !stalled) {
        from.pause();
        to.once("drain", () => {
          if (!stalled) from.resume();
        });
      }
    };

    client.on("data", (chunk: Buffer) => {
      if (holdingReply !== undefined) return; // the client is about to lose this connection
      // Scanned even when unarmed, to keep the message framing in step.
      const commitEnd = frontend.scanForCommit(chunk);
      if (commitEnd < 0 || commitKillsArmed === 0) {
        forward(client, upstream, chunk);
        return;
      }
      commitKillsArmed -= 1;
      // Forward through the end of the COMMIT's exchange (for the extended protocol, up to and
      // including its Sync), drop the rest: the connection is going away.
      forward(client, upstream, chunk.subarray(0, commitEnd));
      const scanner = new BackendScanner();
      holdingReply = scanner;
      const timer = setTimeout(kill, COMMIT_REPLY_WAIT_MS);
      function kill() {
        clearTimeout(timer);
        destroyBoth();
        noteCommitKilled();
      }
      scanner.onReadyForQuery = kill;
    });
    upstream.on("data", (chunk: Buffer) => {
      if (holdingReply !== undefined) {
        holdingReply.scan(chunk);
        return;
      }
      forward(upstream, client, chunk);
    });
    if (stalled) {
      client.pause();
      upstream.pause();
    }
  };

  const listen = async () => {
    server = createServer(accept);
    server.listen(port, "127.0.0.1");
    await once(server, "listening");
    const address = server.address();
    if (address !== null && typeof address === "object") port = address.port;
  };
  const stop = async () => {
    if (server === undefined) return;
    const closed = once(server, "close");
    server.close();
    for (const { client, upstream } of pairs) {
      client.destroy();
      upstream.destroy();
    }
    await closed;
    server = undefined;
  };
  await listen();
  return {
    get port() {
      return port;
    },
    get connections() {
      return pairs.size;
    },
    get stalled() {
      return stalled;
    },
    get commitsKilled() {
      return commitsKilled;
    },
    cut: stop,
    restore: listen,
    async reset() {
      for (const { client, upstream } of [...pairs]) {
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      }
    },
    async stall() {
      stalled = true;
      for (const { client, upstream } of pairs) {
        client.pause();
        upstream.pause();
      }
    },
    async resume() {
      stalled = false;
      for (const { client, upstream } of pairs) {
        client.resume();
        upstream.resume();
      }
    },
    killAfterCommit(count = 1) {
      commitKillsArmed += count;
      const target = commitsKilled + commitKillsArmed;
      return new Promise<void>((resolve) => commitWaiters.push({ target, resolve }));
    },
    async close() {
      await stop();
      for (const waiter of commitWaiters.splice(0)) waiter.resolve();
    },
  };
}

/**
 * Follows the PostgreSQL frontend (client-to-server) message framing across chunks: untyped
 * start-up packets (SSLRequest, GSSENCRequest, StartupMessage) first, then typed messages
 * (type byte, int32 length including itself). Only as much as finding a COMMIT needs.
 */
class FrontendScanner {
  private startup = true;
  private buffer: Buffer = Buffer.alloc(0);
  /** A COMMIT Parse was seen: the exchange ends at the next Sync. */
  private awaitingSync = false;

  /**
   * Feeds one chunk; returns the offset in it just past the COMMIT's exchange (the 'Q'
   * message, or the Sync after a COMMIT Parse) if it ends in this chunk, else -1.
   */
  scanForCommit(chunk: Buffer): number {
    const base = this.buffer.length;
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let offset = 0;
    let found = -1;
    for (;;) {
      if (this.startup) {
        if (this.buffer.length - offset < 8) break;
        const length = this.buffer.readInt32BE(offset);
        if (this.buffer.length - offset < length) break;
        const code = this.buffer.readInt32BE(offset + 4);
        offset += length;
        if (code !== SSL_REQUEST_CODE && code !== GSSENC_REQUEST_CODE) this.startup = false;
        continue;
      }
      if (this.buffer.length - offset < 5) break;
      const type = String.fromCharCode(this.buffer[offset] as number);
      const length = this.buffer.readInt32BE(offset + 1);
      const end = offset + 1 + length;
      if (this.buffer.length < end) break;
      const body = this.buffer.subarray(offset + 5, end);
      offset = end;
      let exchangeEnd = -1;
      if (type === "Q" && COMMIT_SQL.test(cString(body, 0))) exchangeEnd = end;
      else if (type === "P") {
        const nameEnd = body.indexOf(0);
        if (nameEnd >= 0 && COMMIT_SQL.test(cString(body, nameEnd + 1))) this.awaitingSync = true;
      } else if (type === "S" && this.awaitingSync) {
        this.awaitingSync = false;
        exchangeEnd = end;
      }
      if (found < 0 && exchangeEnd >= base) found = exchangeEnd;
    }
    this.buffer = this.buffer.subarray(offset);
    return found < 0 ? -1 : found - base;
  }
}

/** Follows the server's typed messages until ReadyForQuery ('Z'). */
class BackendScanner {
  onReadyForQuery: () => void = () => {};
  private buffer: Buffer = Buffer.alloc(0);

  scan(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    let offset = 0;
    while (this.buffer.length - offset >= 5) {
      const type = String.fromCharCode(this.buffer[offset] as number);
      const end = offset + 1 + this.buffer.readInt32BE(offset + 1);
      if (this.buffer.length < end) break;
      offset = end;
      if (type === "Z") {
        this.onReadyForQuery();
        return;
      }
    }
    this.buffer = this.buffer.subarray(offset);
  }
}

function cString(buffer: Buffer, start: number): string {
  const end = buffer.indexOf(0, start);
  return buffer.toString("utf8", start, end < 0 ? buffer.length : end);
}
