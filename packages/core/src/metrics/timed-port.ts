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
const UNTIMED = new Set<PropertyKey>(["constructor", "onStateLost", "useMetrics", "subscribe"]);

/**
 * The port (a `Store`, a `Limiter`) with every method call timed and its failures counted,
 * by method name (a label set bounded by the code, never by requests). Calls go to the
 * port itself, with itself as `this`, so classes with private fields work unchanged, and
 * optional methods stay absent (`limiter.seedQuota === undefined` still says so). Each
 * method is wrapped once, on first use; a call then costs two clock reads and a `then`.
 * Methods added to a port later (by any package) are timed without changes here.
 */
export function timedPort<T extends object>(port: T, recorder: PortCallRecorder): T {
  const wrapped = new Map<PropertyKey, { original: unknown; timed: unknown }>();
  const isFailure = recorder.isFailure ?? (() => true);
  return new Proxy(port, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function" || typeof property !== "string") return value;
      const known = wrapped.get(property);
      if (known !== undefined && known.original === value) return known.timed;
      const method = value as (...args: unknown[]) => unknown;
      if (UNTIMED.has(property)) {
        // Still called on the port itself: private fields need their own `this`.
        const bound = method.bind(target);
        wrapped.set(property, { original: value, timed: bound });
        return bound;
      }
      const timing = recorder.timing(property);
      const errors = recorder.errors(property);
      const failed = (start: number, error: unknown): never => {
        timing.observe((performance.now() - start) / 1000);
        if (isFailure(error)) errors.inc();
        throw error;
      };
      const timed = function (this: unknown) {
        const start = performance.now();
        let result: unknown;
        try {
          // biome-ignore lint/complexity/noArguments: forwards the call as made, without a rest array per call
          result = Reflect.apply(method, target, arguments);
        } catch (error) {
          return failed(start, error);
        }
        if (result instanceof Promise) {
          return result.then(
            (answer: unknown) => {
              timing.observe((performance.now() - start) / 1000);
              return answer;
            },
            (error: unknown) => failed(start, error),
          );
        }
        timing.observe((performance.now() - start) / 1000);
        return result;
      };
      wrapped.set(property, { original: value, timed });
      return timed;
    },
  });
}
