import { performance } from "node:perf_hooks";
import type { CountCell } from "./counter-family.js";
import type { TimingCell } from "./histogram-family.js";

/** Where a port's calls are recorded: one duration series and one error counter per method. */
export interface PortCallRecorder {
  timing(operation: string): TimingCell;
  errors(operation: string): CountCell;
  /** Whether a rejection is a failure worth counting (a seed-lost signal is not). */
  isFailure?(error: unknown): boolean;
}

/** Methods that register listeners or wire metrics rather than doing work: not timed. */
const UNTIMED = new Set<string>(["constructor", "onStateLost", "useMetrics", "subscribe"]);

/**
 * The port (a `Store`, a `Limiter`) with every method call timed and its failures counted,
 * by method name (a label set bounded by the code, never by requests). The result is an
 * object whose prototype is the port, with an own timed function per method the port has
 * (own or inherited, found once, here): other properties read through to the port,
 * `instanceof` holds, and optional methods it lacks stay absent (`limiter.seedQuota ===
 * undefined` still says so). Calls go to the port with itself as `this`, so classes with
 * private fields work unchanged. A call costs two clock reads and, for a promise, a `then`;
 * no proxy trap, so the request path's limiter calls stay plain method calls.
 */
export function timedPort<T extends object>(port: T, recorder: PortCallRecorder): T {
  const timed = Object.create(port) as Record<string, unknown>;
  const isFailure = recorder.isFailure ?? (() => true);
  const { methods, accessors } = membersOf(port);
  for (const name of accessors) {
    // A getter reading private fields needs the port as its receiver, not this object.
    Object.defineProperty(timed, name, {
      get: () => Reflect.get(port, name, port),
      set: (value: unknown) => Reflect.set(port, name, value, port),
    });
  }
  for (const name of methods) {
    const method = (port as Record<string, unknown>)[name] as (...args: unknown[]) => unknown;
    if (UNTIMED.has(name)) {
      timed[name] = method.bind(port); // still on the port itself: private fields need it
      continue;
    }
    // Series are created on a method's first call (and first failure), so the exposition
    // lists the methods in use, not every method a store has.
    let timing: TimingCell | undefined;
    const failed = (start: number, error: unknown): never => {
      timing ??= recorder.timing(name);
      timing.observe((performance.now() - start) / 1000);
      if (isFailure(error)) recorder.errors(name).inc();
      throw error;
    };
    timed[name] = function (this: unknown) {
      const start = performance.now();
      timing ??= recorder.timing(name);
      const series = timing;
      let result: unknown;
      try {
        // biome-ignore lint/complexity/noArguments: forwards the call as made, without a rest array per call
        result = Reflect.apply(method, port, arguments);
      } catch (error) {
        return failed(start, error);
      }
      if (result instanceof Promise) {
        return result.then(
          (answer: unknown) => {
            series.observe((performance.now() - start) / 1000);
            return answer;
          },
          (error: unknown) => failed(start, error),
        );
      }
      series.observe((performance.now() - start) / 1000);
      return result;
    };
  }
  return timed as T;
}

/** An object's methods and accessors: its own and its classes', up to `Object.prototype`. */
function membersOf(port: object): { methods: Set<string>; accessors: Set<string> } {
  const methods = new Set<string>();
  const accessors = new Set<string>();
  for (let level: object | null = port; level !== null && level !== Object.prototype; ) {
    for (const name of Object.getOwnPropertyNames(level)) {
      if (methods.has(name) || accessors.has(name)) continue; // the nearest definition wins
      const descriptor = Object.getOwnPropertyDescriptor(level, name);
      if (descriptor?.get !== undefined || descriptor?.set !== undefined) accessors.add(name);
      else if (typeof descriptor?.value === "function") methods.add(name);
    }
    level = Object.getPrototypeOf(level);
  }
  return { methods, accessors };
}
