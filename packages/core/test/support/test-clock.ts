/**
 * A clock that moves only when told to, for core's tests (testkit's `FakeClock` is the same
 * for the other packages; core cannot depend on testkit). `now` is an arrow property, so it
 * can be handed around unbound.
 */
export class TestClock {
  #now: number;

  constructor(start: number = Date.UTC(2026, 0, 15, 12, 0, 0)) {
    this.#now = start;
  }

  now = (): number => this.#now;

  advance(ms: number): void {
    this.#now += ms;
  }

  set(ms: number): void {
    this.#now = ms;
  }
}
