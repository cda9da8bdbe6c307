import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CliDatabase, sqliteBackend } from "./cli-backends.js";
import { type CliResult, keyguard, oneLine } from "./keyguard-process.js";

const SECRET = "cli-limits-secret-0123456789";
const withSecret = { KEYGUARD_SECRET_KEY: SECRET };

describe("keyguard CLI named windows (--limit, set-org-limits)", () => {
  let db: CliDatabase;
  beforeEach(async () => {
    db = await sqliteBackend.create();
  });
  afterEach(async () => {
    await db.dispose();
  });
  const run = (args: string[], env: Record<string, string> = {}) =>
    keyguard(args, { cwd: db.cwd, env: { ...db.env, ...env } });
  const json = (result: CliResult) => {
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    return JSON.parse(result.stdout);
  };

  it("creates, shows, changes and clears a key's windows, and sets an organization's", async () => {
    expect((await run(["init"])).code).toBe(0);
    expect((await run(["create-org", "Acme Corp"])).code).toBe(0);
    const created = json(
      await run(
        [
          "create-key",
          "--org",
          "Acme Corp",
          "--label",
          "two windows",
          "--limit",
          "burst=10/1s",
          "--limit",
          "day=10000/1d",
          "--json",
        ],
        withSecret,
      ),
    );
    expect(created.limits).toEqual([
      { name: "burst", limit: 10, window_seconds: 1 },
      { name: "day", limit: 10000, window_seconds: 86400 },
    ]);
    const table = await run(["list-keys"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/Limits/);
    expect(table.stdout).toMatch(/burst=10\/1s day=10000\/1d/);
    expect(json(await run(["list-keys", "--json"])).items[0].limits).toHaveLength(2);
    const cleared = json(await run(["update-key", created.id, "--limit", "none", "--json"]));
    expect(cleared.limits).toEqual([]);
    expect((await run(["list-keys"])).stdout).not.toMatch(/Limits/); // keyguard-python's table again
    const org = json(
      await run(["set-org-limits", "Acme Corp", "--limit", "minute=5000/1m", "--json"]),
    );
    expect(org.limits).toEqual([{ name: "minute", limit: 5000, window_seconds: 60 }]);
    expect((await run(["set-org-limits", "Acme Corp", "--limit", "none"])).stdout.trim()).toBe(
      'Organization "Acme Corp" limits: none.',
    );
  });

  it("shows every window uncut in list-keys and the key's box, algorithm and shadow mode included", async () => {
    expect((await run(["init"])).code).toBe(0);
    expect((await run(["create-org", "Acme Corp"])).code).toBe(0);
    const windows =
      "burst=10/1s day=10000/1d:gcra week=50000/7d trial=100/1h:sliding-window-counter:shadow";
    const created = await run(
      [
        "create-key",
        "--org",
        "Acme Corp",
        "--label",
        "four",
        ...windows.split(" ").flatMap((w) => ["--limit", w]),
      ],
      withSecret,
    );
    expect(created.code).toBe(0);
    expect(created.stdout).toContain(`  Limits:      ${windows}\n`);
    expect(
      (await run(["create-key", "--org", "Acme Corp", "--label", "plain"], withSecret)).code,
    ).toBe(0);
    const table = await run(["list-keys"]);
    expect(table.code).toBe(0);
    const rows = table.stdout.split("\n");
    expect(rows.find((line) => line.startsWith("four"))?.endsWith(` ${windows}`)).toBe(true);
    expect(rows.find((line) => line.startsWith("plain"))?.endsWith(" -")).toBe(true);
    const listed = json(await run(["list-keys", "--json"])).items;
    expect(listed.find((key: { label: string }) => key.label === "four").limits).toEqual([
      { name: "burst", limit: 10, window_seconds: 1 },
      { name: "day", limit: 10000, window_seconds: 86400, algorithm: "gcra" },
      { name: "week", limit: 50000, window_seconds: 604800 },
      {
        name: "trial",
        limit: 100,
        window_seconds: 3600,
        algorithm: "sliding-window-counter",
        mode: "shadow",
      },
    ]);
    expect(listed.find((key: { label: string }) => key.label === "plain").limits).toEqual([]);
    const bad = await run(
      ["create-key", "--org", "Acme Corp", "--label", "bad", "--limit", "day=1/1d:fast"],
      withSecret,
    );
    expect(bad.code).toBe(2);
    expect(oneLine(bad)).toMatch(/^keyguard: --limit day=1\/1d:fast: "fast" is no algorithm/);
  });

  it("refuses a malformed or out-of-bounds --limit with one line and writes nothing", async () => {
    expect((await run(["init"])).code).toBe(0);
    expect((await run(["create-org", "Acme Corp"])).code).toBe(0);
    const create = (limit: string) =>
      run(["create-key", "--org", "Acme Corp", "--label", "bad", "--limit", limit], withSecret);
    const malformed = await create("burst:10");
    expect(malformed.code).toBe(2);
    expect(oneLine(malformed)).toMatch(/^keyguard: --limit must be NAME=LIMIT\/WINDOW/);
    const reserved = await create("minute=10/1s");
    expect(reserved.code).toBe(1);
    expect(oneLine(reserved)).toMatch(/may not be named minute, month, concurrency/);
    const tooLong = await create("a=1/32d");
    expect(tooLong.code).toBe(1);
    expect(oneLine(tooLong)).toMatch(/at most 31 days/);
    expect(json(await run(["list-keys", "--json"])).items).toEqual([]);
  });

  it("sets, shows and removes concurrency caps of keys and organizations", async () => {
    expect((await run(["init"])).code).toBe(0);
    expect((await run(["create-org", "Acme Corp"])).code).toBe(0);
    const created = json(
      await run(
        ["create-key", "--org", "Acme Corp", "--label", "capped", "--concurrency", "5", "--json"],
        withSecret,
      ),
    );
    expect(created).toMatchObject({ concurrency: 5, concurrency_mode: "enforce" });
    const table = await run(["list-keys"]);
    expect(table.stdout).toMatch(/Limits/);
    expect(table.stdout).toMatch(/concurrency=5/);
    const shadow = json(
      await run([
        "update-key",
        created.id,
        "--concurrency",
        "8",
        "--concurrency-mode",
        "shadow",
        "--json",
      ]),
    );
    expect(shadow).toMatchObject({ concurrency: 8, concurrency_mode: "shadow" });
    expect((await run(["list-keys"])).stdout).toMatch(/concurrency=8\/shadow/);
    const removed = json(await run(["update-key", created.id, "--concurrency", "none", "--json"]));
    expect(removed).toMatchObject({ concurrency: null, concurrency_mode: null });
    expect((await run(["list-keys"])).stdout).not.toMatch(/Limits/);
    expect((await run(["set-org-limits", "Acme Corp", "--concurrency", "50"])).stdout.trim()).toBe(
      'Organization "Acme Corp" limits: concurrency=50.',
    );
    const org = json(
      await run([
        "set-org-limits",
        "Acme Corp",
        "--limit",
        "minute=5000/1m",
        "--concurrency",
        "none",
        "--json",
      ]),
    );
    expect(org).toMatchObject({ concurrency: null, limits: [{ name: "minute", limit: 5000 }] });
    const audit = json(await run(["audit", "--action", "key.updated", "--json"]));
    expect(JSON.stringify(audit)).toMatch(/"concurrency":8/);
  });

  it("refuses a concurrency that is not a whole number from 1 to 10000 with one line, writing nothing", async () => {
    expect((await run(["init"])).code).toBe(0);
    expect((await run(["create-org", "Acme Corp"])).code).toBe(0);
    for (const value of ["0", "-1", "1.5", "three", "10001", "1e3", "99999999999999999999"]) {
      for (const args of [
        ["create-key", "--org", "Acme Corp", "--label", "bad", "--concurrency", value],
        ["set-org-limits", "Acme Corp", "--concurrency", value],
      ]) {
        const refused = await run(args, withSecret);
        expect(refused.code, `${args[0]} ${value}`).not.toBe(0);
        expect(refused.stdout).toBe("");
        expect(oneLine(refused)).toMatch(/^keyguard: --concurrency must be/);
      }
    }
    const modeAlone = await run(["set-org-limits", "Acme Corp", "--concurrency-mode", "shadow"]);
    expect(modeAlone.code).not.toBe(0);
    expect(oneLine(modeAlone)).toMatch(/--concurrency-mode needs --concurrency/);
    const badMode = await run(
      [
        "create-key",
        "--org",
        "Acme Corp",
        "--label",
        "bad",
        "--concurrency",
        "2",
        "--concurrency-mode",
        "loud",
      ],
      withSecret,
    );
    expect(oneLine(badMode)).toMatch(/--concurrency-mode must be enforce or shadow/);
    expect(json(await run(["list-keys", "--json"])).items).toEqual([]);
    expect(json(await run(["list-orgs", "--json"])).items[0]).toMatchObject({ concurrency: null });
  });
});
