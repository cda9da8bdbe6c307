import { isQuotaSeedLost } from "../errors/quota-seed-lost.js";
import type { Limiter } from "../ports/limiter.js";
import type { Store } from "../ports/store.js";
import type { KeyGuardInstruments } from "./keyguard-instruments.js";
import { timedPort } from "./timed-port.js";

/** The store with each call timed (`keyguard_store_call_duration_seconds`) and failures counted. */
export function instrumentStore<S extends Store>(store: S, instruments: KeyGuardInstruments): S {
  return timedPort(store, {
    timing: (operation) => instruments.storeCall(operation),
    errors: (operation) => instruments.storeErrors.counter({ operation }),
  });
}

/**
 * The limiter with each call timed and failures counted; a limiter that counts things of
 * its own (the Redis one's script calls) is handed the instruments first (`useMetrics`).
 * A seed-lost answer is the port's signal to seed a quota again, not a failure.
 *
 * An in-process limiter (`inProcess`) is left as it is: its calls take about a microsecond
 * and cannot fail for want of a server, and timing them (two clock reads, ~50 ns each on
 * a VM, and a `then`) would cost each request a tenth of that for a histogram of nothing
 * operators act on. The decisions themselves are still counted (`keyguard_decisions_total`).
 */
export function instrumentLimiter(limiter: Limiter, instruments: KeyGuardInstruments): Limiter {
  limiter.useMetrics?.(instruments);
  if (limiter.inProcess === true) return limiter;
  return timedPort(limiter, {
    timing: (operation) => instruments.limiterCall(operation),
    errors: (operation) => instruments.limiterErrors.counter({ operation }),
    isFailure: (error) => !isQuotaSeedLost(error),
  });
}
