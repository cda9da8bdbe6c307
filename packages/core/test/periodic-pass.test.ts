import { afterEach, describe, expect, it, vi } from "vitest";
import { PeriodicPass } from "../src/util/periodic-pass.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("PeriodicPass", () => {
  it("runs a pass at start and then once per interval", async () => {
    vi.useFakeTimers();
    let passes = 0;
    const job = new PeriodicPass({
      intervalMs: 1_000,
      onError: () => {},
      pass: async () => ++passes,
    });
    job.start();
    job.start(); // idempotent: no second timer
    await vi.advanceTimersByTimeAsync(0);
    expect(passes).toBe(1);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(passes).toBe(4);
    await job.stop();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(passes).toBe(4);
  });

  it("shares a pass under way with concurrent calls, and starts a new one after it", async () => {
    let passes = 0;
    let finish: () => void = () => {};
    const job = new PeriodicPass({
      intervalMs: 60_000,
      onError: () => {},
      pass: () =>
        new Promise<number>((resolve) => {
          passes++;
          finish = () => resolve(passes);
        }),
    });
    const first = job.run();
    const second = job.run();
    finish();
    expect(await first).toBe(1);
    expect(await second).toBe(1);
    const third = job.run();
    finish();
    expect(await third).toBe(2);
  });

  it("tells a long pass to stop, and stop() waits for it to end", async () => {
    const steps: number[] = [];
    const job = new PeriodicPass({
      intervalMs: 60_000,
      onError: () => {},
      pass: async (stopped) => {
        for (let i = 0; ; i++) {
          steps.push(i);
          if (stopped()) return i;
          await new Promise((resolve) => setImmediate(resolve));
        }
      },
    });
    const pass = job.run();
    await new Promise((resolve) => setImmediate(resolve));
    await job.stop();
    const ended = steps.length;
    expect(await pass).toBe(ended - 1);
    job.start(); // after stop(): nothing runs
    await new Promise((resolve) => setImmediate(resolve));
    expect(steps).toHaveLength(ended);
  });

  it("reports a failed background pass and tries again at the next interval", async () => {
    vi.useFakeTimers();
    const errors: unknown[] = [];
    let calls = 0;
    const job = new PeriodicPass({
      intervalMs: 1_000,
      onError: (error) => errors.push(error),
      pass: async () => {
        calls++;
        if (calls === 1) throw new Error("store unreachable");
        return calls;
      },
    });
    job.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(errors).toEqual([new Error("store unreachable")]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(2);
    expect(errors).toHaveLength(1);
    await expect(job.run()).resolves.toBe(3);
    await job.stop();
  });
});
