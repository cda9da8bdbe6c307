import { randomUUID } from "node:crypto";
import {
  dropSchema,
  eventually,
  postgresAvailable,
  startTcpProxy,
  type TcpProxy,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createKyselyStore, type KyselyStore } from "../src/index.js";

const available = await postgresAvailable();
const target = new URL(TEST_POSTGRES_URL);
/** Scheduling slack on a machine shared with other work (bounds a failure, not a goal). */
const SLACK_MS = 3_000;
const QUERY_TIMEOUT_MS = 800;
const CONNECT_TIMEOUT_MS = 800;

describe.runIf(available)("PostgreSQL store when the database fails", () => {
  const schema = uniqueSchemaName("faults");
  let proxy: TcpProxy;
  const idleErrors: unknown[] = [];
  let store: KyselyStore;
  const keyHash = `hash-${randomUUID()}`;

  beforeAll(async () => {
    const setup = await createKyselyStore({ url: TEST_POSTGRES_URL, schema });
    await setup.migrate();
    const orgId = randomUUID();
    await setup.insertOrganization({
      id: orgId,
      name: "Acme",
      status: "active",
      createdAt: new Date(),
    });
    const keyId = randomUUID();
    await setup.insertApiKey({
      id: keyId,
      quotaId: keyId,
      replacedBy: null,
      orgId,
      label: "k",
      prefix: "kg_live_abcd",
      keyHash,
      isActive: true,
      scopes: [],
      rateLimitPerMinute: 60,
      monthlyLimit: null,
      createdAt: new Date(),
      expiresAt: null,
      lastUsedAt: null,
    });
    await setup.close();
    proxy = await startTcpProxy(Number(target.port || 5432), target.hostname);
    const url = new URL(TEST_POSTGRES_URL);
    url.port = String(proxy.port);
    store = await createKyselyStore({
      url: url.href,
      schema,
      poolSize: 4,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      queryTimeoutMs: QUERY_TIMEOUT_MS,
      statementTimeoutMs: 500,
      onError: (error) => idleErrors.push(error),
    });
  });
  afterAll(async () => {
    await store?.close();
    await proxy?.close();
    if (available) await dropSchema(schema);
  });

  const findKey = () => store.findApiKeyByHash(keyHash);
  const usage = (keyId: string) => ({
    keyId,
    path: "/x",
    method: "GET",
    statusCode: 200,
    latencyMs: 1,
    ipAddress: null,
    timestamp: new Date(),
  });
  async function timed<T>(promise: Promise<T>) {
    const started = Date.now();
    const outcome = await promise.then(
      (value) => ({ value, error: undefined }),
      (error: unknown) => ({ value: undefined, error }),
    );
    return { ...outcome, ms: Date.now() - started };
  }

  it("survives connections reset (RST) while idle and while checked out, and reconnects", async () => {
    const key = await findKey();
    expect(key).toBeDefined();
    // Idle pooled connections reset: reported, not fatal.
    await proxy.reset();
    await eventually(() => expect(idleErrors.length).toBeGreaterThan(0), 5_000);
    expect(idleErrors[0]).toMatchObject({
      code: "database_unavailable",
      message: expect.stringMatching(/^The postgres database is unavailable: /),
    });
    expect(await findKey()).toMatchObject({ keyHash });
    // Connections reset while a transaction holds them (usage batches are transactions).
    const writes = Array.from({ length: 8 }, () =>
      store.insertUsageEvents([usage(key?.id ?? "")]).catch((error: unknown) => error),
    );
    await proxy.reset();
    for (const outcome of await Promise.all(writes)) {
      if (outcome !== undefined) expect(outcome).toMatchObject({ code: "database_unavailable" });
    }
    expect(await findKey()).toMatchObject({ keyHash }); // no restart needed
  });

  it("survives a connection killed just after its COMMIT reached the server", async () => {
    const key = await findKey();
    const killed = proxy.killAfterCommit();
    const outcome = await timed(store.insertUsageEvents([usage(key?.id ?? "")]));
    await killed;
    expect(outcome.error).toMatchObject({ code: "database_unavailable" });
    expect(await findKey()).toMatchObject({ keyHash });
  });

  it("fails fast with database_unavailable while the database is stalled, and recovers", async () => {
    await findKey(); // a pooled connection exists
    await proxy.stall();
    try {
      // Queries on open (now half-open) connections, and connections opened meanwhile.
      const attempts = await Promise.all(Array.from({ length: 12 }, () => timed(findKey())));
      for (const attempt of attempts) {
        expect(attempt.error).toMatchObject({ code: "database_unavailable" });
        expect(attempt.ms).toBeLessThan(CONNECT_TIMEOUT_MS + QUERY_TIMEOUT_MS + SLACK_MS);
      }
      // The outage is known now: what follows fails at once instead of waiting out a timeout.
      const known = await Promise.all(Array.from({ length: 12 }, () => timed(findKey())));
      for (const attempt of known) {
        expect(attempt.error).toMatchObject({
          code: "database_unavailable",
          message: expect.stringMatching(/could not be reached a moment ago/),
        });
        expect(attempt.ms).toBeLessThan(QUERY_TIMEOUT_MS);
      }
    } finally {
      await proxy.resume();
    }
    await eventually(async () => expect(await findKey()).toMatchObject({ keyHash }), 10_000);
  });

  it("has the server cancel a statement that runs too long (statement timeout), keeping the pool usable", async () => {
    const slow = await timed(sql`select pg_sleep(3)`.execute(store.db));
    expect(slow.error).toMatchObject({ code: "57014" });
    expect(slow.ms).toBeLessThan(500 + SLACK_MS);
    expect(await findKey()).toMatchObject({ keyHash });
  });

  it("closes within a bound while the database is stalled", async () => {
    const url = new URL(TEST_POSTGRES_URL);
    url.port = String(proxy.port);
    const other = await createKyselyStore({ url: url.href, schema, queryTimeoutMs: 60_000 });
    await other.findApiKeyByHash(keyHash); // an open pooled connection
    await proxy.stall();
    try {
      const closing = await timed(other.close());
      expect(closing.error).toBeUndefined();
      expect(closing.ms).toBeLessThan(1_000 + SLACK_MS);
    } finally {
      await proxy.resume();
    }
  });

  it("runs migrations without the query bounds", async () => {
    await store.migrate(); // nothing to do, but through its own pool, which is closed again
    expect(await findKey()).toMatchObject({ keyHash });
    // Other test files migrate their own schemas meanwhile, and a migrating connection is
    // "idle in transaction" between its statements: a moment with none proves that ours
    // left none open (a leaked one would stay).
    await eventually(
      async () => {
        const { rows } = await withPostgresClient((client) =>
          client.query<{ n: string }>(
            "select count(*) as n from pg_stat_activity where datname = current_database() and state = 'idle in transaction'",
          ),
        );
        expect(Number(rows[0]?.n)).toBe(0);
      },
      20_000,
      50,
    );
  });
});
