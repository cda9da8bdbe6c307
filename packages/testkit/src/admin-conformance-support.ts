import {
  type KeyGuard,
  type KeyGuardConfigInput,
  type KeyGuardOptions,
  KeyGuard as KeyGuardService,
  type Limiter,
  resolveConfig,
} from "@keyguard/core";
import { afterEach, expect } from "vitest";
import type { AdapterApp } from "./adapter-conformance.js";
import type { DisposableStore } from "./test-databases.js";

/**
 * Starts the adapter's admin test app on port 0: the admin API mounted at `/admin`
 * (`keyguardAdmin`, default options), then `keyguard(kg)` protecting *every* other route
 * (no `protectedPath`: the admin routes must stay out of it on their own), and
 * `GET /api/data` -> `{ "message": "Authorized!" }`.
 */
export type StartAdminApp = (kg: KeyGuard) => Promise<AdapterApp>;

export interface AdminConformanceOptions {
  /** One fresh, empty database per test: a SQLite file, a PostgreSQL schema. */
  readonly openStore: () => Promise<DisposableStore>;
  readonly createLimiter: () => Limiter;
}

/** An HTTP answer, its body parsed as JSON when it is JSON. */
export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly contentType: string | null;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field
  readonly body: any;
  readonly text: string;
}

/** Reads a response whole; `body` is undefined when the text is not JSON. */
export async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return {
    status: response.status,
    headers: response.headers,
    contentType: response.headers.get("content-type"),
    body,
    text,
  };
}

/** Asserts a problem+json answer with this status and code. */
export function expectProblemAnswer(answer: Answer, status: number, code: string): void {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.contentType).toMatch(/^application\/problem\+json/);
  expect(answer.body).toMatchObject({ status, code });
}

/** What `setup()` gives a test: the KeyGuard, the app in front of it, and a caller. */
export interface AdminServer {
  readonly kg: KeyGuard;
  readonly app: AdapterApp;
  /**
   * Calls the app with the admin key in `X-Admin-Key` (overridden by `headers`); a body is
   * sent as JSON, or as is when it is a string.
   */
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Answer>;
}

/**
 * The set-up the admin capabilities share, called in the capability's `describe`: each
 * `setup()` opens a fresh database, builds a KeyGuard on it with `config` (the secret is the
 * admin key) and starts the adapter's admin app; `track(cleanup)` adds a clean-up of the
 * test's own. Everything is closed, newest first, after each test.
 */
export function adminHarness(
  start: StartAdminApp,
  options: AdminConformanceOptions,
  config: Partial<KeyGuardConfigInput> & { readonly secretKey: string },
  keyguardOptions: Pick<KeyGuardOptions, "onWarning" | "clock"> = {},
) {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const track = (cleanup: () => Promise<void> | void) => {
    cleanups.push(cleanup);
  };

  async function setup(overrides: Partial<KeyGuardConfigInput> = {}): Promise<AdminServer> {
    const { store, dispose } = await options.openStore();
    track(dispose);
    const kg: KeyGuard = new KeyGuardService({
      config: resolveConfig({ ...config, ...overrides }, {}),
      store,
      limiter: options.createLimiter(),
      ...keyguardOptions,
    });
    await kg.init();
    track(() => kg.close());
    const app = await start(kg);
    track(() => app.close());
    const call = async (
      method: string,
      path: string,
      body?: unknown,
      headers: Record<string, string> = {},
    ): Promise<Answer> =>
      answerOf(
        await fetch(`${app.url}${path}`, {
          method,
          headers: {
            "x-admin-key": config.secretKey,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
            ...headers,
          },
          ...(body === undefined
            ? {}
            : { body: typeof body === "string" ? body : JSON.stringify(body) }),
        }),
      );
    return { kg, app, call };
  }

  return { setup, track };
}
