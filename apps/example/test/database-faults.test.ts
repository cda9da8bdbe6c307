import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createKeyGuard, type KeyGuard } from "@keyguard/express";
import {
  deleteRedisKeys,
  dropSchema,
  eventually,
  FakeClock,
  postgresAvailable,
  redisAvailable,
  startTcpProxy,
  type TcpProxy,
  TEST_POSTGRES_URL,
  TEST_REDIS_URL,
  uniqueRedisPrefix,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, type ExampleProcess, startExampleProcess } from "./example-process.js";
import { storedRequests } from "./stored-usage.js";

/**
 * Each example server, under steady load, with PostgreSQL behind a TCP proxy that cuts,
 * resets (RST), stalls (half-open: bytes stop, nothing closes) and kills connections just
 * after a COMMIT reached the server. What a user would notice is counted: the process never
 * crashes, every request is answered within HUNG_MS, a key in use keeps getting 200 through
 * outages longer than the cache TTL, a key that needs the database gets a 503 while it is
 * out and a 200 once it is back (no restart), SIGTERM exits within a bound while the
 * database is stalled, and afterwards the database holds exactly one usage count per
 * request answered with the key in use: nothing lost to the faults (the batches buffered at
 * SIGTERM are spooled and replayed by the next start), nothing written twice (the batch
 * whose COMMIT reply was lost).
 */

/** The servers' bounds on the database (set short so the test is quick; defaults are 5 s). */
const QUERY_TIMEOUT_MS = 1_000;
const CONNECT_TIMEOUT_MS = 1_000;
/** The cache TTL: every outage below lasts well over it. */
const CACHE_TTL_MS = 1_500;
const OUTAGE_MS = 3 * CACHE_TTL_MS;
/**
 * A request not answered within this is "hung". Answers need at most a connect plus a query
 * timeout; the rest is slack for a machine busy with other work.
 */
const HUNG_MS = 6_000;
/** SIGTERM while the database is stalled: HTTP grace (3 s) + usage flush + pool close, + slack. */
const SHUTDOWN_BOUND_MS = 20_000;
const RECOVERY_WAIT_MS = 15_000;

type Phase = "up" | "cut" | "reset" | "stall" | "commit-kill" | "recovering";

interface Sample {
  readonly kind: "cached" | "uncached" | "health";
  readonly status: number | "hung" | "error";
  readonly code?: string;
  readonly ms: number;
  /** The phase when the request was sent and when it was answered. */
  readonly phases: readonly [Phase, Phase];
}

const available = await postgresAvailable();

describe.runIf(available).each(["express", "fastify", "koa"])(
  "%s example server when PostgreSQL fails under load",
  (framework) => {
    const schema = uniqueSchemaName(`dbfault_${framework}`);
    let proxy: TcpProxy;
    let admin: KeyGuard;
    let server: ExampleProcess;
    let stderr = "";
    let cachedKey = "";
    let cachedKeyId = "";
    let serverEnv: Record<string, string> = {};
    const freshKeys: string[] = [];
    const spool = mkdtempSync(join(tmpdir(), `keyguard-dbfault-spool-${framework}-`));

    beforeAll(async () => {
      await withPostgresClient((client) => client.query(`create schema ${schema}`));
      const direct = { KEYGUARD_DATABASE_URL: databaseUrl(TEST_POSTGRES_URL, schema) };
      admin = await createKeyGuard({ secretKey: EXAMPLE_SECRET }, { env: direct });
      await admin.createOrganization("Acme Corp");
      const createKey = () =>
        admin.createApiKey({
          organization: "Acme Corp",
          label: "load",
          rateLimitPerMinute: 1_000_000_000,
        });
      const create = async () => (await createKey()).rawKey;
      const inUse = await createKey();
      cachedKey = inUse.rawKey;
      cachedKeyId = inUse.key.id;
      // Keys the server has never seen: each is used once, so each needs the database.
      for (let i = 0; i < 120; i++) freshKeys.push(await create());
      const target = new URL(TEST_POSTGRES_URL);
      proxy = await startTcpProxy(Number(target.port || 5432), target.hostname);
      const viaProxy = new URL(TEST_POSTGRES_URL);
      viaProxy.port = String(proxy.port);
      serverEnv = {
        KEYGUARD_DATABASE_URL: databaseUrl(viaProxy.href, schema),
        KEYGUARD_USAGE_SPOOL_DIRECTORY: spool,
        KEYGUARD_CACHE_TTL_MS: String(CACHE_TTL_MS),
        KEYGUARD_POSTGRES_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS),
        KEYGUARD_POSTGRES_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
        KEYGUARD_POSTGRES_STATEMENT_TIMEOUT_MS: String(QUERY_TIMEOUT_MS - 200),
      };
      server = await startExampleProcess(framework, serverEnv);
      server.child.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
      });
    });

    afterAll(async () => {
      if (server !== undefined && server.child.exitCode === null) {
        server.child.kill("SIGKILL");
        await server.exited;
      }
      await proxy?.resume();
      await proxy?.close();
      await admin?.close();
      await dropSchema(schema);
      rmSync(spool, { recursive: true, force: true });
    });

    it("never crashes or hangs, keeps cached keys working, refuses what needs the database fast, recovers, shuts down in time, and counts every answered request once", async () => {
      let phase: Phase = "up";
      const samples: Sample[] = [];
      let running = true;
      let crashed = false;
      void server.exited.then(() => {
        if (running) crashed = true;
      });

      const request = async (kind: Sample["kind"], key?: string) => {
        const sentIn = phase;
        const started = Date.now();
        let status: Sample["status"];
        let code: string | undefined;
        try {
          const response = await fetch(
            `${server.url}${kind === "health" ? "/health" : "/api/data"}`,
            {
              headers: key === undefined ? {} : { "x-api-key": key },
              signal: AbortSignal.timeout(HUNG_MS),
            },
          );
          status = response.status;
          const body = (await response.json()) as { code?: string };
          code = body.code;
        } catch (error) {
          status = (error as Error).name === "TimeoutError" ? "hung" : "error";
        }
        samples.push({ kind, status, code, ms: Date.now() - started, phases: [sentIn, phase] });
        return status;
      };
      const loop = async (kind: Sample["kind"], pauseMs: number, key?: string) => {
        while (running) {
          await request(kind, key);
          await sleep(pauseMs);
        }
      };
      // A key refused with 503 was not cached (it could not be looked up), so it is tried
      // again; one answered 200 is cached from then on, so the next fresh key is taken.
      let fresh = 0;
      const nextFresh = () => {
        const key = freshKeys[fresh++];
        if (key === undefined) throw new Error("the test ran out of fresh keys");
        return key;
      };
      const uncachedLoop = async () => {
        let key = nextFresh();
        while (running) {
          if (phase !== "recovering" && (await request("uncached", key)) === 200) key = nextFresh();
          await sleep(150);
        }
      };
      const load = Promise.all([
        ...Array.from({ length: 4 }, () => loop("cached", 5, cachedKey)),
        uncachedLoop(),
        loop("health", 50),
      ]);
      // A fresh key works (through the database) whenever the database is back.
      const recover = async () => {
        phase = "recovering";
        const key = nextFresh(); // tried until it works: a refused key was not cached
        await eventually(
          async () => expect(await request("uncached", key)).toBe(200),
          RECOVERY_WAIT_MS,
          100,
        );
        phase = "up";
      };

      await sleep(OUTAGE_MS / 3);

      phase = "cut";
      await proxy.cut();
      await sleep(OUTAGE_MS);
      await proxy.restore();
      await recover();

      phase = "reset";
      for (let i = 0; i < 5; i++) {
        await proxy.reset();
        await sleep(OUTAGE_MS / 5);
      }
      await recover();

      phase = "stall";
      await proxy.stall();
      await sleep(OUTAGE_MS);
      await proxy.resume();
      await recover();

      phase = "commit-kill";
      // Usage batches are transactions committed about once a second under this load.
      const killed = proxy.killAfterCommit(3);
      const killedInTime = await Promise.race([
        killed.then(() => true),
        sleep(RECOVERY_WAIT_MS).then(() => false),
      ]);
      expect(killedInTime).toBe(true);
      await recover();

      running = false;
      await load;

      // Shutdown while the database is stalled, with a request that needs it in flight.
      await proxy.stall();
      const inFlight = request("uncached", freshKeys.at(-1));
      await sleep(100);
      const sigterm = Date.now();
      server.child.kill("SIGTERM");
      const exitCode = await server.exited;
      const shutdownMs = Date.now() - sigterm;
      await inFlight;
      await proxy.resume();

      const report = summarize(samples);
      console.log(
        `${framework}: ${JSON.stringify(report)}; SIGTERM to exit ${shutdownMs} ms (code ${exitCode})`,
      );

      expect(crashed).toBe(false);
      expect(stderr).not.toMatch(/Unhandled|uncaught|Connection terminated unexpectedly\n\s+at /i);
      expect(
        samples.filter((sample) => sample.status === "hung" || sample.status === "error"),
      ).toEqual([]);
      // Keys in use: 200 throughout, though every outage outlasted the cache TTL.
      const cachedRefusals = samples.filter((s) => s.kind === "cached" && s.status !== 200);
      expect(cachedRefusals).toEqual([]);
      for (const outage of ["cut", "stall"] as const) {
        expect(report.cached[outage]).toBeGreaterThan(10);
        // Keys that need the database: a 503 problem while it is out, within the bound.
        const refused = samples.filter(
          (s) => s.kind === "uncached" && s.phases[0] === outage && s.phases[1] === outage,
        );
        expect(refused.length).toBeGreaterThan(2);
        for (const sample of refused) {
          expect(sample).toMatchObject({ status: 503, code: "service_unavailable" });
          expect(sample.ms).toBeLessThan(CONNECT_TIMEOUT_MS + QUERY_TIMEOUT_MS + 3_000);
        }
      }
      // What does not need the database is not refused.
      expect(samples.filter((s) => s.kind === "health" && s.status !== 200)).toEqual([]);
      expect(shutdownMs).toBeLessThan(SHUTDOWN_BOUND_MS);
      expect(exitCode).not.toBeNull(); // exited by itself, not killed

      // Usage: the next start (the same database URL, reachable again) replays what SIGTERM
      // spooled; then the key in use has exactly one request counted per 200 it was answered.
      const answered = samples.filter((s) => s.kind === "cached" && s.status === 200).length;
      const spooled = /KEYGUARD_USAGE_SPOOLED/.test(stderr);
      server = await startExampleProcess(framework, serverEnv);
      if (spooled) {
        await eventually(
          () => expect(server.output.stderr).toMatch(/Usage spool replayed: \d+ rows/),
          RECOVERY_WAIT_MS,
        );
      }
      await eventually(
        async () => expect(await storedRequests(schema, cachedKeyId)).toBe(answered),
        RECOVERY_WAIT_MS,
        200,
      );
      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
      expect(await storedRequests(schema, cachedKeyId)).toBe(answered);
    }, 240_000);
  },
);

describe.runIf(available && (await redisAvailable()))(
  "a revocation announced while this process cannot reach PostgreSQL",
  () => {
    it("applies at once to a key answered from a stale cache entry, and leaves the others working", async () => {
      const schema = uniqueSchemaName("dbfault_feed");
      const prefix = uniqueRedisPrefix("dbfault");
      await withPostgresClient((client) => client.query(`create schema ${schema}`));
      const target = new URL(TEST_POSTGRES_URL);
      const proxy = await startTcpProxy(Number(target.port || 5432), target.hostname);
      const viaProxy = new URL(TEST_POSTGRES_URL);
      viaProxy.port = String(proxy.port);
      const shared = { secretKey: EXAMPLE_SECRET, redisUrl: TEST_REDIS_URL, redisPrefix: prefix };
      // The operator's process reaches the database; this one does so through the proxy.
      const operator = await createKeyGuard(
        { ...shared, databaseUrl: databaseUrl(TEST_POSTGRES_URL, schema) },
        { env: {} },
      );
      const clock = new FakeClock(Date.now());
      const server = await createKeyGuard(
        { ...shared, databaseUrl: databaseUrl(viaProxy.href, schema), cache: { ttlMs: 1_000 } },
        { env: {}, clock, onBackgroundError: () => {} },
      );
      try {
        await operator.createOrganization("Acme Corp");
        const revoked = await operator.createApiKey({ organization: "Acme Corp", label: "a" });
        const kept = await operator.createApiKey({ organization: "Acme Corp", label: "b" });
        expect((await server.verifyKey(revoked.rawKey)).outcome).toBe("valid");
        expect((await server.verifyKey(kept.rawKey)).outcome).toBe("valid");

        await proxy.cut();
        clock.advance(5_000); // five TTLs into the outage
        expect((await server.verifyKey(revoked.rawKey)).outcome).toBe("valid");
        expect((await server.verifyKey(kept.rawKey)).outcome).toBe("valid");

        await operator.revokeApiKey(revoked.key.id); // announced through Redis
        await eventually(
          () =>
            expect(server.verifyKey(revoked.rawKey)).rejects.toMatchObject({
              code: "database_unavailable",
            }),
          RECOVERY_WAIT_MS,
        );
        expect((await server.verifyKey(kept.rawKey)).outcome).toBe("valid");

        await proxy.restore();
        await eventually(
          async () => expect((await server.verifyKey(revoked.rawKey)).outcome).toBe("revoked"),
          RECOVERY_WAIT_MS,
          100,
        );
      } finally {
        await server.close().catch(() => {});
        await operator.close();
        await proxy.close();
        await dropSchema(schema);
        await deleteRedisKeys(prefix);
      }
    });
  },
);

function databaseUrl(base: string, schema: string): string {
  return `${base}?options=-c%20search_path%3D${schema}`;
}

/** Per kind, how many requests were answered 200 per phase they were sent in. */
function summarize(samples: readonly Sample[]) {
  const count = (kind: Sample["kind"]) => {
    const byPhase: Record<string, number> = {};
    for (const sample of samples) {
      if (sample.kind !== kind || sample.status !== 200) continue;
      byPhase[sample.phases[0]] = (byPhase[sample.phases[0]] ?? 0) + 1;
    }
    return byPhase;
  };
  const uncachedOutage = samples
    .filter((s) => s.kind === "uncached" && s.status === 503)
    .map((s) => s.ms)
    .sort((a, b) => a - b);
  return {
    cached: count("cached"),
    uncached200: count("uncached"),
    uncached503: uncachedOutage.length,
    uncached503SlowestMs: uncachedOutage.at(-1),
    requests: samples.length,
  };
}
