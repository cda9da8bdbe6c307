import { postgresAvailable } from "@keyguard/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type CliBackend,
  type CliDatabase,
  postgresBackend,
  sqliteBackend,
} from "./cli-backends.js";
import { keyguard } from "./keyguard-process.js";

const SECRET = "cli-webhooks-secret-0123456789";
const backends: CliBackend[] = [
  sqliteBackend,
  ...((await postgresAvailable()) ? [postgresBackend] : []),
];

describe.each(backends)("keyguard webhook commands on $name", (backend) => {
  let db: CliDatabase;
  beforeEach(async () => {
    db = await backend.create();
    expect((await run(["init"])).code).toBe(0);
  });
  afterEach(async () => {
    await db.dispose();
  });

  const run = (args: string[], env: Record<string, string> = {}) =>
    keyguard(args, { cwd: db.cwd, env: { ...db.env, KEYGUARD_SECRET_KEY: SECRET, ...env } });

  it("adds (secret printed once), lists and removes endpoints", async () => {
    const added = await run([
      "add-webhook",
      "https://example.com/hooks/keyguard",
      "--events",
      "key.revoked,ip.auto_blocked,ip_rule.created",
    ]);
    expect(added).toMatchObject({ code: 0, stderr: "" });
    const id = /Added webhook endpoint ([0-9a-f-]{36})/.exec(added.stdout)?.[1] as string;
    const secret = /Secret:\s+(whsec_\S+)/.exec(added.stdout)?.[1] as string;
    expect(id).toBeDefined();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(added.stdout).toContain("Events:  key.revoked, ip.auto_blocked, ip_rule.created");
    expect(added.stdout).toContain("it will not be shown again");
    expect(await db.dump()).not.toContain(secret);

    const json = await run(["add-webhook", "http://127.0.0.1:9/x", "--events=*", "--json"]);
    expect(json.code).toBe(0);
    const second = JSON.parse(json.stdout);
    expect(second).toMatchObject({ url: "http://127.0.0.1:9/x", events: ["*"] });
    expect(second.secret).toMatch(/^whsec_/);

    const listed = await run(["list-webhooks"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).toContain("https://example.com/hooks/keyguard");
    expect(listed.stdout).toContain("Total: 2 endpoint(s)");
    expect(listed.stdout).not.toContain(secret);
    const listedJson = JSON.parse((await run(["list-webhooks", "--json"])).stdout);
    expect(listedJson.next_cursor).toBeNull();
    expect(listedJson.items.map((item: { id: string }) => item.id)).toEqual([id, second.id]);
    expect(JSON.stringify(listedJson)).not.toMatch(/whsec_|secret/);

    const removed = await run(["remove-webhook", id]);
    expect(removed).toEqual({
      code: 0,
      stdout: `Removed webhook endpoint ${id} (https://example.com/hooks/keyguard).\n`,
      stderr: "",
    });
    const again = await run(["remove-webhook", id]);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe("");
    expect(again.stderr).toBe(
      "keyguard: No webhook endpoint has this id. List them with: keyguard list-webhooks\n",
    );
    expect((await run(["list-webhooks"])).stdout).toContain("Total: 1 endpoint(s)");
  });

  it("refuses bad URLs and event names with one line and nothing stored", async () => {
    const cases: Array<[string[], number, string]> = [
      [
        ["add-webhook", "ftp://example.com/", "--events", "*"],
        1,
        "keyguard: url must use http:// or https://\n",
      ],
      [
        ["add-webhook", "https://user:pw@example.com/", "--events", "*"],
        1,
        "keyguard: url must not contain a user name or password\n",
      ],
      [
        ["add-webhook", "https://example.com/", "--events", "key.exploded"],
        1,
        expect.stringMatching(
          /^keyguard: --events: key\.exploded is not an event KeyGuard sends; use \* or one of .*quota\.exceeded, credits\.low\n$/,
        ) as never,
      ],
      [
        ["add-webhook", "https://example.com/"],
        2,
        "keyguard: add-webhook needs --events <names> (comma-separated, or *) (see keyguard --help)\n",
      ],
      [
        ["add-webhook", "https://example.com/", "--events", "key.revoked,,x"],
        2,
        'keyguard: --events must be event names separated by commas (got "key.revoked,,x") (see keyguard --help)\n',
      ],
    ];
    for (const [args, code, stderr] of cases) {
      const result = await run(args);
      expect(result, args.join(" ")).toMatchObject({ code, stdout: "", stderr });
    }
    const noSecret = await run(["add-webhook", "https://example.com/", "--events", "*"], {
      KEYGUARD_SECRET_KEY: "",
    });
    expect(noSecret.code).toBe(1);
    expect(noSecret.stderr).toMatch(/secret/i);
    expect((await run(["list-webhooks", "--json"])).stdout).toBe(
      `${JSON.stringify({ items: [], next_cursor: null }, null, 2)}\n`,
    );
  });
});
