import { isKeyGuardError, KeyGuard, resolveConfig, type Store } from "@keyguard/core";
import { afterEach, expect } from "vitest";
import { FakeClock } from "../fake-clock.js";

/**
 * One database for one test: stores opened from it share the data, like two processes
 * pointed at the same file or server.
 */
export interface TestDatabase {
  /** Opens a new store on this database (not yet migrated). */
  open(): Promise<Store>;
  /** Everything persisted, as text: file bytes or every row, to search for secrets. */
  dumpContents(): Promise<string>;
  /** Removes the database (file or schema). */
  dispose(): Promise<void>;
  /**
   * Stores opened in one process share one write lock and wait for it by blocking the
   * thread (SQLite): tests of concurrent writers then run them one after another.
   */
  readonly sharedWriteLock?: boolean;
}

export type CreateDatabase = () => Promise<TestDatabase>;

export const SECRET = "conformance-secret-0123456789";

/** Records how often each store method is called, without changing what it does. */
function countingStore(store: Store): { store: Store; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls[String(property)] = (calls[String(property)] ?? 0) + 1;
        return value.apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

/** Awaits a refusal: a KeyGuardError with this code (and a message matching, if given). */
export async function expectCode(promise: Promise<unknown>, code: string, message?: RegExp) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a KeyGuardError "${code}"`).toBeDefined();
  expect(isKeyGuardError(error), String(error)).toBe(true);
  expect((error as { code: string }).code).toBe(code);
  if (message) expect((error as Error).message).toMatch(message);
  return error as Error & { code: string; details?: Record<string, unknown> };
}

export interface SetupOptions {
  readonly clock?: FakeClock;
  readonly cache?: { maxEntries?: number };
}

/**
 * The set-up of a capability's tests, called in its `describe`: `setup()` makes a fresh
 * database and a KeyGuard on it (its store's calls counted; `openAnother()` opens another
 * store and KeyGuard on the same database, like another process), `track(cleanup)` adds a
 * clean-up of the test's own. Everything is closed and disposed after each test.
 */
export function storeHarness(createDatabase: CreateDatabase) {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const track = (cleanup: () => Promise<void>) => {
    cleanups.push(cleanup);
  };

  async function setup(options: SetupOptions = {}) {
    const database = await createDatabase();
    track(() => database.dispose());
    const clock = options.clock ?? new FakeClock();
    const open = async () => {
      const raw = await database.open();
      const { store, calls } = countingStore(raw);
      const kg = new KeyGuard({
        config: resolveConfig(
          { secretKey: SECRET, usage: { batchSize: 1000 }, cache: options.cache ?? {} },
          {},
        ),
        store,
        clock,
      });
      track(() => kg.close());
      await kg.init();
      return { kg, calls };
    };
    const first = await open();
    return { ...first, clock, database, openAnother: open };
  }

  return { setup, track };
}
