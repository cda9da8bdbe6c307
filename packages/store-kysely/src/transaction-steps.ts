import type { CompiledQuery } from "kysely";

/**
 * One statement of a multi-statement decision: a write (yields the rows it changed), a
 * read of one row, or a read (or `RETURNING`) of all rows. A decision is written once as
 * a generator of steps, and run synchronously on SQLite (`writeTransactionSync`) or
 * asynchronously in a Kysely transaction on PostgreSQL (see `KyselyStore#transact`).
 */
export interface Step {
  readonly kind: "run" | "first" | "all";
  readonly query: CompiledQuery;
}

export type Steps<T> = Generator<Step, T, unknown>;

export const run = (query: CompiledQuery): Step => ({ kind: "run", query });
export const first = (query: CompiledQuery): Step => ({ kind: "first", query });
export const all = (query: CompiledQuery): Step => ({ kind: "all", query });

/** Runs a generator of steps to its end with a synchronous executor. */
export function driveSync<T>(steps: Steps<T>, execute: (step: Step) => unknown): T {
  let next = steps.next();
  while (!next.done) next = steps.next(execute(next.value));
  return next.value;
}

/** Runs a generator of steps to its end with an asynchronous executor. */
export async function driveAsync<T>(
  steps: Steps<T>,
  execute: (step: Step) => Promise<unknown>,
): Promise<T> {
  let next = steps.next();
  while (!next.done) next = steps.next(await execute(next.value));
  return next.value;
}
