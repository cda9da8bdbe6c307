import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKeyGuard } from "@keyguard/express";
import { afterEach, describe, expect, it } from "vitest";
import { EXAMPLE_SECRET, type ExampleProcess, startExampleProcess } from "./example-process.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Stops a server the way an operator restarts one (SIGTERM), and waits for it to exit. */
async function stop(server: ExampleProcess): Promise<void> {
  if (server.child.exitCode === null) server.child.kill("SIGTERM");
  await server.exited;
}

/**
 * Two clients of one server without a proxy: the test reaches it over IPv4 (127.0.0.1)
 * and IPv6 (::1), which the pipeline identifies as two clients.
 */
describe("automatic blocks survive a restart of a server without Redis", () => {
  it("keeps a failed-authentication block and a lockout after a restart, until lifted", async () => {
    const directory = mkdtempSync(join(tmpdir(), "keyguard-automatic-blocks-"));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const databaseUrl = `sqlite:${join(directory, "keyguard.db")}`;
    const admin = await createKeyGuard({ secretKey: EXAMPLE_SECRET, databaseUrl }, { env: {} });
    await admin.createOrganization("Acme Corp");
    const { rawKey } = await admin.createApiKey({ organization: "Acme Corp", label: "k" });
    await admin.close();
    const env = { KEYGUARD_DATABASE_URL: databaseUrl, KEYGUARD_IP_BLOCK_THRESHOLD: "3" };

    let server = await startExampleProcess("express", env);
    cleanups.push(() => stop(server));
    const port = new URL(server.url).port;
    const v4 = (path: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${port}${path}`, init);
    const v6 = (path: string, init: RequestInit = {}) => fetch(`http://[::1]:${port}${path}`, init);
    const withKey = (key: string) => ({ headers: { "x-api-key": key } });
    const codeOf = async (response: Response) => ((await response.json()) as { code: string }).code;

    // IPv4 guesses keys: the third wrong one blocks it everywhere.
    for (let i = 0; i < 3; i++) expect((await v4("/api/data", withKey("wrong"))).status).toBe(401);
    const blocked = await v4("/api/data", withKey(rawKey));
    expect(blocked.status).toBe(403);
    expect(await codeOf(blocked)).toBe("ip_blocked");
    // IPv6 tries /login too often: locked out of /login for 15 minutes.
    for (let i = 0; i < 5; i++) expect((await v6("/login", { method: "POST" })).status).toBe(200);
    // The request that starts the lockout is answered as every one during it: 403 ip_blocked.
    const lockoutStart = await v6("/login", { method: "POST" });
    expect(lockoutStart.status).toBe(403);
    expect(await codeOf(lockoutStart)).toBe("ip_blocked");
    expect((await v6("/login", { method: "POST" })).status).toBe(403);

    await stop(server);
    server = await startExampleProcess("express", env);
    const restartedPort = new URL(server.url).port;
    const v4After = (path: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${restartedPort}${path}`, init);
    const v6After = (path: string, init: RequestInit = {}) =>
      fetch(`http://[::1]:${restartedPort}${path}`, init);

    // A new process, the same refusals: the blocks were stored, not only counted in memory.
    const still = await v4After("/api/data", withKey(rawKey));
    expect(still.status).toBe(403);
    expect(await codeOf(still)).toBe("ip_blocked");
    expect(Number(still.headers.get("retry-after"))).toBeGreaterThan(23 * 3_600);
    const lockedOut = await v6After("/login", { method: "POST" });
    expect(lockedOut.status).toBe(403);
    expect(Number(lockedOut.headers.get("retry-after"))).toBeGreaterThan(14 * 60);
    expect((await v6After("/api/data", withKey(rawKey))).status).toBe(200); // only /login

    // The operator sees both, as automatic, with their reasons, and lifts the first.
    const adminKey = { "x-admin-key": EXAMPLE_SECRET };
    const listing = await v6After("/admin/ip-blocks", { headers: adminKey });
    expect(listing.status).toBe(200);
    const { items } = (await listing.json()) as {
      items: {
        client: string;
        scope: string;
        path: string | null;
        reason: string;
        automatic: boolean;
      }[];
    };
    expect(items.map((b) => [b.client, b.scope, b.path, b.reason, b.automatic]).sort()).toEqual([
      ["127.0.0.1", "global", null, "auth_failures", true],
      ["::/64", "path", "/login", "lockout", true],
    ]);
    const lifted = await v6After("/admin/ip-blocks/127.0.0.1", {
      method: "DELETE",
      headers: adminKey,
    });
    expect(lifted.status).toBe(200);
    expect((await v4After("/api/data", withKey(rawKey))).status).toBe(200);

    // Lifted for good: the next restart does not bring it back.
    await stop(server);
    server = await startExampleProcess("express", env);
    const finalPort = new URL(server.url).port;
    expect((await fetch(`http://127.0.0.1:${finalPort}/api/data`, withKey(rawKey))).status).toBe(
      200,
    );
    expect((await fetch(`http://[::1]:${finalPort}/login`, { method: "POST" })).status).toBe(403);
  });
});
