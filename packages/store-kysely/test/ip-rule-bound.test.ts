import { KeyGuard, resolveConfig } from "@keyguard/core";
import { MAX_IP_RULES } from "@keyguard/core/internal";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { createSqliteTestDatabase } from "./sqlite-test-database.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("the stored IP rule bound", () => {
  it("holds when two processes add the last rule at once: every rule added is applied", async () => {
    const db = createSqliteTestDatabase();
    cleanups.push(() => db.dispose());
    const open = async () => {
      const kg = new KeyGuard({
        config: resolveConfig({ secretKey: "ip-rule-bound-secret" }, {}),
        store: await db.open(),
      });
      await kg.init();
      cleanups.push(() => kg.close());
      return kg;
    };
    const first = await open();
    // One short of the bound, written in one transaction (adding them one by one is slow).
    const sqlite = new Database(db.path);
    const insert = sqlite.prepare(
      "insert into ip_rules (id, cidr, action, reason, created_at) values (?, ?, 'allow', null, ?)",
    );
    sqlite.transaction(() => {
      for (let i = 0; i < MAX_IP_RULES - 1; i++) {
        const id = `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;
        insert.run(id, `10.${i >> 8}.${i & 255}.0/24`, "2026-01-01T00:00:00.000Z");
      }
    })();
    sqlite.close();
    const second = await open();

    const attempts = await Promise.allSettled([
      first.addIpRule({ cidr: "198.51.100.7", action: "deny" }),
      second.addIpRule({ cidr: "198.51.100.8", action: "deny" }),
    ]);
    // Every rule added is one the processes apply (they read at most MAX_IP_RULES).
    const listed = (await second.listIpRules()).map((rule) => rule.cidr);
    for (const attempt of attempts) {
      if (attempt.status === "fulfilled") expect(listed).toContain(attempt.value.rule.cidr);
    }
    expect(attempts.filter((attempt) => attempt.status === "fulfilled")).toHaveLength(1);
    expect(attempts.filter((attempt) => attempt.status === "rejected")).toHaveLength(1);
    const counted = new Database(db.path, { readonly: true });
    const { count } = counted.prepare("select count(*) as count from ip_rules").get() as {
      count: number;
    };
    counted.close();
    expect(count).toBe(MAX_IP_RULES);
  });
});
