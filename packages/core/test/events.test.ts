import { describe, expect, it } from "vitest";
import { isKeyGuardError } from "../src/errors/keyguard-error.js";
import { parseAuditEventQuery } from "../src/events/audit-event-query.js";
import { actorOf } from "../src/events/event-actor.js";
import { changedFields, keyFields } from "../src/events/event-changes.js";
import { EventIds } from "../src/events/event-id.js";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("event ids", () => {
  it("are UUIDv7 and strictly increasing, also within one millisecond and when the clock steps back", () => {
    const ids = new EventIds();
    const made = [
      ...Array.from({ length: 5_000 }, () => ids.next(1_700_000_000_000)),
      ids.next(1_600_000_000_000), // the clock stepped back
      ids.next(1_700_000_000_010),
    ];
    for (const id of made) expect(id).toMatch(UUID_V7);
    for (let i = 1; i < made.length; i++) {
      const [before, after] = [made[i - 1] as string, made[i] as string];
      expect(after > before, `${before} < ${after}`).toBe(true);
    }
    expect(new Set(made).size).toBe(made.length);
  });
});

describe("event changes", () => {
  it("hold only the changed fields, and never a key's hash", () => {
    const key = {
      id: "k1",
      orgId: "o1",
      label: "prod",
      prefix: "kg_live_Abcd",
      keyHash: "secret-hash-value",
      isActive: true,
      scopes: ["read"],
      rateLimitPerMinute: 60,
      monthlyLimit: null,
      createdAt: new Date(0),
      expiresAt: null,
      lastUsedAt: null,
      quotaId: "k1",
      replacedBy: null,
    };
    expect(JSON.stringify(keyFields(key))).not.toContain("secret-hash-value");
    expect(
      changedFields(keyFields(key), keyFields({ ...key, label: "new", scopes: ["read"] })),
    ).toEqual({ before: { label: "prod" }, after: { label: "new" } });
    expect(changedFields(keyFields(key), keyFields({ ...key, scopes: ["read", "write"] }))).toEqual(
      { before: { scopes: ["read"] }, after: { scopes: ["read", "write"] } },
    );
  });
});

describe("actors", () => {
  it("take a name or a typed actor, and refuse what cannot be stored", () => {
    expect(actorOf("billing-job")).toEqual({ type: "code", name: "billing-job" });
    expect(actorOf({ type: "cli", name: null })).toEqual({ type: "cli", name: null });
    for (const bad of ["", "x".repeat(201), "a\nb", { type: "root", name: "x" }, null]) {
      let error: unknown;
      try {
        actorOf(bad as never);
      } catch (e) {
        error = e;
      }
      expect(isKeyGuardError(error, "invalid_input"), String(bad)).toBe(true);
    }
  });
});

describe("audit listing filters", () => {
  it("accept known actions and bounded values, and name the field they refuse", () => {
    expect(parseAuditEventQuery({ action: ["key.revoked", "key.revoked"], limit: 5 })).toEqual({
      actions: ["key.revoked"],
      limit: 5,
    });
    const refused = (query: object) => {
      try {
        parseAuditEventQuery(query as never);
      } catch (error) {
        return isKeyGuardError(error, "invalid_input") ? error.details?.field : "other";
      }
      return "accepted";
    };
    expect(refused({ action: "key.deleted" })).toBe("action");
    expect(refused({ action: [] })).toBe("action");
    expect(refused({ limit: 10_001 })).toBe("limit");
    expect(refused({ until: "2026-01-01" })).toBe("until");
    expect(refused({ targetId: "" })).toBe("targetId");
    expect(refused({ afterId: "\u0000" })).toBe("afterId");
  });
});
