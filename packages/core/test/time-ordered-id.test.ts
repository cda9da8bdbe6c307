import { describe, expect, it } from "vitest";
import { timeOrderedId } from "../src/util/time-ordered-id.js";

describe("timeOrderedId", () => {
  it("is a UUIDv7 whose text order is time order", () => {
    const ids = [1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000].map(timeOrderedId);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect([...ids].sort()).toEqual(ids);
    expect(ids[0]?.replace(/-/g, "").slice(0, 12)).toBe(
      (1_700_000_000_000).toString(16).padStart(12, "0"),
    );
    expect(new Set(Array.from({ length: 1000 }, () => timeOrderedId(5))).size).toBe(1000);
  });
});
