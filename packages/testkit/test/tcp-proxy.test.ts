import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../src/eventually.js";
import {
  dropSchema,
  postgresAvailable,
  TEST_POSTGRES_URL,
  uniqueSchemaName,
  withPostgresClient,
} from "../src/postgres-test-database.js";
import { startTcpProxy, type TcpProxy } from "../src/tcp-proxy.js";

const available = await postgresAvailable();
const target = new URL(TEST_POSTGRES_URL);
const schema = uniqueSchemaName("proxy");

/** Whether `promise` settles within `ms`: used only to show that something does NOT happen. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true,
    () => true,
  );
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe.skipIf(!available)("tcp proxy in front of PostgreSQL", () => {
  let proxy: TcpProxy;
  const clients: pg.Client[] = [];

  const connect = async () => {
    const client = new pg.Client({
      host: "127.0.0.1",
      port: proxy.port,
      user: target.username,
      database: target.pathname.slice(1),
      options: `-c search_path=${schema}`,
    });
    const errors: Error[] = [];
    client.on("error", (error) => errors.push(error));
    clients.push(client);
    await client.connect();
    return { client, errors };
  };

  beforeAll(async () => {
    await withPostgresClient(async (client) => {
      await client.query(`create schema "${schema}"`);
      await client.query(`create table "${schema}".rows (id int primary key)`);
    });
    proxy = await startTcpProxy(Number(target.port || 5432), target.hostname);
  });
  afterAll(async () => {
    await proxy?.close();
    for (const client of clients) await client.end().catch(() => {});
    if (available) await dropSchema(schema);
  });

  const rowIds = () =>
    withPostgresClient(async (client) => {
      const { rows } = await client.query(`select id from "${schema}".rows order by id`);
      return rows.map((row) => row.id as number);
    });

  it("forwards, cuts (refusing new connections) and restores", async () => {
    const { client } = await connect();
    expect((await client.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
    await proxy.cut();
    await expect(client.query("select 1")).rejects.toThrow();
    await expect(connect()).rejects.toThrow(/ECONNREFUSED/);
    await proxy.restore();
    const again = await connect();
    expect((await again.client.query("select 2 as two")).rows).toEqual([{ two: 2 }]);
  });

  it("resets open connections with RST and keeps accepting new ones", async () => {
    const { client, errors } = await connect();
    await client.query("select 1");
    await proxy.reset();
    await eventually(
      () =>
        expect(errors.map((error) => (error as { code?: string }).code)).toContain("ECONNRESET"),
      5_000,
    );
    const again = await connect();
    expect((await again.client.query("select 3 as three")).rows).toEqual([{ three: 3 }]);
  });

  it("stalls without closing anything, then resumes", async () => {
    const { client, errors } = await connect();
    await client.query("select 1");
    await proxy.stall();
    expect(proxy.stalled).toBe(true);
    const pending = client.query("select 4 as four");
    const newcomer = connect();
    expect(await settlesWithin(pending, 500)).toBe(false);
    expect(await settlesWithin(newcomer, 100)).toBe(false);
    expect(errors).toEqual([]);
    await proxy.resume();
    expect((await pending).rows).toEqual([{ four: 4 }]);
    expect((await (await newcomer).client.query("select 5 as five")).rows).toEqual([{ five: 5 }]);
  });

  it("kills a connection after the server applied its COMMIT (simple query)", async () => {
    const { client, errors } = await connect();
    await client.query("begin");
    await client.query("insert into rows (id) values (1)");
    const killed = proxy.killAfterCommit();
    await expect(client.query("commit")).rejects.toThrow(/terminated/i);
    await killed;
    expect(errors.length).toBeGreaterThan(0);
    expect(await rowIds()).toContain(1);
    expect(proxy.commitsKilled).toBe(1);
  });

  it("kills a connection after the server applied its COMMIT (extended protocol)", async () => {
    const { client } = await connect();
    await client.query("begin");
    await client.query("insert into rows (id) values ($1)", [2]);
    const killed = proxy.killAfterCommit();
    await expect(client.query({ name: "the-commit", text: "COMMIT" })).rejects.toThrow(
      /terminated/i,
    );
    await killed;
    expect(await rowIds()).toContain(2);
  });

  it("lets COMMITs through when unarmed, and a rolled-back transaction is not killed", async () => {
    const { client } = await connect();
    await client.query("begin");
    await client.query("insert into rows (id) values (3)");
    await client.query("commit");
    const killed = proxy.killAfterCommit();
    await client.query("begin");
    await client.query("insert into rows (id) values (4)");
    await client.query("rollback");
    expect(await rowIds()).toEqual(expect.arrayContaining([3]));
    expect(await rowIds()).not.toContain(4);
    await client.query("begin");
    await client.query("insert into rows (id) values (5)");
    await expect(client.query("commit")).rejects.toThrow(/terminated/i);
    await killed;
    expect(await rowIds()).toContain(5);
  });
});
