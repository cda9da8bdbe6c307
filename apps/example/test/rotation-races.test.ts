import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

const CALLS = 50;
const FRAMEWORKS = ["express", "fastify", "koa"];

interface Setup {
  readonly name: string;
  /** The environment of every server, and what to throw away afterwards. */
  prepare(): Promise<{ env: Record<string, string>; dispose(): Promise<void> }>;
  /** Empties the limiter's shared state (Redis), if there is any outside the processes. */
  forgetLimits?(env: Record<string, string>): Promise<void>;
}

const sqlite: Setup = {
  name: "one SQLite file, in-memory limits",
  async prepare() {
    const directory = mkdtempSync(join(tmpdir(), "keyguard-races-"));
    return {
      env: { KEYGUARD_DATABASE_URL: `sqlite:${join(directory, "keyguard.db")}` },
      async dispose() {
        rmSync(directory, { recursive: true, force: true });
      },
    };
  },
};

const postgresAndRedis: Setup = {
  name: "PostgreSQL and Redis",
  async prepare() {
    const schema = uniqueSchemaName("races");
    const prefix = uniqueRedisPrefix("races");
    await withPostgresClient((client) => client.query(`create schema ${schema}`));
    return {
      env: {
        KEYGUARD_DATABASE_URL: `${TEST_POSTGRES_URL}?options=-c%20search_path%3D${schema}`,
        KEYGUARD_REDIS_URL: TEST_REDIS_URL,
        KEYGUARD_REDIS_PREFIX: prefix,
      },
      async dispose() {
        await dropSchema(schema);
        await deleteRedisKeys(prefix);
      },
    };
  },
  forgetLimits: (env) => deleteRedisKeys(env.KEYGUARD_REDIS_PREFIX as string),
};

const setups = [
  sqlite,
  ...((await postgresAvailable()) && (await redisAvailable()) ? [postgresAndRedis] : []),
];

/**
 * The example servers as separate processes on one database: admin calls racing from
 * several processes are decided by the database, and a rotated key's successor continues
 * its predecessor's monthly quota, also after the servers restart (with Redis: from
 * Redis, and from the database once Redis has forgotten).
 */
describe.each(setups)("rotations across example server processes on $name", (setup) => {
  let env: Record<string, string>;
  let dispose: () => Promise<void>;
  let servers: ExampleProcess[] = [];

  const startAll = async () => {
    // One at a time: the first migrates a new SQLite file.
    servers = [];
    for (const framework of FRAMEWORKS) servers.push(await startExampleProcess(framework, env));
  };
  const stopAll = async () => {
    for (const server of servers) server.child.kill("SIGTERM"); // usage written on the way out
    expect(await Promise.all(servers.map((server) => server.exited))).toEqual([0, 0, 0]);
  };

  beforeAll(async () => {
    ({ env, dispose } = await setup.prepare());
    await startAll();
    expect((await admin(0, "POST", "/orgs", { name: "Acme Corp" })).status).toBe(201);
  });

  afterAll(async () => {
    for (const server of servers) server.child.kill("SIGTERM");
    await Promise.all(servers.map((server) => server.exited));
    await dispose?.();
  });

  async function admin(server: number, method: string, path: string, body?: unknown) {
    const response = await fetch(`${servers[server % servers.length]?.url}/admin${path}`, {
      method,
      headers: {
        "x-admin-key": EXAMPLE_SECRET,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
    return { status: response.status, body: (await response.json()) as any };
  }

  async function api(server: number, rawKey: string): Promise<string> {
    const response = await fetch(`${servers[server % servers.length]?.url}/api/data`, {
      headers: { "x-api-key": rawKey },
    });
    const body = (await response.json()) as { code?: string };
    return response.status === 200 ? "ok" : `${response.status} ${body.code}`;
  }

  const createKey = async (label: string, monthly?: number) =>
    (
      await admin(0, "POST", "/keys", {
        org_name: "Acme Corp",
        label,
        ...(monthly === undefined ? {} : { monthly_limit: monthly }),
      })
    ).body as { id: string; raw_key: string };

  it(`answers ${CALLS} rotations of one key sent to three processes with one new key and ${CALLS - 1} 409s`, async () => {
    const key = await createKey("raced");
    const answers = await Promise.all(
      Array.from({ length: CALLS }, (_, i) => admin(i, "POST", `/keys/${key.id}/rotate`)),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(CALLS - 1);
    for (const answer of answers.filter((a) => a.status === 409)) {
      expect(answer.body.code).toBe("key_already_rotated");
    }
    const listed = (await admin(1, "GET", "/keys?limit=200")).body.items as { label: string }[];
    expect(listed.filter((k) => k.label === "raced")).toHaveLength(2);

    const successor = answers.find((a) => a.status === 201)?.body.key;
    const revokes = await Promise.all(
      Array.from({ length: CALLS }, (_, i) => admin(i, "DELETE", `/keys/${successor.id}`)),
    );
    expect(revokes.map((r) => r.status)).toEqual(Array(CALLS).fill(200));
    expect(revokes.filter((r) => r.body.already_revoked === false)).toHaveLength(1);
  });

  it("lets the successor of a key that used 7 of 10 this month use 3 more, in every process and after restarts", async () => {
    const key = await createKey("metered", 10);
    for (let i = 0; i < 7; i++) expect(await api(i, key.raw_key)).toBe("ok");
    const rotated = await admin(1, "POST", `/keys/${key.id}/rotate`);
    expect(rotated.status).toBe(201);
    const next = rotated.body.key.raw_key as string;
    expect(await api(2, next)).toBe("ok"); // 8 of 10

    await stopAll();
    await startAll();
    expect(await api(0, next)).toBe("ok"); // 9 of 10

    await stopAll();
    // Without Redis's counts (a Redis that restarted empty), the database's usage decides.
    await setup.forgetLimits?.(env);
    await startAll();
    // Each process seeds the lineage's quota from the database on its first request.
    expect(await api(1, next)).toBe("ok"); // 10 of 10
    const refusals = await Promise.all(FRAMEWORKS.map((_, i) => api(i, next)));
    if (setup.forgetLimits !== undefined) {
      expect(refusals).toEqual(Array(3).fill("429 quota_exceeded"));
    } else {
      // In-memory limits are per process: each process counts from the database's 9 (the
      // one before it was written) or 10; none starts a fresh month for the new key.
      expect(refusals.filter((r) => r === "ok").length).toBeLessThanOrEqual(2);
      expect(refusals[1]).toBe("429 quota_exceeded");
    }
  });
});
