import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KeyGuard, resolveConfig, type Store, type UsageEvent } from "@keyguard/core";
import { generateRawKey } from "@keyguard/core/internal";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import type {
  AdapterApp,
  AdapterConformanceOptions,
  HandlerRecorder,
  StartAdapterApp,
} from "./adapter-conformance.js";
import { FakeClock } from "./fake-clock.js";
import { rawRequest } from "./http-client.js";

/*
 * Differential fuzzing of request targets: the guard and the framework's router must agree
 * on which route a request is for. Targets are generated (absolute-form with any scheme and
 * authority, percent-encodings valid and not, fragments, dot segments, case, slashes,
 * backslashes, `;` parameters, queries, odd forms) and sent over raw sockets, since `fetch`
 * would normalise them. The reference app's handlers report each run to a recorder, so a
 * test sees what the router did whatever the response says.
 *
 * CI runs a fixed seed. More runs or another seed on demand, e.g. in packages/express:
 *   KEYGUARD_FUZZ_RUNS=2000 KEYGUARD_FUZZ_SEED=7 pnpm vitest run -t "Request targets"
 * (KEYGUARD_FUZZ_RUNS sets every property's runs). On failure fast-check prints the seed
 * and the shrunk counterexample; the same seed generates the same targets again.
 */

const FUZZ_SEED = envInteger("KEYGUARD_FUZZ_SEED") ?? 20_260_115;
const FUZZ_RUNS = envInteger("KEYGUARD_FUZZ_RUNS");

const SECRET = "adapter-target-fuzz-secret";
const HOUR_MS = 3_600_000;
/** Long enough for every window, lockout and path block of the reference app to end. */
const NEW_EPOCH_MS = 2 * HOUR_MS;
const KEY_RATE_LIMIT = 100_000;
const LOGIN_LIMIT = 3; // the reference app's POST /login: limit 3, lockout 1 hour

/** The reference app's routes behind `protectedPath: "/api"`, with the method each takes. */
const PROTECTED_ROUTES = [
  { method: "GET", path: "/api/data" },
  { method: "GET", path: "/api/profile" },
  { method: "GET", path: "/api/admin" },
  { method: "GET", path: "/api/fail" },
  { method: "POST", path: "/api/withdraw" },
] as const;
type RouteMethod = "GET" | "POST";

/** One generated request: the route its target spells, and what is sent. */
export interface FuzzRequest {
  /** The route the target is a spelling of ("" for odd targets that spell none). */
  readonly route: string;
  readonly method: "GET" | "HEAD" | "POST";
  readonly target: string;
}

interface HandlerRun {
  readonly route: string;
  readonly keyId: string | undefined;
}

interface Answer {
  readonly request: FuzzRequest;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The handlers that ran for this request (the requests are sent one at a time). */
  readonly ran: readonly HandlerRun[];
}

// ---------------------------------------------------------------------------------------
// Generated request targets

/** `identity` most of the time (`odds` to 1), else one of `others`; shrinks to `identity`. */
function mostly<T>(identity: T, others: readonly T[], odds = 3): fc.Arbitrary<T> {
  return fc.oneof(
    { withCrossShrink: true },
    { arbitrary: fc.constant(identity), weight: odds },
    { arbitrary: fc.constantFrom(...others), weight: 1 },
  );
}

/** RFC 9112 §3.2.2 absolute-form prefixes (and near misses): any scheme, authority, port. */
const absoluteOrigin: fc.Arbitrary<string> = fc
  .record({
    scheme: mostly(
      "http",
      ["https", "HTTP", "HttpS", "ftp", "ws", "x-junk", "a+b.c-d", "1http"],
      1,
    ),
    // "://" absolute-form; ":" a scheme and a path ("http:/api/data"); "//" network-path.
    form: mostly("://", [":", "//"]),
    userinfo: mostly("", ["user@", "user:pass@", "@", ":@", "u%40x:p%3A@"]),
    host: mostly("anything", [
      "localhost",
      "127.0.0.1",
      "[::1]",
      "[fe80::1]",
      "[::ffff:7f00:1]",
      "h1",
      "example.com.",
      "xn--bcher-kva.example",
      "a_b",
      "",
    ]),
    port: mostly("", [":80", ":443", ":0", ":", ":65536", ":x"]),
  })
  .map(({ scheme, form, userinfo, host, port }) => {
    if (form === ":") return `${scheme}:`;
    const authority = `${userinfo}${host}${port}`;
    return form === "//" ? `//${authority}` : `${scheme}://${authority}`;
  });

/** Before the path: dot segments and extra slashes that may or may not cancel out. */
const LEADS = ["/api/..", "/x/..", "/.", "/..", "/%2e", "/%2e%2e", "/", "\\"];
/** In place of the `/` before a segment. */
const SEPARATORS = [
  "//",
  "///",
  "/./",
  "/%2e/",
  "/%2E/",
  "/x/../",
  "/%2e%2e/",
  "\\",
  "%2F",
  "%2f",
  "%5C",
  "%5c",
  "/;/",
];
/** After a segment: RFC 3986 path parameters. */
const PARAMETERS = [";", ";x", ";v=1", ";%zz"];
/** After the last segment. */
const TRAILERS = ["/", "//", "/.", "/..", ".", ";", "%20", "%00", "%2F", "\\", "/%2e", "%", "~"];
/** Malformed escapes, inserted anywhere in the path. */
const BAD_ESCAPES = ["%zz", "%", "%4", "%g0", "%%", "%u0061", "%C0%AF", "%ED%A0%80"];
const QUERIES = ["?", "??", "?a=1", "?%zz", "?x=%", "?/api/x"];
/** Fragments: never sent by a browser, but a raw client sends what it likes. */
const FRAGMENTS = ["#", "#1", "#%zz", "#%", "#%4", "#/../x", "#?a", "#%61"];

/**
 * One change to a plain path. A target is the plain path with a few of these applied (in a
 * fixed order, whatever order they were generated in), so a shrunk counterexample keeps only
 * the changes that matter. Indexes are taken modulo the number of segments or characters.
 */
type Mutation =
  | { readonly change: "lead"; readonly lead: string }
  | { readonly change: "case"; readonly segment: number; readonly casing: "UPPER" | "Title" }
  | { readonly change: "swap case"; readonly segment: number; readonly char: number }
  | {
      readonly change: "escape";
      readonly segment: number;
      readonly char: number;
      readonly hex: "upper" | "lower";
    }
  | { readonly change: "parameter"; readonly segment: number; readonly parameter: string }
  | { readonly change: "separator"; readonly segment: number; readonly separator: string }
  | { readonly change: "trailer"; readonly trailer: string }
  | { readonly change: "bad escape"; readonly escape: string; readonly position: number }
  | { readonly change: "query"; readonly query: string }
  | { readonly change: "fragment"; readonly fragment: string };

/** Which segment or character a mutation changes (taken modulo the count). */
const segmentIndex = fc.nat({ max: 3 });
const charIndex = fc.nat({ max: 15 });

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ change: fc.constant("lead"), lead: fc.constantFrom(...LEADS) }),
  fc.record({
    change: fc.constant("case"),
    segment: segmentIndex,
    casing: fc.constantFrom("UPPER", "Title"),
  }),
  fc.record({ change: fc.constant("swap case"), segment: segmentIndex, char: charIndex }),
  {
    weight: 2,
    arbitrary: fc.record({
      change: fc.constant("escape"),
      segment: segmentIndex,
      char: charIndex,
      hex: fc.constantFrom("upper", "lower"),
    }),
  },
  fc.record({
    change: fc.constant("parameter"),
    segment: segmentIndex,
    parameter: fc.constantFrom(...PARAMETERS),
  }),
  {
    weight: 2,
    arbitrary: fc.record({
      change: fc.constant("separator"),
      segment: segmentIndex,
      separator: fc.constantFrom(...SEPARATORS),
    }),
  },
  fc.record({ change: fc.constant("trailer"), trailer: fc.constantFrom(...TRAILERS) }),
  fc.record({
    change: fc.constant("bad escape"),
    escape: fc.constantFrom(...BAD_ESCAPES),
    position: fc.nat({ max: 40 }),
  }),
  fc.record({ change: fc.constant("query"), query: fc.constantFrom(...QUERIES) }),
  {
    weight: 2,
    arbitrary: fc.record({
      change: fc.constant("fragment"),
      fragment: fc.constantFrom(...FRAGMENTS),
    }),
  },
) as fc.Arbitrary<Mutation>;

/** `path` (`/api/data`) with `mutations` applied, after `origin` (absolute-form) if given. */
function spellTarget(path: string, mutations: readonly Mutation[], origin = ""): string {
  const plain = path.split("/").slice(1);
  const segments = plain.map((segment) => ({
    chars: [...segment],
    separator: "/",
    parameter: "",
  }));
  const at = <T>(list: readonly T[], index: number) => list[index % list.length] as T;
  let lead = "";
  let trailer = "";
  let query = "";
  let fragment = "";
  const badEscapes: Array<{ escape: string; position: number }> = [];
  // Whole-segment case first, so a later character change is not undone by it.
  for (const m of mutations) {
    if (m.change !== "case") continue;
    const segment = at(segments, m.segment);
    const text = segment.chars.join("");
    const cased =
      m.casing === "UPPER" ? text.toUpperCase() : text.charAt(0).toUpperCase() + text.slice(1);
    segment.chars = [...cased];
  }
  for (const m of mutations) {
    switch (m.change) {
      case "lead":
        lead = m.lead;
        break;
      case "swap case": {
        const { chars } = at(segments, m.segment);
        const index = m.char % chars.length;
        const char = chars[index] as string;
        if (char.length === 1) {
          chars[index] = char === char.toLowerCase() ? char.toUpperCase() : char.toLowerCase();
        }
        break;
      }
      case "escape": {
        const { chars } = at(segments, m.segment);
        const index = m.char % chars.length;
        const char = chars[index] as string;
        if (char.length === 1) {
          const hex = char.charCodeAt(0).toString(16).padStart(2, "0");
          chars[index] = `%${m.hex === "upper" ? hex.toUpperCase() : hex}`;
        }
        break;
      }
      case "parameter":
        at(segments, m.segment).parameter = m.parameter;
        break;
      case "separator":
        at(segments, m.segment).separator = m.separator;
        break;
      case "trailer":
        trailer = m.trailer;
        break;
      case "bad escape":
        badEscapes.push({ escape: m.escape, position: m.position });
        break;
      case "query":
        query = m.query;
        break;
      case "fragment":
        fragment = m.fragment;
        break;
    }
  }
  let spelled = `${lead}${segments
    .map((segment) => `${segment.separator}${segment.chars.join("")}${segment.parameter}`)
    .join("")}${trailer}`;
  for (const { escape: malformed, position } of badEscapes) {
    const index = position % (spelled.length + 1);
    spelled = spelled.slice(0, index) + malformed + spelled.slice(index);
  }
  return `${origin}${spelled}${query}${fragment}`;
}

/**
 * The two forms of request target that name a path (RFC 9112 §3.2): origin-form
 * (`/api/data?x`) and absolute-form (`http://h/api/data`). Each property runs over each
 * form on its own, so a bypass through one form cannot hide another in the other.
 */
export type TargetForm = "origin-form" | "absolute-form";
const TARGET_FORMS: readonly TargetForm[] = ["origin-form", "absolute-form"];

const mutations = fc.array(mutation, { minLength: 0, maxLength: 5 });

/** Request targets that spell `path` (`/api/data`) in ways a router may or may not accept. */
export function targetSpelling(path: string, form: TargetForm): fc.Arbitrary<string> {
  if (form === "origin-form") return mutations.map((changes) => spellTarget(path, changes));
  return fc
    .record({ origin: absoluteOrigin, changes: mutations })
    .map(({ origin, changes }) => spellTarget(path, changes, origin));
}

/** A request, printed in counterexamples as `POST "/login#"`. */
function fuzzRequest(route: string, method: FuzzRequest["method"], target: string): FuzzRequest {
  return {
    route,
    method,
    target,
    [fc.toStringMethod]: () => `${method} ${JSON.stringify(target)}`,
  } as FuzzRequest;
}

/** A request for `route`: GET (or HEAD, which runs the GET handler) or POST, as it takes. */
function requestFor(
  route: { readonly method: RouteMethod; readonly path: string },
  form: TargetForm,
): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({
      method:
        route.method === "GET" ? mostly<"GET" | "HEAD">("GET", ["HEAD"]) : fc.constant("POST"),
      target: targetSpelling(route.path, form),
    })
    .map(({ method, target }) => fuzzRequest(route.path, method, target));
}

const plainRequest = (route: { readonly method: RouteMethod; readonly path: string }) =>
  fuzzRequest(route.path, route.method, route.path);

/**
 * Up to `maxLength` values of `arbitrary`. Each may shrink away (to `undefined`, then
 * dropped), so a shrunk counterexample loses any element that does not matter, not just
 * the leading ones.
 */
function someOf<T>(arbitrary: fc.Arbitrary<T>, maxLength: number): fc.Arbitrary<T[]> {
  return fc
    .array(fc.option(arbitrary, { nil: undefined, freq: 8 }), { minLength: 1, maxLength })
    .map((values) => values.filter((value): value is T => value !== undefined));
}

/**
 * Targets no router should serve, by form: asterisk-form, no path, stray escapes, huge,
 * non-ASCII; absolute-form without a path or with a broken authority.
 */
const ODD_TARGETS: Readonly<Record<TargetForm, readonly string[]>> = {
  "origin-form": [
    "*",
    "/",
    "?",
    "#",
    "%",
    "//",
    "///api/data",
    "api/data",
    "@/api/data",
    "*/api/data",
    "/%",
    "/api%",
    "/api/data%",
    "%2Fapi/data",
    "/%2561pi/data",
    "/api/\u00e9",
    "/api/%C3%A9",
    "/api/data\u0000",
    `/api/${"a".repeat(10_000)}`,
  ],
  "absolute-form": [
    "http://",
    "http://h",
    "http://h?x",
    "http://h#/api/data",
    "http://[::1",
    "http://[::1]x/api/data",
    "http://h:99999999999/api/data",
    "http://h:x/api/data",
    "http:///api/data",
    "http://@/api/data",
  ],
};

function oddRequest(form: TargetForm): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({
      method: fc.constantFrom("GET", "HEAD", "POST"),
      target: fc.constantFrom(...ODD_TARGETS[form]),
    })
    .map(({ method, target }) => fuzzRequest("", method, target));
}

/** A request spelling one of the protected routes. */
function protectedRequest(form: TargetForm): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(...PROTECTED_ROUTES.map((route) => requestFor(route, form)));
}

/**
 * `spellings` (up to 6 of them) with `count` copies of `plain` inserted somewhere: the plain
 * requests make sure a limit or a block is reached, the spellings try to get past it.
 */
function sequenceAround(
  spelling: fc.Arbitrary<FuzzRequest>,
  plain: FuzzRequest,
  count: number,
): fc.Arbitrary<FuzzRequest[]> {
  return fc
    .record({
      spellings: someOf(spelling, 6),
      at: fc.nat({ max: 6 }),
    })
    .map(({ spellings, at }) => {
      const index = Math.min(at, spellings.length);
      return [
        ...spellings.slice(0, index),
        ...Array.from({ length: count }, () => plain),
        ...spellings.slice(index),
      ];
    });
}

// ---------------------------------------------------------------------------------------
// Sending and checking

const describeRequest = (request: FuzzRequest) =>
  `${request.method} ${JSON.stringify(request.target)}`;

function describeAnswer(answer: Answer): string {
  const ran = answer.ran.map((run) => `${run.route}${run.keyId === undefined ? "" : " with key"}`);
  return `${describeRequest(answer.request)} -> ${answer.status}${ran.length > 0 ? ` (ran ${ran.join(", ")})` : ""}`;
}

const isProtectedRoute = (route: string) => route === "/api" || route.startsWith("/api/");

/**
 * A request that reached no handler is answered 4xx; no request gets a 5xx unless the
 * handler of `/api/fail` (which answers 500 on purpose) ran; every request is answered.
 */
function checkAnswer(answer: Answer): void {
  const { status } = answer;
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new Error(`${describeAnswer(answer)}: no HTTP response (the connection closed first)`);
  }
  if (status >= 500 && !answer.ran.some((run) => run.route === "/api/fail")) {
    throw new Error(`${describeAnswer(answer)}: a server error for a request target`);
  }
  if (answer.ran.length === 0 && (status < 400 || status > 499)) {
    throw new Error(`${describeAnswer(answer)}: reached no handler, so it should be a 4xx`);
  }
}

const ANSWER_TIMEOUT_MS = 20_000;

/** Every test's runs get the settings of the environment, else `defaultRuns` and the fixed seed. */
function fuzzParameters(defaultRuns: number) {
  return { seed: FUZZ_SEED, numRuns: FUZZ_RUNS ?? defaultRuns };
}

/** Generous: the CI machine is a busy 2-core VM, and shrinking a failure replays many runs. */
function timeoutFor(defaultRuns: number): number {
  return 120_000 + (FUZZ_RUNS ?? defaultRuns) * 1_000;
}

function envInteger(name: string): number | undefined {
  const value = process.env[name];
  if (value === undefined || value.trim() === "") return undefined;
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 1) {
    throw new Error(`${name} must be a whole number above 0, not ${JSON.stringify(value)}`);
  }
  return number;
}

/** The store, with every usage event it is asked to write kept in `events` too. */
function observingUsage(store: Store, events: UsageEvent[]): Store {
  return new Proxy(store, {
    get(target, property) {
      if (property === "insertUsageEvents") {
        return (batch: readonly UsageEvent[]) => {
          events.push(...batch);
          return target.insertUsageEvents(batch);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * Default runs per property and target form: origin-form bypasses need two changes together
 * (an escape in `/api` and a bad escape after `#`), absolute-form ones one. About 1,500
 * requests per framework in all, a few seconds.
 */
const DEFAULT_RUNS = {
  unauthorized: { "origin-form": 500, "absolute-form": 150 },
  validKey: { "origin-form": 50, "absolute-form": 30 },
  usage: { "origin-form": 40, "absolute-form": 20 },
  lockout: { "origin-form": 30, "absolute-form": 20 },
  pathBlock: { "origin-form": 30, "absolute-form": 20 },
} as const satisfies Record<string, Record<TargetForm, number>>;

/**
 * The request-target fuzz for one adapter (run by {@link describeAdapterConformance}). Each
 * property runs over generated spellings of the reference app's routes, in origin-form and
 * in absolute-form:
 * - no protected handler runs for a request the guard did not authorize (no key, a wrong
 *   key), and with a valid key one runs only with that key attached;
 * - spellings the router treats alike share one bucket: the key's count goes down by one
 *   per request, usage names the route in one spelling, a lockout of `/login` and a path
 *   block of `/api/withdraw` hold for every spelling that reaches the handler;
 * - no request target gets a 5xx or no answer; one that reaches no handler gets a 4xx.
 */
export function describeAdapterTargetFuzz(
  name: string,
  start: StartAdapterApp,
  options: AdapterConformanceOptions,
): void {
  describe(`Request targets (fuzz, seed ${FUZZ_SEED}): ${name}`, () => {
    const cleanups: Array<() => Promise<void> | void> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function setup() {
      const directory = mkdtempSync(join(tmpdir(), "keyguard-target-fuzz-"));
      cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
      const clock = new FakeClock(Date.now());
      const usageEvents: UsageEvent[] = [];
      const kg = new KeyGuard({
        config: resolveConfig(
          {
            secretKey: SECRET,
            // Requests without a key count as failures: never block the fuzzing client.
            ipBlockThreshold: 1_000_000_000,
            usage: { flushIntervalMs: 60_000 },
            blockSyncIntervalMs: 60_000,
          },
          {},
        ),
        store: observingUsage(await options.openStore(directory), usageEvents),
        limiter: options.createLimiter(),
        clock,
      });
      await kg.init();
      cleanups.push(() => kg.close());
      const runs: HandlerRun[] = [];
      const record: HandlerRecorder = (route, apiKey) => {
        runs.push({ route, keyId: apiKey?.id });
      };
      const app = await start(kg, { protectedPath: "/api" }, record);
      cleanups.push(() => app.close());
      await kg.createOrganization("Acme Corp");

      /** Sends one request over a raw socket; what it was answered and which handlers ran. */
      const send = async (
        request: FuzzRequest,
        headerLines: readonly string[] = [],
      ): Promise<Answer> => {
        const lines = [
          `${request.method} ${request.target} HTTP/1.1`,
          "Host: localhost",
          "Connection: close",
          ...headerLines,
        ];
        if (request.method === "POST") lines.push("Content-Length: 0");
        const before = runs.length;
        let response: Awaited<ReturnType<typeof rawRequest>>;
        try {
          response = await rawRequest(app.url, `${lines.join("\r\n")}\r\n\r\n`, {
            timeoutMs: ANSWER_TIMEOUT_MS,
          });
        } catch (error) {
          throw new Error(`${describeRequest(request)}: no answer (${String(error)})`);
        }
        return {
          request,
          status: response.status,
          headers: response.headers,
          ran: runs.slice(before),
        };
      };

      /** Usage events written since the last call (queued ones are written first). */
      const takeUsage = async () => {
        await kg.flushUsage();
        return usageEvents.splice(0);
      };
      return { kg, app, clock, send, takeUsage };
    }

    /** A key that may call everything but /api/admin, with a limit no run reaches. */
    function readerKey(kg: KeyGuard) {
      return kg.createApiKey({
        organization: "Acme Corp",
        label: "k",
        rateLimitPerMinute: KEY_RATE_LIMIT,
        scopes: ["read"], // not "admin": the /api/admin handler must never run
      });
    }

    async function expectStillServing(app: AdapterApp) {
      const health = await rawRequest(
        app.url,
        "GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        { timeoutMs: ANSWER_TIMEOUT_MS },
      );
      expect(health.status, "the server still answers GET /health").toBe(200);
    }

    it("sees which handler ran for a request (the test app calls its recorder)", async () => {
      const { send, kg } = await setup();
      const { rawKey, key } = await kg.createApiKey({ organization: "Acme Corp", label: "k" });
      const hint = "each handler of the adapter's test app must call record(route, key) first";
      const data = await send(plainRequest({ method: "GET", path: "/api/data" }), [
        `X-API-KEY: ${rawKey}`,
      ]);
      expect(data.status).toBe(200);
      expect(data.ran, hint).toEqual([{ route: "/api/data", keyId: key.id }]);
      const refused = await send(plainRequest({ method: "GET", path: "/api/data" }));
      expect(refused.status).toBe(401);
      expect(refused.ran).toEqual([]);
      const login = await send(plainRequest({ method: "POST", path: "/login" }));
      expect(login.status).toBe(200);
      expect(login.ran, hint).toEqual([{ route: "/login", keyId: undefined }]);
    });

    for (const form of TARGET_FORMS) {
      describe(`${form} targets`, () => {
        const unauthorizedRuns = DEFAULT_RUNS.unauthorized[form];
        it(
          "run no protected handler for a request without a valid key",
          async () => {
            const { app, send } = await setup();
            const unknownKey = generateRawKey().rawKey;
            const credentials: Record<string, readonly string[]> = {
              "no key": [],
              "an unknown key": [`X-API-KEY: ${unknownKey}`],
              "a malformed key": ["X-API-KEY: nope"],
              "an unknown bearer key": [`Authorization: Bearer ${unknownKey}`],
              "an empty key": ["X-API-KEY: "],
            };
            await fc.assert(
              fc.asyncProperty(
                fc.oneof(
                  { arbitrary: protectedRequest(form), weight: 6 },
                  { arbitrary: oddRequest(form), weight: 1 },
                ),
                fc.constantFrom(...Object.keys(credentials)),
                async (request, credential) => {
                  const answer = await send(request, credentials[credential]);
                  if (answer.ran.some((run) => isProtectedRoute(run.route))) {
                    throw new Error(
                      `${describeAnswer(answer)} with ${credential}: a protected handler ran, but the guard authorized nothing`,
                    );
                  }
                  checkAnswer(answer);
                },
              ),
              fuzzParameters(unauthorizedRuns),
            );
            await expectStillServing(app);
          },
          timeoutFor(unauthorizedRuns),
        );

        const validKeyRuns = DEFAULT_RUNS.validKey[form];
        it(
          "with a valid key, run a protected handler only with the key attached, each request counted once in the key's bucket",
          async () => {
            const { app, kg, clock, send } = await setup();
            const { rawKey, key } = await readerKey(kg);
            const withKey = [`X-API-KEY: ${rawKey}`];
            await fc.assert(
              fc.asyncProperty(someOf(protectedRequest(form), 5), async (requests) => {
                clock.advance(NEW_EPOCH_MS); // a fresh window for the key, blocks ended
                const first = await send(plainRequest(PROTECTED_ROUTES[0]), withKey);
                expect(first.ran).toEqual([{ route: "/api/data", keyId: key.id }]);
                let remaining = Number(first.headers["x-ratelimit-remaining"]);
                expect(remaining).toBe(KEY_RATE_LIMIT - 1);
                for (const request of requests) {
                  const answer = await send(request, withKey);
                  for (const run of answer.ran.filter((r) => isProtectedRoute(r.route))) {
                    if (run.keyId !== key.id) {
                      throw new Error(
                        `${describeAnswer(answer)}: the ${run.route} handler ran without the key attached (the guard did not authorize it)`,
                      );
                    }
                    if (run.route === "/api/admin") {
                      throw new Error(
                        `${describeAnswer(answer)}: the /api/admin handler ran for a key without the admin scope`,
                      );
                    }
                    if (answer.headers["x-ratelimit-remaining"] === undefined) {
                      throw new Error(
                        `${describeAnswer(answer)}: the ${run.route} handler ran, but no rate-limit headers say the guard counted it`,
                      );
                    }
                  }
                  const header = answer.headers["x-ratelimit-remaining"];
                  if (header !== undefined) {
                    if (Number(header) !== remaining - 1) {
                      throw new Error(
                        `${describeAnswer(answer)}: the key had ${remaining} requests left and now has ${header}: ${Number(header) > remaining - 1 ? "this spelling was counted in another bucket" : "counted more than once"}`,
                      );
                    }
                    remaining -= 1;
                  }
                  checkAnswer(answer);
                }
              }),
              fuzzParameters(validKeyRuns),
            );
            await expectStillServing(app);
          },
          timeoutFor(validKeyRuns),
        );

        const usageRuns = DEFAULT_RUNS.usage[form];
        it(
          "log the usage of every spelling that reaches a handler under that route's one path",
          async () => {
            const { app, kg, clock, send, takeUsage } = await setup();
            const { rawKey } = await readerKey(kg);
            const withKey = [`X-API-KEY: ${rawKey}`];
            // The path each route's usage is logged under when the route is spelled plainly.
            const usagePath = new Map<string, string>();
            for (const route of PROTECTED_ROUTES) {
              clock.advance(NEW_EPOCH_MS);
              const answer = await send(plainRequest(route), withKey);
              const logged = (await takeUsage()).map((event) => event.path);
              if (answer.ran.length > 0 && logged.length === 1) {
                usagePath.set(route.path, logged[0] as string);
              }
            }
            expect([...usagePath.keys()], "usage is logged for each route spelled plainly").toEqual(
              ["/api/data", "/api/profile", "/api/fail", "/api/withdraw"],
            );
            await fc.assert(
              fc.asyncProperty(someOf(protectedRequest(form), 3), async (requests) => {
                clock.advance(NEW_EPOCH_MS); // blocks from the last run's /api/withdraw ended
                for (const request of requests) {
                  const answer = await send(request, withKey);
                  const logged = await takeUsage();
                  for (const run of answer.ran.filter((r) => usagePath.has(r.route))) {
                    const expected = usagePath.get(run.route);
                    for (const event of logged) {
                      if (event.path !== expected) {
                        throw new Error(
                          `${describeAnswer(answer)}: usage logged under ${JSON.stringify(event.path)}, the plain spelling's under ${JSON.stringify(expected)}`,
                        );
                      }
                    }
                  }
                  checkAnswer(answer);
                }
              }),
              fuzzParameters(usageRuns),
            );
            await expectStillServing(app);
          },
          timeoutFor(usageRuns),
        );

        const lockoutRuns = DEFAULT_RUNS.lockout[form];
        it(
          "count every spelling of POST /login in one bucket, and its lockout holds for all of them",
          async () => {
            const { app, clock, send } = await setup();
            const login = requestFor({ method: "POST", path: "/login" }, form);
            const plain = plainRequest({ method: "POST", path: "/login" });
            await fc.assert(
              fc.asyncProperty(sequenceAround(login, plain, LOGIN_LIMIT + 1), async (requests) => {
                clock.advance(NEW_EPOCH_MS); // the last run's lockout has ended
                const answers: Answer[] = [];
                for (const request of requests) answers.push(await send(request));
                const runs = answers.filter((a) => a.ran.some((r) => r.route === "/login"));
                if (runs.length > LOGIN_LIMIT) {
                  throw new Error(
                    `the /login handler ran ${runs.length} times for one client, limit ${LOGIN_LIMIT} then locked out:\n  ${answers.map(describeAnswer).join("\n  ")}`,
                  );
                }
                for (const answer of answers) checkAnswer(answer);
              }),
              fuzzParameters(lockoutRuns),
            );
            await expectStillServing(app);
          },
          timeoutFor(lockoutRuns),
        );

        const pathBlockRuns = DEFAULT_RUNS.pathBlock[form];
        it(
          "hold a path block from blockRequest on POST /api/withdraw for every spelling",
          async () => {
            const { app, clock, kg, send } = await setup();
            const { rawKey } = await readerKey(kg);
            const withdraw = requestFor({ method: "POST", path: "/api/withdraw" }, form);
            const plain = plainRequest({ method: "POST", path: "/api/withdraw" });
            await fc.assert(
              fc.asyncProperty(sequenceAround(withdraw, plain, 1), async (requests) => {
                clock.advance(NEW_EPOCH_MS); // the last run's block (1 hour) has ended
                const answers: Answer[] = [];
                for (const request of requests) {
                  answers.push(await send(request, [`X-API-KEY: ${rawKey}`]));
                }
                const runs = answers.filter((a) => a.ran.some((r) => r.route === "/api/withdraw"));
                if (runs.length > 1) {
                  throw new Error(
                    `the /api/withdraw handler, which blocks the client from its path, ran ${runs.length} times:\n  ${answers.map(describeAnswer).join("\n  ")}`,
                  );
                }
                for (const answer of answers) checkAnswer(answer);
              }),
              fuzzParameters(pathBlockRuns),
            );
            await expectStillServing(app);
          },
          timeoutFor(pathBlockRuns),
        );
      });
    }
  });
}
