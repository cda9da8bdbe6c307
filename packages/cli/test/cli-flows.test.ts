import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { postgresAvailable, TEST_POSTGRES_URL } from "@keyguard/testkit";
import { describe, expect, it } from "vitest";
import { cliBackends, useCliDatabase } from "./cli-backends.js";
import { keyguard, oneLine } from "./keyguard-process.js";

const SECRET = "cli-test-secret-0123456789";
const pgAvailable = await postgresAvailable();
const ANSI_ESCAPE = "\u001b[";

describe.each(cliBackends)("keyguard CLI on $name", (backend) => {
  const cli = useCliDatabase(backend);
  const { run, json } = cli;
  const withSecret = { KEYGUARD_SECRET_KEY: SECRET };
  async function initWithOrg(name = "Acme Corp") {
    expect((await run(["init"])).code).toBe(0);
    expect((await run(["create-org", name])).code).toBe(0);
  }

  it("runs keyguard-python's flow: init, orgs, keys, list, revoke, stats", async () => {
    const init = await run(["init"]);
    expect(init).toMatchObject({ code: 0, stderr: "" });
    expect(init.stdout).toMatch(/^KeyGuard database ready: /);
    expect((await run(["init"])).code).toBe(0); // safe twice

    expect((await run(["create-org", "Acme Corp"])).stdout).toMatch(
      /^Created organization "Acme Corp" \([0-9a-f-]{36}\)/,
    );
    expect((await run(["create-org", "Dev Team"])).code).toBe(0);

    const created = await run(
      ["create-key", "--org", "Acme Corp", "--label", "production", "--rate-limit", "120"],
      withSecret,
    );
    expect(created.code).toBe(0);
    const rawKey = /Key:\s+(kg_live_\S+)/.exec(created.stdout)?.[1] as string;
    expect(rawKey).toMatch(/^kg_live_[A-Za-z0-9_-]{49}$/);
    expect(created.stdout).toContain("it will not be shown again");
    expect(created.stdout).toMatch(/Rate limit:\s+120\/min/);

    await run(["create-key", "--org", "Acme Corp", "--label", "staging-key"], withSecret);
    const test = json(
      await run(
        ["create-key", "--org=Dev Team", "--label=test-key", "--rate-limit=30", "--test", "--json"],
        withSecret,
      ),
    );
    expect(test.raw_key).toMatch(/^kg_test_/);
    expect(test).toMatchObject({
      label: "test-key",
      rate_limit_per_minute: 30,
      org_name: "Dev Team",
    });
    expect(JSON.stringify(test)).not.toMatch(/hash/i);

    const revoked = await run(["revoke-key", test.prefix]);
    expect(revoked.stdout).toBe(
      `Revoked key ${test.prefix} (test-key, Dev Team).\n${backend.propagation}\n`,
    );
    const again = await run(["revoke-key", test.prefix]);
    expect(again).toMatchObject({
      code: 0,
      stderr: "",
      stdout: `Key ${test.prefix} (test-key, Dev Team) was already revoked.\n`,
    });
    expect(json(await run(["revoke-key", test.id, "--json"]))).toMatchObject({
      id: test.id,
      is_active: false,
      already_revoked: true,
    });

    const list = await run(["list-keys"]);
    expect(list.code).toBe(0);
    expect(list.stdout).not.toContain(ANSI_ESCAPE);
    const lines = list.stdout.split("\n");
    expect(lines[1]).toMatch(/^Label {21}Prefix {10}Org {18}Status {5}Rate\/min {3}Last Used$/);
    expect(lines[2]).toMatch(/^─{90,}$/);
    expect(lines[3]).toMatch(
      /^production {16}kg_live_.{4} {4}Acme Corp {12}active {5}120 {8}never$/,
    );
    expect(lines[4]).toMatch(
      /^staging-key {15}kg_live_.{4} {4}Acme Corp {12}active {5}60 {9}never$/,
    );
    expect(lines[5]).toMatch(/^test-key {18}kg_test_.{4} {4}Dev Team {13}revoked {4}30 {9}never$/);
    expect(list.stdout).toContain("\nTotal: 3 key(s)\n");
    expect(list.stdout).not.toContain(rawKey);

    expect((await run(["list-keys"], { FORCE_COLOR: "1" })).stdout).toContain(ANSI_ESCAPE);
    expect((await run(["list-keys"], { FORCE_COLOR: "1", NO_COLOR: "1" })).stdout).not.toContain(
      ANSI_ESCAPE,
    );

    const listed = json(await run(["list-keys", "--org", "Acme Corp", "--json"]));
    // The admin API's wire format: a page (never a next one), snake_case, ISO 8601 times.
    expect(listed.next_cursor).toBeNull();
    expect(listed.items.map((k: { label: string }) => k.label)).toEqual([
      "production",
      "staging-key",
    ]);
    expect(Object.keys(listed.items[0]).sort()).toEqual(
      [
        "id",
        "org_id",
        "org_name",
        "label",
        "prefix",
        "status",
        "is_active",
        "scopes",
        "rate_limit_per_minute",
        "monthly_limit",
        "created_at",
        "expires_at",
        "last_used_at",
        "allowed_ips",
        "limits",
        "concurrency",
        "concurrency_mode",
        "credits",
      ].sort(),
    );
    expect(listed.items[0].created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(JSON.stringify(listed)).not.toContain(rawKey);

    const orgs = json(await run(["list-orgs", "--json"])).items;
    expect(Object.keys(orgs[0]).sort()).toEqual([
      "concurrency",
      "concurrency_mode",
      "created_at",
      "id",
      "key_count",
      "limits",
      "name",
      "status",
    ]);
    expect(orgs.map((o: { name: string; key_count: number }) => [o.name, o.key_count])).toEqual([
      ["Acme Corp", 2],
      ["Dev Team", 1],
    ]);
    expect((await run(["list-orgs"])).stdout).toMatch(
      /Acme Corp\s+active\s+2\s+\d{4}-\d{2}-\d{2} \d{2}:\d{2}/,
    );

    const stats = await run(["stats"]);
    expect(stats.stdout).toContain("║        KeyGuard Statistics           ║");
    expect(stats.stdout).toMatch(/║ {2}Organizations: {4}2 +║/);
    expect(stats.stdout).toMatch(/║ {2}Total Keys: {7}3 +║/);
    expect(stats.stdout).toMatch(/║ {2}Active Keys: {6}2 +║/);
    expect(json(await run(["stats", "--json"]))).toEqual({
      organizations: 2,
      total_keys: 3,
      active_keys: 2,
      total_requests: 0,
      requests_last_hour: 0,
      error_rate: 0,
      legacy_hash_keys: 0,
      previous_secret_keys: 0,
    });

    // The raw key is nowhere in the database.
    const dump = await cli.db.dump();
    expect(dump).not.toContain(rawKey);
    expect(dump).not.toContain(rawKey.slice(12, 45));
  });

  it("refuses an empty database for every command but init, creating nothing", async () => {
    // SQLite: an empty file where the database should be (PostgreSQL: a fresh schema).
    if (cli.db.env.KEYGUARD_DATABASE_URL === undefined)
      writeFileSync(join(cli.db.cwd, "keyguard.db"), "");
    // Had one of them created the tables, the ones after it would succeed.
    for (const args of [["list-keys"], ["stats"], ["create-org", "Acme"], ["list-orgs"]]) {
      const result = await run(args);
      expect(result.code, result.stderr).toBe(1);
      expect(oneLine(result)).toMatch(
        /^keyguard: No KeyGuard tables in the database at .+\. Create them with "keyguard init"/,
      );
      expect(result.stdout).toBe("");
    }
    expect((await run(["init"])).code).toBe(0);
    expect(json(await run(["list-orgs", "--json"])).items).toEqual([]);
  });

  it("reports usage and statistics with thousands separators", async () => {
    await initWithOrg();
    const key = json(
      await run(["create-key", "--org", "Acme Corp", "--label", "busy", "--json"], withSecret),
    );
    const kg = await cli.db.openKeyGuard(SECRET);
    const now = Date.now();
    const hour = 3_600_000;
    for (let i = 0; i < 1_247; i++) {
      const age = i < 83 ? 60_000 : i < 1_000 ? 2 * hour : 30 * hour;
      kg.recordUsage({
        keyId: key.id,
        path: "/api/data",
        method: "GET",
        statusCode: i % 40 === 0 ? 500 : i % 50 === 1 ? 404 : 200,
        latencyMs: 3,
        ipAddress: "192.0.2.1",
        timestamp: new Date(now - age),
      });
    }
    await kg.close();

    const stats = await run(["stats"]);
    expect(stats.stdout).toMatch(/Total Requests: {3}1,247 /);
    expect(stats.stdout).toMatch(/Requests \(1h\): {4}83 /);
    // 32 answers of 500 and 25 of 404 in 1,247: the box shows keyguard-python's percentage, the
    // JSON the admin API's fraction.
    expect(stats.stdout).toMatch(/║ {2}Error Rate: {7}4\.6% +║/);
    expect(json(await run(["stats", "--json"])).error_rate).toBeCloseTo(57 / 1_247, 10);

    const usage = json(await run(["usage", key.prefix, "--since", "3h", "--json"]));
    expect(usage.key_id).toBe(key.id);
    expect(usage.since).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    expect(usage.hours).toHaveLength(4);
    expect(usage.hours[0].hour).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:00:00\.000Z$/);
    const total = usage.hours.reduce((sum: number, b: { total: number }) => sum + b.total, 0);
    expect(total).toBe(1_000);
    const sum = (field: string) =>
      usage.hours.reduce((s: number, b: Record<string, number>) => s + (b[field] ?? 0), 0);
    expect(sum("status_2xx") + sum("status_4xx") + sum("status_5xx")).toBe(1_000);
    expect(sum("status_5xx")).toBe(25);

    const chart = await run(["usage", key.id]);
    expect(chart.code).toBe(0);
    expect(chart.stdout).toMatch(/Usage of kg_live_.{4} \(busy, Acme Corp\) since/);
    expect(chart.stdout).toMatch(/\d{4}-\d{2}-\d{2} \d{2}:00 {2}█+/);
    expect(chart.stdout).toMatch(/2xx [\d,]+ · 4xx \d+ · 5xx \d+/);
    expect(chart.stdout).toContain("Total: 1,000 request(s)");
  });

  it("updates, rotates, suspends and reactivates", async () => {
    await initWithOrg();
    const { raw_key: rawKey, ...key } = json(
      await run(["create-key", "--org", "Acme Corp", "--label", "007", "--json"], withSecret),
    );
    expect(key.label).toBe("007"); // not turned into the number 7

    const updated = json(
      await run([
        "update-key",
        key.prefix,
        "--rate-limit",
        "5",
        "--monthly-limit",
        "1000",
        "--scopes",
        "read, write",
        "--expires",
        "30d",
        "--json",
      ]),
    );
    expect(updated).toMatchObject({
      rate_limit_per_minute: 5,
      monthly_limit: 1000,
      scopes: ["read", "write"],
    });
    expect(new Date(updated.expires_at).getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    const cleared = json(
      await run(["update-key", key.id, "--monthly-limit", "none", "--expires", "never", "--json"]),
    );
    expect(cleared).toMatchObject({ monthly_limit: null, expires_at: null });

    const rotated = json(
      await run(["rotate-key", key.prefix, "--grace", "24h", "--json"], withSecret),
    );
    expect(rotated.key.raw_key).not.toBe(rawKey);
    expect(rotated.key).toMatchObject({
      label: "007",
      rate_limit_per_minute: 5,
      scopes: ["read", "write"],
    });
    const graceEnd = new Date(rotated.previous.expires_at).getTime();
    expect(Math.abs(graceEnd - (Date.now() + 86_400_000))).toBeLessThan(60_000);
    expect(rotated.previous.is_active).toBe(true);

    const immediate = await run(["rotate-key", rotated.key.id], withSecret);
    expect(immediate.code).toBe(0);
    expect(immediate.stdout).toMatch(/The old key kg_live_.{4} is revoked\./);
    expect(immediate.stdout).toContain("it will not be shown again");

    const kg = await cli.db.openKeyGuard(SECRET);
    expect((await kg.verifyKey(rawKey)).outcome).toBe("valid"); // in its grace period
    expect((await kg.verifyKey(rotated.key.raw_key)).outcome).toBe("revoked");
    await kg.close();

    expect((await run(["suspend-org", "Acme Corp"])).stdout).toBe(
      `Organization "Acme Corp" is now suspended.\n${backend.propagation}\n`,
    );
    const suspendedKg = await cli.db.openKeyGuard(SECRET);
    expect((await suspendedKg.verifyKey(rawKey)).outcome).toBe("organization_suspended");
    await suspendedKg.close();
    expect((await run(["activate-org", "Acme Corp"])).stdout).toBe(
      `Organization "Acme Corp" is now active.\n${backend.propagation}\n`,
    );
  });

  it("blocks, lists and unblocks IPs", async () => {
    await initWithOrg();
    expect(
      (await run(["block-ip", "203.0.113.7", "--duration", "1h", "--reason", "card testing"]))
        .stdout,
    ).toMatch(
      /^Blocked 203\.0\.113\.7 everywhere until \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\.\nRunning servers /,
    );
    const pathBlock = json(
      await run(["block-ip", "2001:db8::1", "--path", "/api/withdraw", "--json"]),
    );
    expect(pathBlock).toMatchObject({
      client: "2001:db8::/64",
      scope: "path",
      path: "/api/withdraw",
      reason: "manual",
    });
    expect(pathBlock.until).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(Date.parse(pathBlock.until) - Date.now()).toBeGreaterThan(23 * 3_600_000);
    const list = await run(["list-blocks"]);
    expect(list.stdout).toMatch(/203\.0\.113\.7\s+global\s+\*\s+\S+ \S+\s+card testing/);
    expect(list.stdout).toMatch(/2001:db8::\/64\s+path\s+\/api\/withdraw/);
    expect(list.stdout).toContain("Total: 2 block(s)");
    expect((await run(["unblock-ip", "203.0.113.7"])).stdout).toBe(
      `Unblocked 203.0.113.7.\n${backend.propagation}\n`,
    );
    expect((await run(["unblock-ip", "203.0.113.7"])).stdout).toBe(
      "203.0.113.7 was not blocked.\n",
    );
    expect(json(await run(["list-blocks", "--json"])).items).toHaveLength(1);
    // A block made here is seen by a running app on the same database.
    const kg = await cli.db.openKeyGuard(SECRET);
    expect((await kg.listBlocks()).map((b) => b.client)).toEqual(["2001:db8::/64"]);
    await kg.close();
  });

  describe("bad input: one line on stderr, a non-zero exit, nothing written", () => {
    async function expectFailure(
      args: string[],
      code: number,
      message: RegExp,
      env: Record<string, string> = {},
    ) {
      const result = await run(args, env);
      expect(result.code, result.stderr).toBe(code);
      const line = oneLine(result);
      expect(line).toMatch(/^keyguard: /);
      expect(line).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(result.stdout).toBe("");
      return line;
    }

    it("refuses unknown and duplicate organizations", async () => {
      await initWithOrg();
      await expectFailure(["create-org", "Acme Corp"], 1, /already exists/);
      await expectFailure(
        ["create-key", "--org", "Nobody", "--label", "k"],
        1,
        /No organization named "Nobody"/,
        withSecret,
      );
      await expectFailure(
        ["list-keys", "--org", "Nobody"],
        1,
        /No organization named "Nobody"\. List them with: keyguard list-orgs$/,
      );
      await expectFailure(["suspend-org", "Nobody"], 1, /Nobody/);
      await expectFailure(["create-org", "x".repeat(300)], 1, /at most 200 characters/);
      expect(json(await run(["list-orgs", "--json"])).items).toHaveLength(1);
    });

    it("refuses unknown and ambiguous keys, revoking nothing", async () => {
      await initWithOrg();
      await run(["create-key", "--org", "Acme Corp", "--label", "alpha"], withSecret);
      await run(["create-key", "--org", "Acme Corp", "--label", "beta"], withSecret);
      await expectFailure(
        ["revoke-key", "kg_live_zzzz"],
        1,
        /No API key matches "kg_live_zzzz"\. List keys with: keyguard list-keys$/,
      );
      await expectFailure(["revoke-key", "kg_live_"], 1, /"kg_live_" is too short to name a key/);
      const keys = json(await run(["list-keys", "--json"])).items;
      expect(keys.every((k: { is_active: boolean }) => k.is_active)).toBe(true);
      await expectFailure(["usage", "kg_live_zzzz"], 1, /No API key matches/);
    });

    it("refuses invalid numbers and durations as usage errors", async () => {
      await initWithOrg();
      for (const value of ["abc", "0", "-5", "1.5", "1e3"]) {
        await expectFailure(
          ["create-key", "--org", "Acme Corp", "--label", "k", `--rate-limit=${value}`],
          2,
          /--rate-limit must be a positive whole number/,
          withSecret,
        );
      }
      // Without "=" too: a value that starts with "-" is the option's value, not a flag.
      for (const option of ["--rate-limit", "--monthly-limit"]) {
        await expectFailure(
          ["create-key", "--org", "Acme Corp", "--label", "k", option, "-5"],
          2,
          new RegExp(`^keyguard: ${option} must be a positive whole number \\(got -5\\)`),
          withSecret,
        );
      }
      await expectFailure(["usage", "kg_live_x", "--since", "-1h"], 2, /--since "-1h"/);
      await expectFailure(
        ["create-key", "--org", "Acme Corp", "--label", "k", "--monthly-limit", "lots"],
        2,
        /--monthly-limit/,
        withSecret,
      );
      await expectFailure(
        ["create-key", "--org", "Acme Corp", "--label", "k", "--expires", "soon"],
        2,
        /--expires "soon"/,
        withSecret,
      );
      await expectFailure(
        ["create-key", "--org", "Acme Corp", "--label", "k", "--expires", "2020-01-01"],
        1,
        /^keyguard: --expires must be in the future$/,
        withSecret,
      );
      await expectFailure(
        ["rotate-key", "kg_live_x", "--grace", "a while"],
        2,
        /--grace "a while" is not a duration/,
        withSecret,
      );
      await expectFailure(["usage", "kg_live_x", "--since", "yesterday"], 2, /--since/);
      await expectFailure(["create-key", "--label", "k"], 2, /create-key needs --org/, withSecret);
      await expectFailure(["update-key", "kg_live_x"], 2, /needs at least one of/);
      await expectFailure(["block-ip", "not-an-ip"], 1, /not an IP address/);
      await expectFailure(["block-ip", "203.0.113.7", "--duration", "a while"], 2, /--duration/);
      expect(json(await run(["list-blocks", "--json"])).items).toEqual([]);
      expect(json(await run(["list-keys", "--json"])).items).toEqual([]);
    });

    it("needs the secret to create or rotate keys", async () => {
      await initWithOrg();
      await expectFailure(
        ["create-key", "--org", "Acme Corp", "--label", "k"],
        1,
        /needs the secret key.*KEYGUARD_SECRET_KEY/,
      );
      await expectFailure(
        ["create-key", "--org", "Acme Corp", "--label", "k", "--secret", "short"],
        1,
        /the secret key \(--secret \/ KEYGUARD_SECRET_KEY\) must be at least 8/,
      );
      const ok = await run([
        "create-key",
        "--org",
        "Acme Corp",
        "--label",
        "k",
        "--secret",
        SECRET,
      ]);
      expect(ok.code).toBe(0);
      const rawKey = /Key:\s+(\S+)/.exec(ok.stdout)?.[1] as string;
      // Looking a key up by its raw value hashes it, so that needs the secret too.
      await expectFailure(["revoke-key", rawKey], 1, /needs the secret key/);
      expect(json(await run(["list-keys", "--json"])).items).toHaveLength(1);
    });

    it("rejects unknown commands and options, and missing arguments", async () => {
      await initWithOrg();
      await expectFailure(["frobnicate"], 2, /unknown command "frobnicate".*keyguard --help/);
      await expectFailure(["list-keys", "--colour"], 2, /Unknown option `--colour`/);
      await expectFailure(["create-org"], 2, /missing required args/);
    });

    it("shows the stack only with --debug", async () => {
      await initWithOrg();
      const result = await run(["create-org", "Acme Corp", "--debug"]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^keyguard: An organization named "Acme Corp" already exists\.\n/,
      );
      expect(result.stderr).toMatch(/\n\s+at /);
    });
  });
});

describe("keyguard CLI: database location errors", () => {
  const cwd = process.cwd();
  const expectUnavailable = async (args: string[], message: RegExp) => {
    const result = await keyguard(args, { cwd });
    expect(result.code).toBe(1);
    expect(oneLine(result)).toMatch(message);
    expect(result.stdout).toBe("");
  };

  it("explains a missing database instead of creating one", async () => {
    await expectUnavailable(
      ["list-keys", "--db", "sqlite:/tmp/keyguard-none-here/x.db"],
      /No KeyGuard database at .*Create it with "keyguard init"/,
    );
  });

  it("explains an unwritable or missing directory", async () => {
    await expectUnavailable(
      ["init", "--db", "sqlite:/proc/keyguard.db"],
      /Cannot open the SQLite database at \/proc\/keyguard\.db/,
    );
    await expectUnavailable(
      ["init", "--db", "sqlite:/no/such/dir/kg.db"],
      /directory \/no\/such\/dir does not exist/,
    );
  });

  it("explains an unreachable PostgreSQL server without showing its password", async () => {
    const result = await keyguard(["init", "--db", "postgres://admin:hunter2@127.0.0.1:1/db"], {
      cwd,
    });
    expect(result.code).toBe(1);
    expect(oneLine(result)).toMatch(/postgres database is unavailable.*ECONNREFUSED/);
    expect(result.stderr).not.toContain("hunter2");
  });

  it.skipIf(!pgAvailable)(
    "explains a PostgreSQL database that does not exist, for init too",
    async () => {
      const url = TEST_POSTGRES_URL.replace(/\/[^/?]*(\?.*)?$/, "/keyguard_no_such_database");
      for (const command of ["list-keys", "init"]) {
        const result = await keyguard([command, "--db", url], { cwd });
        expect(result.code).toBe(1);
        expect(oneLine(result)).toBe(
          'keyguard: The PostgreSQL database "keyguard_no_such_database" does not exist: create it (e.g. createdb), or check the database URL.',
        );
      }
    },
  );

  it("refuses an unsupported URL", async () => {
    await expectUnavailable(
      ["init", "--db", "mysql://x/y"],
      /the database URL \(--db \/ KEYGUARD_DATABASE_URL\) "mysql:\/\/x\/y" is unusable: the scheme "mysql:" is not supported/,
    );
  });
});
