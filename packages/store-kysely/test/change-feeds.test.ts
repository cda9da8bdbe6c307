import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ChangeFeed,
  createKeyGuard,
  type KeyGuard,
  type KeyGuardChange,
  type Store,
} from "@keyguard/core";
import {
  dropSchema,
  eventually,
  postgresAvailable,
  startTcpProxy,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "@keyguard/testkit";
import { sql } from "kysely";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import {
  changeChannelOf,
  createKyselyStore,
  type KyselyStore,
  PostgresChangeFeed,
  SqliteChangeFeed,
} from "../src/index.js";

const pgAvailable = await postgresAvailable();
const SECRET = "change-feed-test-secret";
/** Generous bounds on asynchronous effects: they end the wait as soon as seen. */
const WAIT_MS = 10_000;
/** Blocks re-read only by notices here: the periodic re-read (2 s by default) is pushed out. */
const NO_PERIODIC_SYNC = { blockSyncIntervalMs: 3_600_000 };

/** A store that counts its key lookups: how a test sees that a cached key was dropped. */
function countingLookups(store: KyselyStore): { store: Store; lookups: () => number } {
  let lookups = 0;
  const counted = new Proxy(store, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (property === "findApiKeyByHash") lookups++;
        return value.apply(target, args);
      };
    },
  });
  return { store: counted as Store, lookups: () => lookups };
}

interface Deployment {
  /** Makes the changes (the CLI, another server). */
  readonly writer: KeyGuard;
  /** Holds keys in its cache and must hear about the writer's changes. */
  readonly reader: KeyGuard;
  readonly feed: ChangeFeed;
  readonly heard: KeyGuardChange[];
  readonly errors: unknown[];
  lookups(): number;
}

describe("the database's own change feed", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function deploy(databaseUrl: string, schema?: string): Promise<Deployment> {
    const config = { secretKey: SECRET, databaseUrl, ...NO_PERIODIC_SYNC };
    const writer = await createKeyGuard(config, { env: {} });
    cleanups.push(() => writer.close());
    const readerStore = await createKyselyStore({ url: databaseUrl, schema });
    const counting = countingLookups(readerStore);
    const errors: unknown[] = [];
    const feed = (await readerStore.openChangeFeed({
      onError: (error) => errors.push(error),
    })) as ChangeFeed;
    const heard: KeyGuardChange[] = [];
    feed.subscribe((change) => heard.push(change));
    const reader = await createKeyGuard(config, {
      env: {},
      store: counting.store,
      changeFeed: feed,
      onBackgroundError: (error) => errors.push(error),
    });
    cleanups.push(() => reader.close());
    await reader.syncBlocks();
    return { writer, reader, feed, heard, errors, lookups: counting.lookups };
  }

  /** Keys the reader has cached. */
  async function cachedKeys(deployment: Deployment, labels: string[]) {
    const { writer, reader } = deployment;
    await writer.createOrganization("Acme").catch(() => {});
    const keys = [];
    for (const label of labels) {
      const created = await writer.createApiKey({ organization: "Acme", label });
      expect((await reader.verifyKey(created.rawKey)).outcome).toBe("valid");
      keys.push(created);
    }
    const lookups = deployment.lookups();
    for (const { rawKey } of keys) expect((await reader.verifyKey(rawKey)).outcome).toBe("valid");
    expect(deployment.lookups(), "the keys are cached").toBe(lookups);
    return keys;
  }

  /** Revocation, update, rotation, suspension and blocks made by the writer reach the reader. */
  async function changesReachTheReader(
    deployment: Deployment,
    seeNotices: () => Promise<void> | void,
  ) {
    const { writer, reader } = deployment;
    const [used, revoked, updated, rotated] = await cachedKeys(deployment, [
      "used",
      "revoked",
      "updated",
      "rotated",
    ]);
    if (!used || !revoked || !updated || !rotated) throw new Error("keys missing");
    const lookupsBefore = deployment.lookups();
    const resyncs = () => deployment.heard.filter((change) => change.kind === "resync").length;
    const resyncsBefore = resyncs();

    // A usage write (last_used_at moves) changes nothing cached: no notice, no drop. The
    // revocation after it is heard in order, so once it is, the usage write would have been.
    await writer.store.insertUsageEvents([
      {
        keyId: used.key.id,
        path: "/api/data",
        method: "GET",
        statusCode: 200,
        latencyMs: 1,
        ipAddress: "127.0.0.1",
        timestamp: new Date(),
      },
    ]);
    await writer.revokeApiKey(revoked.key.id);
    await seeNotices();
    await eventually(
      async () => expect((await reader.verifyKey(revoked.rawKey)).outcome).toBe("revoked"),
      WAIT_MS,
    );
    expect((await reader.verifyKey(used.rawKey)).outcome).toBe("valid");
    // One lookup: the revoked key, re-read once its notice dropped it. The used key is still cached.
    expect(deployment.lookups() - lookupsBefore).toBe(1);
    expect(resyncs(), "no cache drop").toBe(resyncsBefore);

    await writer.updateApiKey(updated.key.id, { label: "renamed" });
    await seeNotices();
    await eventually(async () => {
      const result = await reader.verifyKey(updated.rawKey);
      expect(result.outcome === "valid" && result.key.label).toBe("renamed");
    }, WAIT_MS);

    await writer.rotateApiKey(rotated.key.id);
    await seeNotices();
    await eventually(
      async () => expect((await reader.verifyKey(rotated.rawKey)).outcome).toBe("revoked"),
      WAIT_MS,
    );

    await writer.suspendOrganization("Acme");
    await seeNotices();
    await eventually(
      async () =>
        expect((await reader.verifyKey(used.rawKey)).outcome).toBe("organization_suspended"),
      WAIT_MS,
    );

    const now = () => Date.now();
    await writer.blockIp("203.0.113.9", { duration: "1 hour" });
    await seeNotices();
    await eventually(
      () => expect(reader.findManualBlock("203.0.113.9", "/api/data", now())).toBeDefined(),
      WAIT_MS,
    );
    await writer.unblockIp("203.0.113.9");
    await seeNotices();
    await eventually(
      () => expect(reader.findManualBlock("203.0.113.9", "/api/data", now())).toBeUndefined(),
      WAIT_MS,
    );

    // IP rules: the database announces the rule itself, then its removal.
    const { rule } = await writer.addIpRule({ cidr: "198.51.100.7/24", action: "deny" });
    const ruleId = rule.id as string; // a stored rule always has one
    await seeNotices();
    await eventually(
      () =>
        expect(deployment.heard).toContainEqual({
          kind: "ip-rules",
          added: { id: ruleId, cidr: "198.51.100.0/24", action: "deny" },
        }),
      WAIT_MS,
    );
    await writer.removeIpRule(ruleId);
    await seeNotices();
    await eventually(
      () => expect(deployment.heard).toContainEqual({ kind: "ip-rules", removed: ruleId }),
      WAIT_MS,
    );
    expect(deployment.errors, "every notice was well-formed").toEqual([]);
  }

  describe.runIf(pgAvailable)("PostgreSQL (LISTEN/NOTIFY)", () => {
    async function pgDeployment() {
      const schema = uniqueSchemaName("feed");
      cleanups.push(() => dropSchema(schema));
      await withPostgresClient((client) => client.query(`create schema ${schema}`));
      const url = `${TEST_POSTGRES_URL}?options=-c%20search_path%3D${schema}`;
      const deployment = await deploy(url);
      return { ...deployment, schema };
    }

    it("delivers revocations, updates, rotations, suspensions and blocks made elsewhere; a usage write drops nothing", async () => {
      const deployment = await pgDeployment();
      expect(deployment.feed).toBeInstanceOf(PostgresChangeFeed);
      await changesReachTheReader(deployment, () => {});
    });

    it("hears changes made by SQL by hand, not usage-only updates, and ignores forged notices", async () => {
      const deployment = await pgDeployment();
      const { reader, heard, errors, schema } = deployment;
      const [key] = await cachedKeys(deployment, ["by-hand"]);
      if (!key) throw new Error("no key");
      heard.length = 0; // a new key notifies nothing: nothing can have cached it
      const sqlByHand = (text: string, values: unknown[] = []) =>
        withPostgresClient((client) => client.query(text, values), schema);
      await sqlByHand("update api_keys set last_used_at = now() where id = $1", [key.key.id]);
      await sqlByHand("select pg_notify($1, $2)", [changeChannelOf(schema), "not json"]);
      await sqlByHand("select pg_notify($1, $2)", [
        changeChannelOf(schema),
        JSON.stringify({ kind: "api-key", keyHash: 42 }),
      ]);
      await sqlByHand("update api_keys set is_active = false where id = $1", [key.key.id]);
      await eventually(
        async () => expect((await reader.verifyKey(key.rawKey)).outcome).toBe("revoked"),
        WAIT_MS,
      );
      // Exactly the revocation: nothing for the usage update, nothing for the forgeries.
      expect(heard).toEqual([{ kind: "api-key", keyHash: expect.any(String) }]);
      expect(errors.filter((error) => String(error).includes("unreadable"))).toHaveLength(2);
    });

    it("sends one resync instead of thousands of notices for a bulk change", async () => {
      const deployment = await pgDeployment();
      const { heard, schema } = deployment;
      await cachedKeys(deployment, ["a", "b"]);
      heard.length = 0;
      await withPostgresClient(async (client) => {
        await client.query("begin");
        for (let i = 0; i < 150; i++) {
          await client.query(
            `insert into ip_blocks (id, client, scope, reason, automatic, created_at, until)
             values ($1, $2, 'global', 'bulk', false, now(), now() + interval '1 hour')`,
            [`bulk-${i}`, `198.51.100.${i}`],
          );
        }
        await client.query("commit");
      }, schema);
      await eventually(() => expect(heard.at(-1)).toEqual({ kind: "resync" }), WAIT_MS);
      expect(heard.length).toBe(101); // 100 notices, then one resync
    });

    it("re-listens after losing its connection, and drops the cache once back", async () => {
      const deployment = await pgDeployment();
      const { writer, reader, feed, errors } = deployment;
      const [kept, revoked] = await cachedKeys(deployment, ["kept", "revoked-later"]);
      if (!kept || !revoked) throw new Error("keys missing");
      const pg = feed as PostgresChangeFeed;
      const pid = pg.backendPid as number;
      expect(pid).toBeGreaterThan(0);
      const lookups = deployment.lookups();
      await withPostgresClient((client) => client.query("select pg_terminate_backend($1)", [pid]));
      // Back on a new connection; until then nothing is dropped.
      await eventually(() => {
        expect(pg.listening).toBe(true);
        expect(pg.backendPid).not.toBe(pid);
      }, WAIT_MS);
      expect(deployment.heard.at(-1)).toEqual({ kind: "resync" });
      // The cache was dropped: a key it held is read again (once).
      expect((await reader.verifyKey(kept.rawKey)).outcome).toBe("valid");
      expect(deployment.lookups()).toBe(lookups + 1);
      expect(errors.some((error) => String(error).includes("lost its connection"))).toBe(true);
      // And notices flow again.
      expect((await reader.verifyKey(revoked.rawKey)).outcome).toBe("valid");
      await writer.revokeApiKey(revoked.key.id);
      await eventually(
        async () => expect((await reader.verifyKey(revoked.rawKey)).outcome).toBe("revoked"),
        WAIT_MS,
      );
    });
  });

  describe.runIf(pgAvailable)("PostgreSQL faults, through a TCP proxy", () => {
    it("survives the database going away and hanging: reconnects, resyncs, hears notices again", async () => {
      const schema = uniqueSchemaName("feedfault");
      cleanups.push(() => dropSchema(schema));
      const writer = await createKyselyStore({ url: TEST_POSTGRES_URL, schema });
      cleanups.push(() => writer.close());
      await writer.migrate();
      const proxy = await startTcpProxy(Number(new URL(TEST_POSTGRES_URL).port || 5432));
      cleanups.push(() => proxy.close());
      const proxied = new URL(TEST_POSTGRES_URL);
      proxied.port = String(proxy.port);
      const errors: unknown[] = [];
      const heard: KeyGuardChange[] = [];
      const feed = new PostgresChangeFeed({
        createClient: () =>
          new pg.Client({
            connectionString: proxied.toString(),
            options: `-c search_path=${schema}`,
          }) as never,
        onError: (error) => errors.push(error),
        heartbeatMs: 200,
        answerTimeoutMs: 500,
      });
      cleanups.push(() => feed.close());
      feed.subscribe((change) => heard.push(change));
      await feed.ready;
      expect(feed.listening).toBe(true);
      const resyncs = () => heard.filter((change) => change.kind === "resync").length;
      const blockAndHear = async (client: string) => {
        await writer.insertIpBlock({
          client,
          scope: "global",
          untilMs: Date.now() + 60_000,
          reason: "fault test",
        });
        await eventually(
          () =>
            expect(heard).toContainEqual(expect.objectContaining({ kind: "ip-blocks", client })),
          WAIT_MS,
        );
      };
      await blockAndHear("192.0.2.1");

      // Gone: connections dropped and refused. Attempts fail (reported), none crashes.
      await proxy.cut();
      await eventually(() => expect(errors.length).toBeGreaterThanOrEqual(3), WAIT_MS);
      expect(feed.listening).toBe(false);
      const before = resyncs();
      await proxy.restore();
      await eventually(() => expect(resyncs()).toBe(before + 1), WAIT_MS);
      await blockAndHear("192.0.2.2");

      // Hung: nothing errors, bytes stop. The health check notices, and so does reconnecting.
      await proxy.stall();
      await eventually(() => expect(feed.listening).toBe(false), WAIT_MS);
      const stalledResyncs = resyncs();
      await proxy.resume();
      await eventually(() => expect(resyncs()).toBeGreaterThan(stalledResyncs), WAIT_MS);
      await blockAndHear("192.0.2.3");
    });
  });

  describe("SQLite (a change log polled every 250 ms)", () => {
    async function sqliteDeployment() {
      const dir = mkdtempSync(join(tmpdir(), "keyguard-feed-"));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      return deploy(`sqlite:${join(dir, "keyguard.db")}`);
    }

    it("delivers changes made through another connection; a usage write drops nothing", async () => {
      const deployment = await sqliteDeployment();
      const feed = deployment.feed as SqliteChangeFeed;
      expect(feed).toBeInstanceOf(SqliteChangeFeed);
      // Polled by hand, so what each look finds is known (the timer looks every 250 ms).
      await changesReachTheReader(deployment, () => feed.poll());
    });

    it("resyncs when it fell further behind than the log keeps", async () => {
      const deployment = await sqliteDeployment();
      const feed = deployment.feed as SqliteChangeFeed;
      await deployment.writer.createOrganization("Bulk");
      feed.poll();
      deployment.heard.length = 0;
      for (let i = 0; i < 1_100; i++) {
        await deployment.writer.store.insertIpBlock({
          client: `10.0.${Math.floor(i / 250)}.${i % 250}`,
          scope: "global",
          untilMs: Date.now() + 3_600_000,
          reason: "bulk",
        });
      }
      feed.poll();
      expect(deployment.heard).toEqual([{ kind: "resync" }]);
    });

    it("announces a concurrency cap (or a limit) changed by hand together with last_used_at", async () => {
      const deployment = await sqliteDeployment();
      const feed = deployment.feed as SqliteChangeFeed;
      const [key] = await cachedKeys(deployment, ["capped"]);
      if (!key) throw new Error("no key");
      feed.poll();
      deployment.heard.length = 0;
      const { db } = deployment.writer.store as KyselyStore;
      await sql`update api_keys set last_used_at = ${new Date().toISOString()}, concurrency = 3
        where id = ${key.key.id}`.execute(db);
      feed.poll();
      expect(deployment.heard).toHaveLength(1);
      expect(deployment.heard[0]).toMatchObject({ kind: "api-key" });
      const reread = await deployment.reader.verifyKey(key.rawKey);
      expect(reread).toMatchObject({ outcome: "valid", key: { concurrency: { limit: 3 } } });
    });

    it("finds nothing to read while only usage is written", async () => {
      const deployment = await sqliteDeployment();
      const feed = deployment.feed as SqliteChangeFeed;
      const [key] = await cachedKeys(deployment, ["busy"]);
      if (!key) throw new Error("no key");
      feed.poll();
      deployment.heard.length = 0;
      const lookups = deployment.lookups();
      for (let i = 0; i < 5; i++) {
        await deployment.writer.store.insertUsageEvents([
          {
            keyId: key.key.id,
            path: "/",
            method: "GET",
            statusCode: 200,
            latencyMs: 1,
            ipAddress: null,
            timestamp: new Date(Date.now() + i * 1_000),
          },
        ]);
        feed.poll();
      }
      expect(deployment.heard).toEqual([]);
      expect((await deployment.reader.verifyKey(key.rawKey)).outcome).toBe("valid");
      expect(deployment.lookups()).toBe(lookups);
    });
  });
});
