import { describe, expect, it } from "vitest";
import { cliBackends, sqliteBackend, useCliDatabase } from "./cli-backends.js";
import { type CliResult, keyguard } from "./keyguard-process.js";

const SECRET = "cli-ip-rules-secret-0123456789";

describe.each(cliBackends)("keyguard CLI IP rules on $name", (backend) => {
  const cli = useCliDatabase(backend);
  const { run, json } = cli;
  const withSecret = { KEYGUARD_SECRET_KEY: SECRET };
  const fails = (result: CliResult, message: RegExp) => {
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(message);
  };

  it("allow-ip, deny-ip, list-ip-rules and remove-ip-rule, as tables and --json", async () => {
    expect((await run(["init"])).code).toBe(0);
    const allowed = await run(["allow-ip", "10.1.2.3/8", "--reason", "internal network"]);
    expect(allowed).toMatchObject({ code: 0, stderr: "" });
    expect(allowed.stdout).toMatch(/^Allowed 10\.0\.0\.0\/8 \(rule [0-9a-f-]{36}\)\.\n$/);
    const denied = json(await run(["deny-ip", "2001:DB8::/32", "--json"]));
    expect(denied).toMatchObject({
      cidr: "2001:db8::/32",
      action: "deny",
      reason: null,
      source: "store",
      created: true,
    });
    // The same rule again changes nothing, and says so.
    const again = await run(["deny-ip", "2001:db8:0::/32"]);
    expect(again.stdout).toBe(
      `2001:db8::/32 already had this rule (rule ${denied.id}); nothing changed.\n`,
    );
    // The other action for that range is refused, naming the rule there.
    fails(
      await run(["allow-ip", "2001:db8::/32"]),
      new RegExp(`already has a deny rule \\(${denied.id}\\)`),
    );

    const table = await run(["list-ip-rules"]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/ID\s+Action\s+CIDR\s+Source\s+Created \(UTC\)\s+Reason/);
    expect(table.stdout).toMatch(/allow\s+10\.0\.0\.0\/8\s+store\s+\S+ \S+\s+internal network/);
    expect(table.stdout).toMatch(/deny\s+2001:db8::\/32\s+store/);
    expect(table.stdout).toContain("Total: 2 rule(s)");
    const listed = json(await run(["list-ip-rules", "--json"]));
    expect(listed.items.map((rule: { cidr: string }) => rule.cidr)).toEqual([
      "10.0.0.0/8",
      "2001:db8::/32",
    ]);

    expect((await run(["remove-ip-rule", denied.id])).stdout).toBe(
      "Removed the deny rule for 2001:db8::/32.\n",
    );
    fails(await run(["remove-ip-rule", denied.id]), /No such IP rule/);
    expect(json(await run(["list-ip-rules", "--json"])).items).toHaveLength(1);
  });

  it("refuses bad ranges with one line and exit 1, writing nothing", async () => {
    expect((await run(["init"])).code).toBe(0);
    fails(
      await run(["deny-ip", "10.0.0.0/33"]),
      /^keyguard: cidr "10\.0\.0\.0\/33": an IPv4 prefix length is 0 to 32/,
    );
    fails(await run(["deny-ip", "not-an-ip"]), /is not an IP address or CIDR range/);
    fails(await run(["allow-ip", "127.1"]), /is not an IP address/);
    fails(await run(["allow-ip", "10.0.0.0/8", "--reason", "x".repeat(201)]), /reason/);
    expect(json(await run(["list-ip-rules", "--json"])).items).toEqual([]);
  });

  it("create-key and update-key take --allowed-ip (repeatable), shown in the output and --json", async () => {
    expect((await run(["init"])).code).toBe(0);
    expect((await run(["create-org", "Acme Corp"])).code).toBe(0);
    const created = await run(
      [
        "create-key",
        "--org",
        "Acme Corp",
        "--label",
        "office",
        "--allowed-ip",
        "192.0.2.7/24",
        "--allowed-ip=::ffff:198.51.100.1",
      ],
      withSecret,
    );
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/Allowed IPs: 192\.0\.2\.0\/24, 198\.51\.100\.1\/32\n/);
    const prefix = /Prefix:\s+(\S+)/.exec(created.stdout)?.[1] as string;
    // A key without them prints as before: no such line.
    const plain = await run(["create-key", "--org", "Acme Corp", "--label", "plain"], withSecret);
    expect(plain.stdout).not.toContain("Allowed IPs");

    const updated = json(
      await run(["update-key", prefix, "--allowed-ip", "2001:db8::1", "--json"]),
    );
    expect(updated.allowed_ips).toEqual(["2001:db8::1/128"]);
    const listed = json(await run(["list-keys", "--json"]));
    expect(
      listed.items.map((key: { label: string; allowed_ips: unknown }) => [
        key.label,
        key.allowed_ips,
      ]),
    ).toEqual([
      ["office", ["2001:db8::1/128"]],
      ["plain", null],
    ]);
    const lifted = json(await run(["update-key", prefix, "--allowed-ip", "any", "--json"]));
    expect(lifted.allowed_ips).toBeNull();

    fails(
      await run(["update-key", prefix, "--allowed-ip", "10.0.0.0/8", "--allowed-ip", "nope"]),
      /^keyguard: --allowed-ip "nope" is not an IP address/,
    );
    fails(
      await run(["update-key", prefix, "--allowed-ip", "::1/129"]),
      /^keyguard: --allowed-ip .*prefix length is 0 to 128/,
    );
    expect(json(await run(["list-keys", "--json"])).items[0].allowed_ips).toBeNull();
  });

  it("export and import keep a key's allowed_ips (a restriction is never silently lost)", async () => {
    expect((await run(["init"])).code).toBe(0);
    expect((await run(["create-org", "Acme Corp"])).code).toBe(0);
    const created = json(
      await run(
        [
          "create-key",
          "--org",
          "Acme Corp",
          "--label",
          "office",
          "--allowed-ip",
          "192.0.2.0/24",
          "--json",
        ],
        withSecret,
      ),
    );
    expect((await run(["export", "--out", "backup.json"])).code).toBe(0);
    const target = await sqliteBackend.create();
    try {
      const { readFileSync, writeFileSync } = await import("node:fs");
      const { join } = await import("node:path");
      const text = readFileSync(join(cli.db.cwd, "backup.json"), "utf8");
      expect(text).toContain('"allowed_ips":["192.0.2.0/24"]');
      writeFileSync(join(target.cwd, "backup.json"), text);
      const into = (args: string[]) => keyguard(args, { cwd: target.cwd, env: target.env });
      expect((await into(["import", "backup.json"])).code).toBe(0);
      const keys = json(await into(["list-keys", "--json"]));
      expect(keys.items).toEqual([
        expect.objectContaining({ id: created.id, allowed_ips: ["192.0.2.0/24"] }),
      ]);
      // A file naming something that is no address is refused, naming the line.
      writeFileSync(
        join(target.cwd, "bad.json"),
        text.replace('"allowed_ips":["192.0.2.0/24"]', '"allowed_ips":["nope"]'),
      );
      const bad = await into(["import", "bad.json"]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/allowed_ips/);
    } finally {
      await target.dispose();
    }
  });
});
