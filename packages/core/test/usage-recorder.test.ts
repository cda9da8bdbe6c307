import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { UsageEvent } from "../src/domain/usage-event.js";
import { KeyGuardError } from "../src/errors/keyguard-error.js";
import { UsageRecorder } from "../src/usage/usage-recorder.js";

const event = (n: number): UsageEvent => ({
  keyId: `key-${n}`,
  path: "/api/data",
  method: "GET",
  statusCode: 200,
  latencyMs: 1,
  ipAddress: "192.0.2.1",
  timestamp: new Date(n),
});

/**
 * A write target that records batches, can be told to be unavailable (as the store reports
 * an outage), and refuses, as a database refuses bad data, any batch holding a poisoned key.
 */
function target() {
  const batches: UsageEvent[][] = [];
  const state = { failing: false, poisoned: new Set<string>(), unavailableAfter: Infinity };
  return {
    batches,
    state,
    write: async (events: readonly UsageEvent[]) => {
      if (state.failing || batches.length >= state.unavailableAfter) {
        throw new KeyGuardError("database_unavailable", "database down");
      }
      if (events.some((e) => state.poisoned.has(e.keyId))) {
        throw new Error('invalid byte sequence for encoding "UTF8": 0x00');
      }
      batches.push([...events]);
    },
  };
}

describe("UsageRecorder", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("writes a batch as soon as batchSize events wait", async () => {
    const t = target();
    const recorder = new UsageRecorder({
      ...t,
      batchSize: 3,
      flushIntervalMs: 60_000,
      maxBuffered: 100,
    });
    recorder.record(event(0));
    recorder.record(event(1));
    await vi.advanceTimersByTimeAsync(0);
    expect(t.batches).toEqual([]); // below batchSize: waits for the timer, 60 s away
    for (let i = 2; i < 7; i++) recorder.record(event(i));
    // No timer has fired: reaching batchSize started the writes, which drain the queue.
    await vi.advanceTimersByTimeAsync(0);
    expect(t.batches.map((b) => b.length)).toEqual([3, 3, 1]);
    expect(recorder.stats).toMatchObject({ buffered: 0, written: 7, dropped: 0 });
  });

  it("writes waiting events on the interval, and holds no timer when idle", async () => {
    const t = target();
    const recorder = new UsageRecorder({
      ...t,
      batchSize: 100,
      flushIntervalMs: 1_000,
      maxBuffered: 100,
    });
    expect(vi.getTimerCount()).toBe(0);
    recorder.record(event(1));
    recorder.record(event(2));
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(t.batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.batches.map((b) => b.length)).toEqual([2]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("keeps events through a failing store and writes them when it recovers", async () => {
    const t = target();
    const errors: unknown[] = [];
    const recorder = new UsageRecorder({
      ...t,
      batchSize: 100,
      flushIntervalMs: 1_000,
      maxBuffered: 100,
      onError: (e) => errors.push(e),
    });
    t.state.failing = true;
    recorder.record(event(1));
    recorder.record(event(2));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(errors).toHaveLength(1);
    expect(recorder.stats).toMatchObject({ buffered: 2, written: 0, failedWrites: 1 });
    await expect(recorder.flush()).rejects.toThrow("database down");
    t.state.failing = false;
    recorder.record(event(3));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(t.batches.flat().map((e) => e.keyId)).toEqual(["key-1", "key-2", "key-3"]);
    expect(recorder.stats).toMatchObject({ buffered: 0, written: 3, dropped: 0 });
  });

  it("drops only the rows the store refuses, writes the rest, and goes on", async () => {
    const t = target();
    t.state.poisoned.add("key-3");
    t.state.poisoned.add("key-6");
    const errors: unknown[] = [];
    const recorder = new UsageRecorder({
      ...t,
      batchSize: 100,
      flushIntervalMs: 1_000,
      maxBuffered: 100,
      onError: (e) => errors.push(e),
    });
    for (let i = 1; i <= 8; i++) recorder.record(event(i));
    await recorder.flush(); // resolves: nothing is left to retry
    const written = t.batches.flat().map((e) => e.keyId);
    expect(written.sort()).toEqual(["key-1", "key-2", "key-4", "key-5", "key-7", "key-8"]);
    expect(recorder.stats).toMatchObject({ buffered: 0, written: 6, dropped: 2 });
    expect(errors).toHaveLength(2);
    expect(String((errors[0] as Error).cause)).toMatch(/0x00/);
    recorder.record(event(9));
    await recorder.flush();
    expect(recorder.stats).toMatchObject({ buffered: 0, written: 7, dropped: 2 });
  });

  it("keeps the rows not yet written when the store goes down while isolating a refused row", async () => {
    const t = target();
    t.state.poisoned.add("key-1");
    t.state.unavailableAfter = 1; // one half is written, then the store is gone
    const recorder = new UsageRecorder({
      ...t,
      batchSize: 100,
      flushIntervalMs: 1_000,
      maxBuffered: 100,
      onError: () => {},
    });
    for (let i = 1; i <= 4; i++) recorder.record(event(i));
    await expect(recorder.flush()).rejects.toThrow("database down");
    const stats = recorder.stats;
    expect(stats.written + stats.buffered + stats.dropped).toBe(4);
    t.state.unavailableAfter = Infinity;
    await recorder.flush();
    expect(recorder.stats).toMatchObject({ buffered: 0, written: 3, dropped: 1 });
  });

  it("drops events beyond maxBuffered, counts them and reports it once per overflow", async () => {
    const t = target();
    t.state.failing = true;
    const reported: string[] = [];
    const recorder = new UsageRecorder({
      ...t,
      batchSize: 1_000,
      flushIntervalMs: 1_000,
      maxBuffered: 5,
      onError: (error) => reported.push(String(error)),
    });
    for (let i = 0; i < 8; i++) recorder.record(event(i));
    expect(recorder.stats).toMatchObject({ buffered: 5, dropped: 3 });
    expect(reported).toHaveLength(1);
    expect(reported[0]).toMatch(/Usage buffer full \(5 rows.*dropped \(1 so far\)/);
    t.state.failing = false;
    await recorder.flush();
    expect(t.batches.flat().map((e) => e.keyId)).toEqual([
      "key-0",
      "key-1",
      "key-2",
      "key-3",
      "key-4",
    ]);
  });

  it("flushes on close and counts later events as dropped", async () => {
    const t = target();
    const recorder = new UsageRecorder({
      ...t,
      batchSize: 100,
      flushIntervalMs: 1_000,
      maxBuffered: 100,
    });
    recorder.record(event(1));
    await recorder.close();
    expect(t.batches.flat()).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
    recorder.record(event(2));
    expect(recorder.stats).toMatchObject({ written: 1, dropped: 1, buffered: 0 });
  });

  it("never runs two writes at once", async () => {
    let running = 0;
    let maxRunning = 0;
    const recorder = new UsageRecorder({
      write: async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((resolve) => setTimeout(resolve, 10));
        running--;
      },
      batchSize: 2,
      flushIntervalMs: 1_000,
      maxBuffered: 100,
    });
    for (let i = 0; i < 10; i++) recorder.record(event(i));
    const flushed = recorder.flush();
    await vi.advanceTimersByTimeAsync(100);
    await flushed;
    expect(maxRunning).toBe(1);
    expect(recorder.stats.written).toBe(10);
  });
});

/** A recorder that flushes only when asked, and the rows it wrote. */
function collectingRecorder(maxBuffered: number) {
  const rows: UsageEvent[] = [];
  const recorder = new UsageRecorder({
    write: async (events) => {
      rows.push(...events);
    },
    batchSize: 1_000,
    flushIntervalMs: 60_000,
    maxBuffered,
  });
  return { rows, recorder };
}

describe("UsageRecorder aggregation", () => {
  it("folds requests with the same key, method, path, status, client and second into one row", async () => {
    const { rows, recorder } = collectingRecorder(10);
    const base = { keyId: "k", path: "/api/data", method: "GET", ipAddress: "192.0.2.1" };
    for (let i = 0; i < 1_000; i++) {
      recorder.record({
        ...base,
        statusCode: 200,
        latencyMs: i % 2 ? 3 : 1,
        timestamp: new Date(5_000 + (i % 1000)),
      });
    }
    recorder.record({ ...base, statusCode: 429, latencyMs: 1, timestamp: new Date(5_500) });
    recorder.record({ ...base, statusCode: 200, latencyMs: 1, timestamp: new Date(6_000) }); // next second
    recorder.record({
      ...base,
      ipAddress: "192.0.2.2",
      statusCode: 200,
      latencyMs: 1,
      timestamp: new Date(5_000),
    });
    expect(recorder.stats).toMatchObject({ buffered: 1_003, dropped: 0 });
    await recorder.flush();
    expect(rows).toHaveLength(4);
    expect(rows[0]).toMatchObject({
      statusCode: 200,
      requestCount: 1_000,
      latencyMs: 2,
      timestamp: new Date(5_999),
    });
    expect(rows.map((r) => r.requestCount)).toEqual([1_000, 1, 1, 1]);
    expect(recorder.stats).toMatchObject({ buffered: 0, written: 1_003 });
  });

  it("folds interleaved requests of several keys and statuses into their own rows", async () => {
    const { rows, recorder } = collectingRecorder(100);
    const at = (keyId: string, statusCode: number, path = "/api/data") =>
      recorder.record({
        keyId,
        path,
        method: "GET",
        statusCode,
        latencyMs: 1,
        ipAddress: "192.0.2.1",
        timestamp: new Date(7_000),
      });
    for (const [keyId, status] of [
      ["a", 200],
      ["a", 429],
      ["a", 200],
      ["b", 200],
      ["a", 200],
      ["b", 200],
      ["a", 429],
    ] as const) {
      at(keyId, status);
    }
    at("a", 200, "/api/other");
    await recorder.flush();
    const summary = rows.map((r) => `${r.keyId} ${r.statusCode} ${r.path} x${r.requestCount}`);
    expect(summary.sort()).toEqual([
      "a 200 /api/data x3",
      "a 200 /api/other x1",
      "a 429 /api/data x2",
      "b 200 /api/data x2",
    ]);
    // After a flush the same request starts a new row (nothing is added to a written one).
    at("a", 200);
    await recorder.flush();
    expect(rows.slice(4).map((r) => r.requestCount)).toEqual([1]);
  });

  it("gives each row its id before the first attempt and keeps it through retries", async () => {
    const t = target();
    const attempts: string[][] = [];
    const recorder = new UsageRecorder({
      write: async (events) => {
        attempts.push(events.map((e) => e.id as string));
        await t.write(events);
      },
      batchSize: 100,
      flushIntervalMs: 1_000,
      maxBuffered: 100,
    });
    for (let i = 0; i < 3; i++) recorder.record(event(i * 1000));
    t.state.failing = true;
    await expect(recorder.flush()).rejects.toThrow("database down");
    t.state.failing = false;
    await recorder.flush();
    expect(attempts).toHaveLength(2);
    expect(attempts[0]).toHaveLength(3);
    for (const id of attempts[0] ?? []) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(attempts[0])).toEqual(new Set(attempts[1]));
  });

  it("keeps requests charged to the quota apart from refused ones", async () => {
    const t = target();
    const recorder = new UsageRecorder({
      ...t,
      batchSize: 100,
      flushIntervalMs: 1_000,
      maxBuffered: 100,
    });
    const at = new Date(5_000);
    recorder.record({ ...event(0), timestamp: at, statusCode: 403, charged: false });
    recorder.record({ ...event(0), timestamp: at, statusCode: 403, charged: true });
    recorder.record({ ...event(0), timestamp: at, statusCode: 403, charged: false });
    await recorder.flush();
    const rows = (t.batches[0] ?? []).map((e) => [e.charged, e.requestCount]);
    expect(rows.sort()).toEqual([
      [false, 2],
      [true, 1],
    ]);
  });

  it("hands over the rows a failed close could not write, with their ids", async () => {
    const t = target();
    const recorder = new UsageRecorder({
      ...t,
      batchSize: 2,
      flushIntervalMs: 1_000,
      maxBuffered: 100,
    });
    t.state.failing = true;
    for (let i = 0; i < 5; i++) recorder.record(event(i * 1000));
    await expect(recorder.close()).rejects.toThrow("database down");
    const rows = recorder.takeUnwritten();
    expect(rows.map((e) => e.keyId).sort()).toEqual([
      "key-0",
      "key-1000",
      "key-2000",
      "key-3000",
      "key-4000",
    ]);
    expect(rows.every((e) => typeof e.id === "string")).toBe(true);
    expect(recorder.stats.buffered).toBe(0);
  });
});
