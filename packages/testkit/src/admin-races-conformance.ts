import { KeyGuard, resolveConfig, type Store } from "@keyguard/core";
import { afterEach, describe, expect, it } from "vitest";
import type { AdapterApp } from "./adapter-conformance.js";
import type { AdminConformanceOptions, StartAdminApp } from "./admin-conformance-support.js";

const SECRET = "admin-races-secret";
const CALLS = 50;

interface Answer {
  readonly status: number;
  readonly contentType: string | null;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  readonly body: any;
}

/** One server: a KeyGuard on a store, the adapter's admin test app in front of it. */
interface Server {
  readonly kg: KeyGuard;
  readonly app: AdapterApp;
}

/**
 * Races over real HTTP (a capability of the admin suite): parallel admin calls for one key
 * are decided by the database, so 50 rotations give one successor and 49 409 problems,
 * and 50 revocations one "revoked" and 49 "already revoked". And the rotation lineage:
 * a successor continues its predecessor's monthly quota, in one process and after a
 * restart (the quota seeded from the store).
 */
export function describeAdminRaces(start: StartAdminApp, options: AdminConformanceOptions): void {
  describe("races and rotation lineages over HTTP", () => {
    const cleanups: Array<() => Promise<void> | void> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function serve(store: Store): Promise<Server> {
      const kg = new KeyGuard({
        config: resolveConfig({ secretKey: SECRET }, {}),
        store,
        limiter: options.createLimiter(),
      });
      await kg.init();
      const app = await start(kg);
      const server = { kg, app };
      cleanups.push(() => stop(server));
      return server;
    }

    const stopped = new WeakSet<Server>();
    async function stop(server: Server): Promise<void> {
      if (stopped.has(server)) return;
      stopped.add(server);
      await server.app.close();
      await server.kg.close(); // flushes usage, closes the store
    }

    async function setup() {
      const database = await options.openStore();
      cleanups.push(() => database.dispose());
      let server = await serve(database.store);
      const call = async (method: string, path: string, body?: unknown): Promise<Answer> => {
        const response = await fetch(`${server.app.url}/admin${path}`, {
          method,
          headers: {
            "x-admin-key": SECRET,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await response.text();
        return {
          status: response.status,
          contentType: response.headers.get("content-type"),
          body: text === "" ? undefined : JSON.parse(text),
        };
      };
      const api = async (rawKey: string) => {
        const response = await fetch(`${server.app.url}/api/data`, {
          headers: { "x-api-key": rawKey },
        });
        const body = (await response.json()) as { code?: string };
        return response.status === 200 ? "ok" : `${response.status} ${body.code}`;
      };
      /** A restart: usage flushed, a new process's store, limiter and server. */
      const restart = async () => {
        await stop(server);
        server = await serve(await database.reopen());
      };
      await call("POST", "/orgs", { name: "Acme Corp" });
      return { call, api, restart };
    }

    it(`answers ${CALLS} rotations of one key at once with one new key and ${CALLS - 1} 409 problems`, async () => {
      const { call, api } = await setup();
      const key = (await call("POST", "/keys", { org_name: "Acme Corp", label: "prod" })).body;
      const answers = await Promise.all(
        Array.from({ length: CALLS }, () => call("POST", `/keys/${key.id}/rotate`)),
      );
      const created = answers.filter((a) => a.status === 201);
      const refused = answers.filter((a) => a.status !== 201);
      expect(created).toHaveLength(1);
      expect(refused).toHaveLength(CALLS - 1);
      for (const answer of refused) {
        expect(answer.status).toBe(409);
        expect(answer.contentType).toMatch(/^application\/problem\+json/);
        expect(answer.body).toMatchObject({
          status: 409,
          code: "key_already_rotated",
          title: "API key already rotated",
        });
        expect(answer.body.detail).toContain(created[0]?.body.key.id);
      }
      const keys = (await call("GET", "/keys")).body.items;
      expect(keys).toHaveLength(2);
      expect(await api(key.raw_key)).toBe("401 revoked_api_key");
      expect(await api(created[0]?.body.key.raw_key)).toBe("ok");
    });

    it(`answers ${CALLS} revocations of one key at once with one "revoked" and ${CALLS - 1} "already revoked"`, async () => {
      const { call, api } = await setup();
      const key = (await call("POST", "/keys", { org_name: "Acme Corp", label: "prod" })).body;
      const answers = await Promise.all(
        Array.from({ length: CALLS }, () => call("DELETE", `/keys/${key.id}`)),
      );
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        expect(answer.body).toMatchObject({ id: key.id, status: "revoked", is_active: false });
      }
      expect(answers.filter((a) => a.body.already_revoked === false)).toHaveLength(1);
      expect(answers.filter((a) => a.body.already_revoked === true)).toHaveLength(CALLS - 1);
      expect(await api(key.raw_key)).toBe("401 revoked_api_key");
    });

    it("refuses to rotate or change a rotated key, and to rotate a revoked one, with 409 problems", async () => {
      const { call } = await setup();
      const key = (await call("POST", "/keys", { org_name: "Acme Corp", label: "prod" })).body;
      const graced = await call("POST", `/keys/${key.id}/rotate`, { grace_period_seconds: 60 });
      expect(graced.status).toBe(201);
      const again = await call("POST", `/keys/${key.id}/rotate`);
      expect(again.body).toMatchObject({ status: 409, code: "key_already_rotated" });
      const patched = await call("PATCH", `/keys/${key.id}`, { label: "renamed" });
      expect(patched.body).toMatchObject({ status: 409, code: "key_already_rotated" });
      await call("DELETE", `/keys/${graced.body.key.id}`);
      const revoked = await call("POST", `/keys/${graced.body.key.id}/rotate`);
      expect(revoked.body).toMatchObject({ status: 409, code: "conflict" });
      expect(revoked.body.detail).toMatch(/revoked/);
    });

    /** 7 of a quota of 10 used with the first key, then the rotation. */
    async function usedSevenThenRotated(
      call: (method: string, path: string, body?: unknown) => Promise<Answer>,
      api: (rawKey: string) => Promise<string>,
      rotation?: { grace_period_seconds: number },
    ) {
      const key = (
        await call("POST", "/keys", { org_name: "Acme Corp", label: "metered", monthly_limit: 10 })
      ).body;
      for (let i = 0; i < 7; i++) expect(await api(key.raw_key)).toBe("ok");
      const rotated = await call("POST", `/keys/${key.id}/rotate`, rotation);
      expect(rotated.status).toBe(201);
      return { old: key.raw_key as string, next: rotated.body.key.raw_key as string };
    }

    /** How one request with each raw key in turn, in order, was answered. */
    async function answers(api: (rawKey: string) => Promise<string>, keys: readonly string[]) {
      const seen: string[] = [];
      for (const rawKey of keys) seen.push(await api(rawKey));
      return seen;
    }

    it("lets a rotated key's successor continue the month's quota: 7 of 10 used, 3 left", async () => {
      const { call, api } = await setup();
      const { next } = await usedSevenThenRotated(call, api);
      expect(await answers(api, [next, next, next, next])).toEqual([
        "ok",
        "ok",
        "ok",
        "429 quota_exceeded",
      ]);
    });

    it("spends one quota with both keys during a grace period", async () => {
      const { call, api } = await setup();
      const { old, next } = await usedSevenThenRotated(call, api, { grace_period_seconds: 3600 });
      expect(await answers(api, [next, old, next, old, next])).toEqual([
        "ok",
        "ok",
        "ok",
        "429 quota_exceeded",
        "429 quota_exceeded",
      ]);
    });

    it("keeps the successor's 3 left after a restart (the quota seeded from the lineage's usage)", async () => {
      const { call, api, restart } = await setup();
      const { next } = await usedSevenThenRotated(call, api);
      await restart();
      expect(await answers(api, [next, next, next, next])).toEqual([
        "ok",
        "ok",
        "ok",
        "429 quota_exceeded",
      ]);
    });

    it("adds up both keys' usage when seeding after a restart in the grace period", async () => {
      const { call, api, restart } = await setup();
      const { old, next } = await usedSevenThenRotated(call, api, { grace_period_seconds: 3600 });
      expect(await api(next)).toBe("ok"); // 8 of 10: 7 with the old key, 1 with the new
      await restart();
      expect(await answers(api, [old, next, next])).toEqual(["ok", "ok", "429 quota_exceeded"]);
    });
  });
}
