import { userInfo } from "node:os";
import { describe, expect, it } from "vitest";
import { cliBackends, useCliDatabase } from "./cli-backends.js";
import { oneLine } from "./keyguard-process.js";

const SECRET = "cli-audit-secret-0123456789";
const withSecret = { KEYGUARD_SECRET_KEY: SECRET };
/** CLI processes rotating one key at once. */
const PROCESSES = 6;

interface EventWire {
  id: string;
  at: string;
  actor: { type: string; name: string | null };
  action: string;
  target_type: string;
  target_id: string;
  changes: { before: Record<string, unknown>; after: Record<string, unknown> };
}

describe.each(cliBackends)("keyguard audit on $name", (backend) => {
  const { run, json } = useCliDatabase(backend);
  const audit = async (args: string[] = [], env: Record<string, string> = {}) =>
    json(await run(["audit", "--json", ...args], env)).items as EventWire[];

  async function setUp() {
    expect((await run(["init"])).code).toBe(0);
    expect((await run(["create-org", "Acme Corp"])).code).toBe(0);
    const created = json(
      await run(["create-key", "--org", "Acme Corp", "--label", "prod", "--json"], withSecret),
    ) as { id: string; prefix: string; raw_key: string };
    return created;
  }

  it("records each CLI change as the OS user's, lists it as a table or JSON, and records no refusal", async () => {
    const key = await setUp();
    expect((await run(["update-key", key.prefix, "--label", "prod-2"])).code).toBe(0);
    const rotated = json(await run(["rotate-key", key.id, "--json"], withSecret)).key as {
      id: string;
      raw_key: string;
    };
    expect((await run(["revoke-key", rotated.id])).code).toBe(0);
    expect((await run(["block-ip", "203.0.113.7", "--duration", "1h"])).code).toBe(0);
    expect((await run(["unblock-ip", "203.0.113.7"])).code).toBe(0);
    // Refused or changing nothing: none of these may add an event.
    expect((await run(["create-org", "Acme Corp"])).code).toBe(1);
    expect((await run(["revoke-key", rotated.id])).code).toBe(0); // already revoked
    expect((await run(["update-key", key.id, "--label", "x"])).code).toBe(1); // rotated
    expect((await run(["update-key", key.id, "--rate-limit", "-5"])).code).not.toBe(0);
    expect((await run(["unblock-ip", "203.0.113.7"])).code).toBe(0); // nothing to lift

    const events = await audit();
    expect(events.map((event) => event.action)).toEqual([
      "organization.created",
      "key.created",
      "key.updated",
      "key.rotated",
      "key.revoked",
      "ip_block.created",
      "ip_block.lifted",
    ]);
    for (const event of events) {
      expect(event.actor).toEqual({ type: "cli", name: userInfo().username });
    }
    expect(events[2]).toMatchObject({
      target_type: "key",
      target_id: key.id,
      changes: { before: { label: "prod" }, after: { label: "prod-2" } },
    });

    const table = await run(["audit"]);
    expect(table.code).toBe(0);
    expect(table.stderr).toBe("");
    const lines = table.stdout.split("\n");
    expect(lines[1]).toMatch(/^Time \(UTC\)\s+Actor\s+Action\s+Target\s+Changes$/);
    expect(lines[2]).toMatch(/^─+$/);
    expect(table.stdout).toMatch(
      new RegExp(
        `\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d  cli ${userInfo().username}\\s+key\\.updated\\s+${key.id}\\s+label: prod -> prod-2`,
      ),
    );
    expect(table.stdout).toMatch(/\nTotal: 7 event\(s\)\n$/);
    // What was shown once is in no listing of the log.
    for (const text of [table.stdout, JSON.stringify(events)]) {
      expect(text).not.toContain(key.raw_key);
      expect(text).not.toContain(rotated.raw_key);
    }
  });

  it("records allow-ip, deny-ip and remove-ip-rule as the OS user's, and no re-add, conflict or miss", async () => {
    expect((await run(["init"])).code).toBe(0);
    const allowed = json(
      await run(["allow-ip", "10.1.2.3/8", "--reason", "internal network", "--json"]),
    ) as { id: string };
    const denied = json(await run(["deny-ip", "198.51.100.0/24", "--json"])) as { id: string };
    // Changing nothing or refused: none of these may add an event.
    expect((await run(["allow-ip", "10.0.0.0/8"])).code).toBe(0); // there already
    expect((await run(["deny-ip", "10.0.0.0/8"])).code).toBe(1); // the other action
    expect((await run(["deny-ip", "10.0.0.0/33"])).code).toBe(1);
    expect((await run(["remove-ip-rule", denied.id])).code).toBe(0);
    expect((await run(["remove-ip-rule", denied.id])).code).toBe(1); // gone

    const created = await audit(["--action", "ip_rule.created"]);
    expect(created).toEqual([
      expect.objectContaining({
        actor: { type: "cli", name: userInfo().username },
        action: "ip_rule.created",
        target_type: "ip_rule",
        target_id: allowed.id,
        changes: {
          before: {},
          after: { cidr: "10.0.0.0/8", action: "allow", reason: "internal network" },
        },
      }),
      expect.objectContaining({
        target_id: denied.id,
        changes: { before: {}, after: { cidr: "198.51.100.0/24", action: "deny", reason: null } },
      }),
    ]);
    const all = await audit();
    expect(all.map((event) => `${event.action} ${event.target_id}`)).toEqual([
      `ip_rule.created ${allowed.id}`,
      `ip_rule.created ${denied.id}`,
      `ip_rule.removed ${denied.id}`,
    ]);
    expect(all[2]?.changes).toEqual({
      before: { cidr: "198.51.100.0/24", action: "deny", reason: null },
      after: {},
    });
  });

  it("filters by --action, --key, --since and --until, and stops at --limit", async () => {
    const key = await setUp();
    const other = json(
      await run(["create-key", "--org", "Acme Corp", "--label", "other", "--json"], withSecret),
    ) as { id: string };
    expect((await run(["revoke-key", key.id])).code).toBe(0);

    expect((await audit(["--action", "key.created"])).map((e) => e.target_id)).toEqual([
      key.id,
      other.id,
    ]);
    expect(
      (await audit(["--action", "key.revoked,organization.created"])).map((e) => e.action),
    ).toEqual(["organization.created", "key.revoked"]);
    // A key by its display prefix (or id, or raw key), as every key command takes it.
    expect((await audit(["--key", key.prefix])).map((e) => e.action)).toEqual([
      "key.created",
      "key.revoked",
    ]);
    // A raw key names its key through its hash: that needs the secret.
    expect(await audit(["--key", key.raw_key], withSecret)).toHaveLength(2);
    expect(await audit(["--target", other.id])).toHaveLength(1);
    expect(await audit(["--since", "1h"])).toHaveLength(4);
    expect(await audit(["--since", "2999-01-01"])).toEqual([]);
    expect(await audit(["--until", "2000-01-01"])).toEqual([]);
    expect(await audit(["--until", "2999-01-01T00:00:00Z"])).toHaveLength(4);
    const limited = await audit(["--limit", "3"]);
    expect(limited.map((e) => e.action)).toEqual([
      "organization.created",
      "key.created",
      "key.created",
    ]);
  });

  it("records IP rules and webhook endpoints added and removed, naming each by its id", async () => {
    expect((await run(["init"])).code).toBe(0);
    // An allow rule exempts a range from every limit; a deny rule refuses it; an endpoint
    // receives every event: each is a change the README's "every change" covers.
    const allowed = json(await run(["allow-ip", "10.0.0.0/8", "--json"])) as { id: string };
    const denied = json(await run(["deny-ip", "198.51.100.0/24", "--json"])) as { id: string };
    expect((await run(["remove-ip-rule", denied.id])).code).toBe(0);
    const hook = json(
      await run(["add-webhook", "http://127.0.0.1:9/hooks", "--events", "*", "--json"], withSecret),
    ) as { id: string; secret: string };
    expect((await run(["remove-webhook", hook.id])).code).toBe(0);

    const events = await audit();
    expect(events.map((event) => event.action)).toEqual([
      "ip_rule.created",
      "ip_rule.created",
      "ip_rule.removed",
      "webhook.created",
      "webhook.removed",
    ]);
    expect(events.map((event) => event.target_id)).toEqual([
      allowed.id,
      denied.id,
      denied.id,
      hook.id,
      hook.id,
    ]);
    for (const event of events) {
      expect(event.actor).toEqual({ type: "cli", name: userInfo().username });
    }
    expect(JSON.stringify(events)).not.toContain(hook.secret);
  });

  it("refuses bad options with one line on stderr", async () => {
    await setUp();
    const refusals: Array<[string[], number, RegExp]> = [
      [["--action", "key.exploded"], 1, /^keyguard: --action "key\.exploded" is not one of /],
      [["--since", "yesterday"], 2, /^keyguard: --since "yesterday" is not a duration/],
      [["--until", "2026-13-45"], 2, /^keyguard: --until "2026-13-45" is not a valid time/],
      [["--limit", "0"], 2, /^keyguard: --limit must be a positive whole number/],
      [["--key", "kg_live_nope"], 1, /^keyguard: .*/],
      [["--key", "x", "--target", "y"], 2, /^keyguard: give --key or --target, not both/],
    ];
    for (const [args, code, message] of refusals) {
      const result = await run(["audit", ...args]);
      expect(result.code, args.join(" ")).toBe(code);
      expect(result.stdout).toBe("");
      expect(oneLine(result)).toMatch(message);
    }
  });

  it(`leaves one key.rotated event when ${PROCESSES} processes rotate a key at once`, async () => {
    const key = await setUp();
    const results = await Promise.all(
      Array.from({ length: PROCESSES }, () => run(["rotate-key", key.id, "--json"], withSecret)),
    );
    expect(results.filter((r) => r.code === 0)).toHaveLength(1);
    const rotations = await audit(["--action", "key.rotated"]);
    expect(rotations).toHaveLength(1);
    expect(rotations[0]?.target_id).toBe(key.id);
  });
});
