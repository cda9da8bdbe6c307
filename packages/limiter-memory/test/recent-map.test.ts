import { describe, expect, it } from "vitest";
import { RecentMap } from "../src/recent-map.js";

const keysOf = (map: RecentMap<string, number>, all: string[]) => all.filter((k) => map.has(k));

describe("RecentMap", () => {
  it("refuses a bound that holds nothing or is not a whole number", () => {
    for (const max of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new RecentMap(max)).toThrow(RangeError);
    }
  });

  it("evicts the least recently set entry when full, and reports it as evicted", () => {
    const evicted: string[] = [];
    const map = new RecentMap<string, number>(3, (value, key) => evicted.push(`${key}=${value}`));
    for (const [i, key] of ["a", "b", "c", "d"].entries()) map.set(key, i);
    expect(keysOf(map, ["a", "b", "c", "d"])).toEqual(["b", "c", "d"]);
    expect(evicted).toEqual(["a=0"]);
    // Replacing or deleting an entry is not an eviction, and makes no room to evict for.
    map.set("c", 9);
    map.delete("b");
    map.set("e", 4);
    expect(evicted).toEqual(["a=0"]);
    expect(map.size).toBe(3);
    expect(map.get("c")).toBe(9);
  });

  it("moves an entry read while more than half full to the most recent end", () => {
    const map = new RecentMap<string, number>(4);
    for (const [i, key] of ["a", "b", "c"].entries()) map.set(key, i);
    expect(map.get("a")).toBe(0); // 3 of 4: moved
    map.set("d", 3);
    map.set("e", 4); // evicts b, the least recently used
    expect(keysOf(map, ["a", "b", "c", "d", "e"])).toEqual(["a", "c", "d", "e"]);
  });

  it("never evicts an entry used while the map filled from half to full", () => {
    const map = new RecentMap<string, number>(1_000);
    map.set("hot", 0);
    for (let i = 0; i < 10_000; i++) {
      map.set(`k${i}`, i);
      if (i % 400 === 0) expect(map.get("hot")).toBe(0);
    }
    expect(map.size).toBe(1_000);
  });

  it("drops up to two expired entries from the least recently used end per entry added", () => {
    const map = new RecentMap<string, { expiresAt: number }>(10);
    const has = (...keys: string[]) => keys.filter((k) => map.has(k));
    for (const [i, key] of ["a", "b", "c", "d"].entries()) map.set(key, { expiresAt: i });
    map.add("e", { expiresAt: 100 }, 2); // a (0) and b (1) expired by 2; c (2) too, but two at most
    expect(has("a", "b", "c", "d", "e")).toEqual(["c", "d", "e"]);
    map.add("f", { expiresAt: 100 }, 2); // c goes; d (3) is live and stops the sweep
    expect(has("c", "d", "e", "f")).toEqual(["d", "e", "f"]);
  });

  it("answers an expired entry as missing, and drops it", () => {
    const map = new RecentMap<string, { expiresAt: number }>(10);
    map.set("a", { expiresAt: 10 });
    expect(map.live("a", 9)?.expiresAt).toBe(10);
    expect(map.live("a", 10)).toBeUndefined();
    expect(map.has("a")).toBe(false);
  });

  it("keeps a key built by concatenation equal to itself (flattened, not changed)", () => {
    const map = new RecentMap<string, number>(10);
    const parts = ["ip:login:10.", String(1), ".", String(2), ".", String(3)];
    map.set(parts.join(""), 1);
    map.set(`ip:login:10.${1}.${2}.${4}`, 2);
    expect(map.get("ip:login:10.1.2.3")).toBe(1);
    expect(map.get("ip:login:10.1.2.4")).toBe(2);
    expect([...map.values()]).toEqual([1, 2]);
    map.clear();
    expect(map.size).toBe(0);
  });
});
