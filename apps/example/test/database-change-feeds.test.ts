import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard, type KeyGuard } from "@keyguard/express";
import {
  dropSchema,
  postgresAvailable,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, type ExampleProcess, startExampleProcess } from "./example-process.js";
import { runKeyguardCli } from "./keyguard-cli-process.js";
import { answer, keyChangeLatencies, percentiles, until } from "./propagation-latency.js";

const pgAvailable = await postgresAvailable();

/**
 * Without Redis, the database announces changes itself. PostgreSQL: a revocation reaches
 * every other process within 100 ms at p99 (as with Redis), and so do a key's update, its
 * rotation, its organization's suspension, and blocks and unblocks (each notice carries
 * the block, applied before the list is re-read); blocks are cheap samples, so there are
 * BLOCK_SAMPLES of them and one slow notice does not make the p99. SQLite: each process
 * looks at the file's change log every 250 ms, so a change is seen within that plus the
 * time to act on it, held to SQLITE_BOUND_MS (the second asked) for every one of
 * SQLITE_SAMPLES changes.
 */
const BOUND_MS = 100;
const BLOCK_BOUND_MS = BOUND_MS;
const SAMPLES = 50;
const BLOCK_SAMPLES = 200;
/** Updates, rotations and suspensions: each its own kind of notice, measured apart. */
const CHANGE_SAMPLES = 40;
const SQLITE_BOUND_MS = 1_000;
const SQLITE_SAMPLES = 20;

const get = (server: ExampleProcess, rawKey: string) =>
  fetch(`${server.url}/api/data`, { headers: { "x-api-key": rawKey } });

/** Creates `count` keys and has every server cache each of them. */
async function cachedKeys(admin: KeyGuard, servers: ExampleProcess[], count: number) {
  const keys = [];
  for (let i = 0; i < count; i++) {
    keys.push(
      await admin.createApiKey({
        organization: "Acme Corp",
        label: `feed-${i}`,
        rateLimitPerMinute: 100_000,
      }),
    );
  }
  for (const server of servers) {
    for (const { rawKey } of keys) expect((await get(server, rawKey)).status).toBe(200);
  }
  return keys;
}

/** From each stored revocation until another process refuses the key, ms. */
async function revocationLatencies(
  admin: KeyGuard,
  servers: ExampleProcess[],
  keys: Awaited<ReturnType<typeof cachedKeys>>,
): Promise<number[]> {
  const latencies: number[] = [];
  for (const [i, { rawKey, key }] of keys.entries()) {
    const watcher = servers[i % servers.length] as ExampleProcess;
    await admin.revokeApiKey(key.id);
    latencies.push(
      await until(
        `revocation ${i}`,
        async () => (await answer(get(watcher, rawKey), ["200", "revoked_api_key"])) !== "200",
      ),
    );
  }
  return latencies;
}

function stop(servers: ExampleProcess[]) {
  for (const server of servers) server.child.kill("SIGTERM");
  return Promise.all(servers.map((server) => server.exited));
}

describe.runIf(pgAvailable)("example servers on PostgreSQL without Redis", () => {
  const schema = uniqueSchemaName("feeds");
  const env = {
    KEYGUARD_DATABASE_URL: `${TEST_POSTGRES_URL}?options=-c%20search_path%3D${schema}`,
    // Each revoked key is refused at least once: these failures must not block the client.
    KEYGUARD_IP_BLOCK_THRESHOLD: "100000",
  };
  let servers: ExampleProcess[] = [];
  let admin: KeyGuard;

  beforeAll(async () => {
    await withPostgresClient((client) => client.query(`create schema ${schema}`));
    // The operator's tooling in a process of its own (as the CLI or another server would be).
    admin = await createKeyGuard({ secretKey: EXAMPLE_SECRET }, { env });
    await admin.createOrganization("Acme Corp");
    servers = await Promise.all(
      ["express", "fastify", "koa"].map((framework) => startExampleProcess(framework, env)),
    );
  });

  afterAll(async () => {
    await stop(servers);
    await admin?.close();
    await dropSchema(schema);
  });

  it(`refuses a revoked key in every other process within ${BOUND_MS} ms (p99 over ${SAMPLES} revocations)`, async () => {
    const keys = await cachedKeys(admin, servers, SAMPLES);
    const latencies = await revocationLatencies(admin, servers, keys);
    expect(
      percentiles("revoke -> refusal elsewhere (PostgreSQL NOTIFY)", latencies).p99,
    ).toBeLessThan(BOUND_MS);
  });

  it(`applies an update, a rotation and a suspension in every other process within ${BOUND_MS} ms (p99 over ${3 * CHANGE_SAMPLES} changes)`, async () => {
    const latencies = await keyChangeLatencies(admin, servers, CHANGE_SAMPLES, get);
    for (const [change, measured] of Object.entries(latencies)) {
      percentiles(`${change} -> seen elsewhere (NOTIFY)`, measured);
    }
    // Pooled, so the p99 of the 3 * CHANGE_SAMPLES changes is not simply the slowest one.
    const all = Object.values(latencies).flat();
    expect(percentiles("any key change -> seen elsewhere (NOTIFY)", all).p99).toBeLessThan(
      BOUND_MS,
    );
  });

  it(`applies and lifts a block in every other process within ${BLOCK_BOUND_MS} ms (p99 over ${BLOCK_SAMPLES} of each)`, async () => {
    const [key] = await cachedKeys(admin, servers, 1);
    if (!key) throw new Error("no key");
    const { rawKey } = key;
    const applied: number[] = [];
    const lifted: number[] = [];
    for (let i = 0; i < BLOCK_SAMPLES; i++) {
      const watcher = servers[i % 3] as ExampleProcess;
      await admin.blockIp("127.0.0.1", { duration: "1 hour", reason: `sample ${i}` });
      applied.push(
        await until(
          `block ${i}`,
          async () => (await answer(get(watcher, rawKey), ["200", "ip_blocked"])) !== "200",
        ),
      );
      expect(await admin.unblockIp("127.0.0.1")).toBe(true);
      lifted.push(
        await until(
          `unblock ${i}`,
          async () => (await answer(get(watcher, rawKey), ["200", "ip_blocked"])) === "200",
        ),
      );
    }
    expect(percentiles("block -> refusal elsewhere (PostgreSQL NOTIFY)", applied).p99).toBeLessThan(
      BLOCK_BOUND_MS,
    );
    expect(
      percentiles("unblock -> allowed elsewhere (PostgreSQL NOTIFY)", lifted).p99,
    ).toBeLessThan(BLOCK_BOUND_MS);
  });

  it("applies a revocation made by SQL by hand, and the CLI says servers see its changes at once", async () => {
    const [byHand, byCli] = await cachedKeys(admin, servers, 2);
    if (!byHand || !byCli) throw new Error("keys missing");
    await withPostgresClient(
      (client) =>
        client.query("update api_keys set is_active = false where id = $1", [byHand.key.id]),
      schema,
    );
    for (const server of servers) {
      await until(
        "revocation by SQL",
        async () =>
          (await answer(get(server, byHand.rawKey), ["200", "revoked_api_key"])) !== "200",
      );
    }
    const cli = await runKeyguardCli(["revoke-key", byCli.key.id], env, tmpdir());
    expect(cli.stderr).toBe("");
    expect(cli.stdout).toBe(
      `Revoked key ${byCli.key.prefix} (feed-1, Acme Corp).\nRunning servers see this at once (PostgreSQL notifies them); servers that use Redis only with --redis here.\n`,
    );
    for (const server of servers) {
      await until(
        "revocation by the CLI",
        async () => (await answer(get(server, byCli.rawKey), ["200", "revoked_api_key"])) !== "200",
      );
    }
  });
});

describe("example servers sharing a SQLite file", () => {
  const directory = mkdtempSync(join(tmpdir(), "keyguard-feeds-"));
  const env = {
    KEYGUARD_DATABASE_URL: `sqlite:${join(directory, "keyguard.db")}`,
    KEYGUARD_IP_BLOCK_THRESHOLD: "100000",
  };
  let servers: ExampleProcess[] = [];
  let admin: KeyGuard;

  beforeAll(async () => {
    admin = await createKeyGuard({ secretKey: EXAMPLE_SECRET }, { env });
    await admin.createOrganization("Acme Corp");
    servers = await Promise.all(
      ["express", "koa"].map((framework) => startExampleProcess(framework, env)),
    );
  });

  afterAll(async () => {
    await stop(servers);
    await admin?.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it(`refuses a key revoked by another process within ${SQLITE_BOUND_MS} ms, every time (${SQLITE_SAMPLES} revocations)`, async () => {
    const keys = await cachedKeys(admin, servers, SQLITE_SAMPLES);
    const latencies = await revocationLatencies(admin, servers, keys);
    expect(
      percentiles("revoke -> refusal elsewhere (SQLite change log)", latencies).slowest,
    ).toBeLessThan(SQLITE_BOUND_MS);
  });

  it("applies a revocation made with the CLI, which says how soon servers see it", async () => {
    const [key] = await cachedKeys(admin, servers, 1);
    if (!key) throw new Error("no key");
    const cli = await runKeyguardCli(["revoke-key", key.key.id], env, directory);
    expect(cli.stderr).toBe("");
    expect(cli.stdout).toBe(
      `Revoked key ${key.key.prefix} (feed-0, Acme Corp).\nRunning servers on this database file see this within 1 s.\n`,
    );
    for (const server of servers) {
      await until(
        "revocation by the CLI",
        async () => (await answer(get(server, key.rawKey), ["200", "revoked_api_key"])) !== "200",
        SQLITE_BOUND_MS * 4,
      );
    }
  });
});
