import type { Clock } from "@keyguard/core";

/** A clock that only moves when told to: for expiry, TTL and window tests without sleeps. */
export class FakeClock implements Clock {
  #now: number;

  constructor(start: Date | number = Date.UTC(2026, 0, 15, 12, 0, 0)) {
    this.#now = typeof start === "number" ? start : start.getTime();
  }

  now(): number {
    return this.#now;
  }

  advance(ms: number): void {
    this.#now += ms;
  }

  set(time: Date | number): void {
    this.#now = typeof time === "number" ? time : time.getTime();
  }
}
