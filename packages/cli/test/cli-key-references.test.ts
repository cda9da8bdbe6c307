import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { cliBackends, useCliDatabase } from "./cli-backends.js";
import { oneLine } from "./keyguard-process.js";

const SECRET = "cli-reference-secret-0123456789";
const withSecret = { KEYGUARD_SECRET_KEY: SECRET };

describe.each(cliBackends)("keyguard CLI key references and bounds on $name", (backend) => {
  const cli = useCliDatabase(backend);
  const { run, json } = cli;
  /** Everything a command could have changed, as the CLI itself lists it. */
  const state = async () =>
    JSON.stringify([
      json(await run(["list-orgs", "--json"])),
      json(await run(["list-keys", "--json"])),
      json(await run(["list-blocks", "--json"])),
    ]);
  async function refused(args: string[], code: number, message: RegExp): Promise<string> {
    const result = await run(args, withSecret);
    expect(result.code, result.stderr).toBe(code);
    const line = oneLine(result);
    expect(line).toMatch(/^keyguard: /);
    expect(line).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe("");
    return line;
  }
  async function oneKey() {
    expect((await run(["init"])).code).toBe(0);
    expect((await run(["create-org", "Acme Corp"])).code).toBe(0);
    const { raw_key: rawKey, ...key } = json(
      await run(["create-key", "--org", "Acme Corp", "--label", "only", "--json"], withSecret),
    ) as { raw_key: string; id: string; prefix: string };
    return { rawKey, key };
  }

  it("never acts on a reference shorter than the display prefix, even with one key", async () => {
    const { key } = await oneKey();
    const before = await state();
    const short = ["k", "kg", "kg_live_", key.prefix.slice(0, -1), key.id.slice(0, 8)];
    for (const reference of short) {
      for (const command of [
        ["revoke-key", reference],
        ["rotate-key", reference],
        ["update-key", reference, "--label", "renamed"],
        ["usage", reference],
      ]) {
        await refused(command, 1, new RegExp(`"${reference}" is too short to name a key`));
      }
    }
    expect(await state()).toBe(before);
    // The full prefix, as list-keys shows it, and the id both work.
    expect(json(await run(["usage", key.prefix, "--json"])).key_id).toBe(key.id);
    expect(json(await run(["revoke-key", key.id, "--json"])).is_active).toBe(false);
  });

  it("refuses a display prefix that several keys share, changing nothing", async () => {
    const { key } = await oneKey();
    const kg = await cli.db.openKeyGuard(SECRET);
    const [org] = await kg.listOrganizations();
    for (const [label, hash] of [
      ["twin-a", "a"],
      ["twin-b", "b"],
    ] as const) {
      const id = randomUUID();
      await kg.store.insertApiKey({
        id,
        orgId: org?.id as string,
        label,
        prefix: "kg_live_TWIN",
        keyHash: hash.repeat(64),
        isActive: true,
        scopes: [],
        rateLimitPerMinute: 60,
        monthlyLimit: null,
        createdAt: new Date(),
        expiresAt: null,
        lastUsedAt: null,
        quotaId: id,
        replacedBy: null,
      });
    }
    await kg.close();
    const before = await state();
    for (const command of [
      ["revoke-key", "kg_live_TWIN"],
      ["rotate-key", "kg_live_TWIN"],
      ["update-key", "kg_live_TWIN", "--rate-limit", "5"],
      ["usage", "kg_live_TWIN"],
    ]) {
      const line = await refused(command, 1, /"kg_live_TWIN" matches several keys/);
      expect(line).toMatch(/twin-a/);
      expect(line).toMatch(/twin-b/);
      expect(line).toMatch(/Use the key's id instead/);
    }
    expect(await state()).toBe(before);
    expect(json(await run(["revoke-key", key.prefix, "--json"])).label).toBe("only");
  });

  it("refuses out-of-bounds values on one line, writing nothing", async () => {
    const { key } = await oneKey();
    const before = await state();
    const ip = "203.0.113.7";
    await refused(["block-ip", ip, "--duration", "99999999999 days"], 2, /--duration .* too long/);
    await refused(["block-ip", ip, "--duration", "3651d"], 2, /at most 3650 days/);
    await refused(["block-ip", ip, "--duration", "1e300"], 2, /--duration .* not a duration/);
    await refused(["block-ip", ip, "--path", `/${"a".repeat(3000)}`], 1, /path must be at most/);
    await refused(["block-ip", ip, "--path", "/a%00b"], 1, /path must not contain control/);
    await refused(["block-ip", ip, "--reason", "r".repeat(201)], 1, /reason must be at most 200/);
    await refused(["block-ip", ip, "--reason", "a\u001b[2Jb"], 1, /reason must not contain/);
    await refused(["block-ip", "1".repeat(500)], 1, /ip must be at most 100 characters/);
    await refused(["unblock-ip", "1".repeat(500)], 1, /ip must be at most 100 characters/);
    await refused(
      ["create-key", "--org", "Acme Corp", "--label", "x", "--expires", "99999d"],
      2,
      /--expires .* too long/,
    );
    await refused(
      ["create-key", "--org", "Acme Corp", "--label", "x", "--rate-limit", "9007199254740993"],
      2,
      /--rate-limit must be at most 9007199254740991 \(got 9007199254740993\)/,
    );
    await refused(
      ["create-key", "--org", "Acme Corp", "--label", "x", "--rate-limit", "2000000000"],
      1,
      /^keyguard: --rate-limit must be at most 1,000,000,000/,
    );
    await refused(
      ["create-key", "--org", "Acme Corp", "--label", "x", "--scopes", "a".repeat(101)],
      1,
      /each scope/,
    );
    await refused(["rotate-key", key.prefix, "--grace", "400d"], 1, /at most 365 days/);
    await refused(["usage", key.prefix, "--since", "400d"], 1, /within the last 366 days/);
    await refused(["list-keys", "--org", "o".repeat(5000)], 1, /No organization named/);
    expect(await state()).toBe(before);
  });
});
