import { describe, expect, it } from "vitest";
import { cliBackends, useCliDatabase } from "./cli-backends.js";
import { oneLine } from "./keyguard-process.js";

const SECRET = "cli-credits-secret-0123456789";
const withSecret = { KEYGUARD_SECRET_KEY: SECRET };

describe.each(cliBackends)(
  "keyguard credits (--credits, --refill, add-credits) on $name",
  (backend) => {
    const harness = useCliDatabase(backend);
    const { run, json } = harness;

    async function prepaidKey(...flags: string[]) {
      expect((await run(["init"])).code).toBe(0);
      expect((await run(["create-org", "Acme Corp"])).code).toBe(0);
      return json(
        await run(
          ["create-key", "--org", "Acme Corp", "--label", "prepaid", ...flags, "--json"],
          withSecret,
        ),
      );
    }

    it("creates a key with credits and a refill, shows them, tops them up and removes them", async () => {
      const created = await prepaidKey("--credits", "100", "--refill", "50/monthly");
      expect(created.credits).toMatchObject({
        remaining: 100,
        period_credits: 100,
        refill: { amount: 50, interval: "monthly" },
      });
      expect(created.credits.refills_at).toMatch(/-01T00:00:00\.000Z$/);
      // Spending (as a server's usage batch records it) shows in the listings.
      const kg = await harness.db.openKeyGuard(SECRET);
      const key = await kg.getApiKey(created.id);
      await kg.store.insertUsageEvents([
        {
          keyId: key.id,
          path: "/api/data",
          method: "GET",
          statusCode: 200,
          latencyMs: 2,
          ipAddress: "203.0.113.7",
          timestamp: new Date(),
          requestCount: 30,
          credits: 30,
          creditsPeriodStart: (key.credits as { epoch: Date }).epoch.getTime(),
        },
      ]);
      await kg.close();
      const table = await run(["list-keys"]);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/Limits/);
      expect(table.stdout).toMatch(/credits=70\/100 \+50\/mo/);
      expect(json(await run(["list-keys", "--json"])).items[0].credits.remaining).toBe(70);

      const added = await run(["add-credits", created.prefix, "25"]);
      expect(added.code, added.stderr).toBe(0);
      expect(added.stdout).toMatch(/^Added 25 credits to key kg_live_[\w-]+ \(prepaid\)/);
      expect(added.stdout).toMatch(
        /Credits: +95 of 125 left, refilled to 50 monthly \(next \d{4}-\d\d-01 00:00 UTC\)/,
      );
      const addedJson = json(await run(["add-credits", created.id, "5", "--json"]));
      expect(addedJson).toMatchObject({
        key_id: created.id,
        added: 5,
        remaining: 100,
        period_credits: 130,
      });

      const reset = json(await run(["update-key", created.id, "--credits", "7", "--json"]));
      expect(reset.credits).toMatchObject({ remaining: 7, period_credits: 7, refill: null });
      const updated = await run(["update-key", created.id, "--credits", "none"]);
      expect(updated.code).toBe(0);
      expect(json(await run(["list-keys", "--json"])).items[0].credits).toBeNull();
      // Every change is audited, attributed to the CLI.
      const events = json(await run(["audit", "--json"])).items as {
        action: string;
        actor: { type: string };
      }[];
      expect(events.filter((event) => event.action === "key.credits_added")).toHaveLength(2);
      expect(events.filter((event) => event.action === "key.updated")).toHaveLength(2);
      expect(events.every((event) => event.actor.type === "cli")).toBe(true);
    });

    it("refuses bad credit input with one line on stderr and a non-zero exit, writing nothing", async () => {
      const created = await prepaidKey("--credits", "10");
      for (const args of [
        ["add-credits", created.id, "0"],
        ["add-credits", created.id, "-5"],
        ["add-credits", created.id, "1.5"],
        ["add-credits", created.id, "lots"],
        ["add-credits", created.id, "9007199254740993"],
        ["add-credits", "0190a1b2-0000-7000-8000-000000000000", "5"],
        ["update-key", created.id, "--credits", "-1"],
        ["update-key", created.id, "--credits", "ten"],
        ["update-key", created.id, "--refill", "5/daily"],
        ["update-key", created.id, "--credits", "5", "--refill", "5/hourly"],
        ["update-key", created.id, "--credits", "5", "--refill", "0/daily"],
        ["create-key", "--org", "Acme Corp", "--label", "bad", "--credits", "1e3"],
      ]) {
        const result = await run(args, withSecret);
        expect(result.code, args.join(" ")).not.toBe(0);
        expect(oneLine(result)).toMatch(/^keyguard: /);
        expect(result.stdout).toBe("");
      }
      const none = json(
        await run(["create-key", "--org", "Acme Corp", "--label", "none", "--json"], withSecret),
      );
      const noCredits = await run(["add-credits", none.id, "5"]);
      expect(noCredits.code).toBe(1);
      expect(oneLine(noCredits)).toMatch(/has no credits/);
      expect((await run(["revoke-key", created.id])).code).toBe(0);
      const revoked = await run(["add-credits", created.id, "5"]);
      expect(revoked.code).toBe(1);
      expect(oneLine(revoked)).toMatch(/revoked/);
      const keys = json(await run(["list-keys", "--json"])).items as {
        id: string;
        credits: unknown;
      }[];
      expect(keys).toHaveLength(2);
      expect(keys.find((key) => key.id === created.id)?.credits).toMatchObject({
        period_credits: 10,
      });
    });
  },
);
