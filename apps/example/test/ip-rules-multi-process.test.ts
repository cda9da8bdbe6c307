import { createKeyGuard, type KeyGuard } from "@keyguard/express";
import {
  deleteRedisKeys,
  dropSchema,
  postgresAvailable,
  redisAvailable,
  TEST_POSTGRES_URL,
  TEST_REDIS_URL,
  uniqueRedisPrefix,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, type ExampleProcess, startExampleProcess } from "./example-process.js";

const postgres = await postgresAvailable();
const redis = postgres && (await redisAvailable());

/**
 * A rule made by one process (the operator's tooling here) reaches every other: with
 * Redis, by the `ip-rules` notice, held to the bound blocks are held to (250 ms at p99,
 * SAMPLES rules added and removed); without Redis, by each process's periodic re-read of
 * the stored rules (`blockSyncIntervalMs`, 2 s by default), held to that interval plus a
 * read: still far within the verification cache's TTL (30 s).
 */
const NOTICE_BOUND_MS = 250;
const SAMPLES = 60;
const SYNC_INTERVAL_MS = 2_000;
const SYNC_BOUND_MS = SYNC_INTERVAL_MS + 1_000;
/** A single change not seen after this long fails the test whatever the percentiles. */
const GIVE_UP_MS = 10_000;

function percentiles(label: string, latencies: readonly number[]) {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.max(0, Math.ceil(sorted.length * q) - 1)] as number;
  const result = { median: at(0.5), p99: at(0.99), slowest: sorted.at(-1) as number };
  console.log(
    `${label}: median ${result.median.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, slowest ${result.slowest.toFixed(1)} ms (${sorted.length} samples)`,
  );
  return result;
}

/** Polls `probe` until it answers true; milliseconds from the call. */
async function until(what: string, probe: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await probe()) return performance.now() - started;
    if (performance.now() - started > GIVE_UP_MS) {
      throw new Error(`${what}: not seen after ${GIVE_UP_MS} ms`);
    }
  }
}

/** "200", or the problem's code; any other answer than `expected` fails the test. */
async function answer(server: ExampleProcess, rawKey: string, expected: readonly string[]) {
  const response = await fetch(`${server.url}/api/data`, { headers: { "x-api-key": rawKey } });
  const got =
    response.status === 200
      ? "200"
      : String(((await response.json()) as { code?: string }).code ?? response.status);
  expect(expected, `answered ${got}`).toContain(got);
  return got;
}

function describeServers(
  name: string,
  withRedis: boolean,
  body: (context: () => { servers: ExampleProcess[]; admin: KeyGuard }) => void,
): void {
  describe.runIf(withRedis ? redis : postgres)(name, () => {
    const schema = uniqueSchemaName("iprules");
    const prefix = uniqueRedisPrefix("iprules");
    const env: Record<string, string> = {
      KEYGUARD_DATABASE_URL: `${TEST_POSTGRES_URL}?options=-c%20search_path%3D${schema}`,
      ...(withRedis ? { KEYGUARD_REDIS_URL: TEST_REDIS_URL, KEYGUARD_REDIS_PREFIX: prefix } : {}),
    };
    let servers: ExampleProcess[] = [];
    let admin: KeyGuard;
    beforeAll(async () => {
      await withPostgresClient((client) => client.query(`create schema ${schema}`));
      admin = await createKeyGuard({ secretKey: EXAMPLE_SECRET }, { env });
      await admin.createOrganization("Acme Corp");
      servers = await Promise.all(
        (withRedis ? ["express", "fastify", "koa"] : ["express", "koa"]).map((framework) =>
          startExampleProcess(framework, env),
        ),
      );
    });
    afterAll(async () => {
      for (const server of servers) server.child.kill("SIGTERM");
      await Promise.all(servers.map((server) => server.exited));
      await admin?.close();
      await dropSchema(schema);
      if (withRedis) await deleteRedisKeys(prefix);
    });
    body(() => ({ servers, admin }));
  });
}

describeServers("IP rules across example servers sharing PostgreSQL and Redis", true, (ctx) => {
  it(`applies and lifts a deny rule in every other process within ${NOTICE_BOUND_MS} ms (p99 over ${SAMPLES} rules)`, async () => {
    const { servers, admin } = ctx();
    const { rawKey } = await admin.createApiKey({
      organization: "Acme Corp",
      label: "rule-latency",
      rateLimitPerMinute: 100_000,
    });
    for (const server of servers) expect(await answer(server, rawKey, ["200"])).toBe("200");
    const applied: number[] = [];
    const lifted: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const watcher = servers[i % servers.length] as ExampleProcess;
      const { rule } = await admin.addIpRule({ cidr: "127.0.0.1", action: "deny" });
      applied.push(
        await until(
          `rule ${i}`,
          async () => (await answer(watcher, rawKey, ["200", "ip_denied"])) === "ip_denied",
        ),
      );
      await admin.removeIpRule(rule.id as string);
      lifted.push(
        await until(
          `removal ${i}`,
          async () => (await answer(watcher, rawKey, ["200", "ip_denied"])) === "200",
        ),
      );
    }
    expect(percentiles("deny rule -> refusal elsewhere", applied).p99).toBeLessThan(
      NOTICE_BOUND_MS,
    );
    expect(percentiles("rule removed -> allowed elsewhere", lifted).p99).toBeLessThan(
      NOTICE_BOUND_MS,
    );
  });

  it("a key's allowed_ips changed by one process apply in every other (key notice)", async () => {
    const { servers, admin } = ctx();
    const { rawKey, key } = await admin.createApiKey({
      organization: "Acme Corp",
      label: "restricted",
      allowedIps: ["192.0.2.0/24"],
    });
    for (const server of servers) {
      expect(await answer(server, rawKey, ["ip_not_allowed"])).toBe("ip_not_allowed");
    }
    await admin.updateApiKey(key.id, { allowedIps: ["127.0.0.0/8"] });
    for (const server of servers) {
      await until("allowed_ips update", async () => {
        return (await answer(server, rawKey, ["200", "ip_not_allowed"])) === "200";
      });
    }
  });
});

describeServers("IP rules across example servers sharing PostgreSQL only", false, (ctx) => {
  it(`applies and lifts a stored rule in every process within ${SYNC_BOUND_MS} ms without a change feed`, async () => {
    const { servers, admin } = ctx();
    const { rawKey } = await admin.createApiKey({
      organization: "Acme Corp",
      label: "no-redis",
      rateLimitPerMinute: 100_000,
    });
    const applied: number[] = [];
    const lifted: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { rule } = await admin.addIpRule({ cidr: "127.0.0.0/8", action: "deny" });
      // Every server, each polled until it refuses: the slowest is the bound that matters.
      const started = performance.now();
      await Promise.all(
        servers.map((server) =>
          until(
            `rule ${i}`,
            async () => (await answer(server, rawKey, ["200", "ip_denied"])) !== "200",
          ),
        ),
      );
      applied.push(performance.now() - started);
      await admin.removeIpRule(rule.id as string);
      const removed = performance.now();
      await Promise.all(
        servers.map((server) =>
          until(
            `removal ${i}`,
            async () => (await answer(server, rawKey, ["200", "ip_denied"])) === "200",
          ),
        ),
      );
      lifted.push(performance.now() - removed);
    }
    expect(
      percentiles("stored rule -> refusal in every process (no Redis)", applied).slowest,
    ).toBeLessThan(SYNC_BOUND_MS);
    expect(
      percentiles("rule removed -> allowed in every process (no Redis)", lifted).slowest,
    ).toBeLessThan(SYNC_BOUND_MS);
  });
});
