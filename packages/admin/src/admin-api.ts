import { createHash, timingSafeEqual } from "node:crypto";
import {
  type ErrorCode,
  type GuardRequest,
  isKeyGuardError,
  type KeyGuard,
  KeyGuardError,
  type Limiter,
} from "@keyguard/core";
import {
  blockedDetail,
  countAuthFailure,
  countsAsFailure,
  DEFAULT_FAILURE_BLOCK_MS,
  DEFAULT_FAILURE_WINDOW_MS,
  isErrorCode,
  messageWithFieldNames,
  normalizePath,
  problemResponse,
  retryAfterSeconds,
  warnBackgroundError,
} from "@keyguard/core/internal";
import type { z } from "zod";
import { ADMIN_ROUTES, type AdminRoute } from "./admin-routes.js";
import { buildOpenApiDocument } from "./openapi-document.js";

export interface AdminApiOptions {
  /**
   * The `X-Admin-Key` value that grants access. Default: the configured `adminKey`
   * (`KEYGUARD_ADMIN_KEY`), else the secret key, as in keyguard-python. Give the admin API its own
   * key in production, so the hashing secret never travels over the wire.
   */
  readonly adminKey?: string;
  /** Largest request body accepted, in bytes (default 1 MiB): bigger gets 413. */
  readonly maxBodyBytes?: number;
  /**
   * How long reading a request body may take, in milliseconds (default 15 s): a body that
   * has not fully arrived by then gets 408 `request_timeout` and the connection is closed.
   * The bound holds whatever the server's own timeouts are (Fastify's `requestTimeout`
   * is 0, none, unless set), so a client that stalls mid-body cannot hold a request open.
   */
  readonly bodyTimeoutMs?: number;
  /** Where the API is mounted (for the OpenAPI document's server URL). Default `/admin`. */
  readonly prefix?: string;
  /**
   * Told about failures that are not the caller's fault (a bug, a database that is down),
   * which are answered 5xx without details. Default: a process warning.
   */
  readonly onUnexpectedError?: (error: unknown) => void;
}

/** One admin request as an adapter reads it off its framework. */
export interface AdminRequest extends GuardRequest {
  /** The path below the mount prefix, e.g. `/keys/0190...`. */
  readonly subPath: string;
  /** Query parameters (repeated names give arrays). */
  readonly query: Readonly<Record<string, string | string[] | undefined>>;
  /**
   * Reads the raw body text (if any). Called only once the caller is authenticated, so an
   * unauthenticated client cannot make the server buffer a body. May throw
   * `payload_too_large`.
   */
  readonly readBody: () => Promise<string | undefined>;
}

/** What the adapter writes back. */
export interface AdminResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_BODY_TIMEOUT_MS = 15_000;

/** `WWW-Authenticate` of the admin API's 401s (RFC 9110 §11.6.1 requires a challenge). */
const ADMIN_CHALLENGE = 'ApiKey realm="keyguard-admin", header="X-Admin-Key"';

interface CompiledRoute {
  readonly route: AdminRoute;
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

/**
 * The admin API, framework-free: routing, `X-Admin-Key` authentication (constant time,
 * failures counted toward the client's block threshold), body and query validation, the
 * operations, and RFC 9457 problems for every error. Adapters only hand requests in and
 * write responses out (`keyguardAdmin` in each adapter package).
 */
export class AdminApi {
  readonly #kg: KeyGuard;
  readonly #limiter: Limiter;
  readonly #adminKeyDigest: Buffer;
  readonly #routes: readonly CompiledRoute[];
  readonly maxBodyBytes: number;
  readonly bodyTimeoutMs: number;
  readonly #onUnexpectedError: (error: unknown) => void;
  /** The OpenAPI 3.1 document, generated from the same schemas that validate requests. */
  readonly openApiDocument: Record<string, unknown>;

  constructor(kg: KeyGuard, options: AdminApiOptions = {}) {
    this.#kg = kg;
    this.#limiter = kg.limiter; // throws at start-up, not per request, if there is none
    const adminKey = options.adminKey ?? kg.config.adminKey ?? kg.config.secretKey;
    if (adminKey === undefined || adminKey.length < 8) {
      throw new KeyGuardError(
        "invalid_config",
        adminKey === undefined
          ? "The admin API needs an admin key: set KEYGUARD_ADMIN_KEY (or pass adminKey), or configure the secret key."
          : "The admin key must be at least 8 characters; use a long random value.",
      );
    }
    this.#adminKeyDigest = digest(adminKey);
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
    if (!Number.isSafeInteger(this.bodyTimeoutMs) || this.bodyTimeoutMs < 1) {
      throw new KeyGuardError(
        "invalid_config",
        "bodyTimeoutMs must be a whole number of milliseconds, at least 1.",
      );
    }
    this.#onUnexpectedError = options.onUnexpectedError ?? warnBackgroundError;
    this.#routes = ADMIN_ROUTES.map(compile);
    this.openApiDocument = buildOpenApiDocument(ADMIN_ROUTES, options.prefix ?? "/admin");
  }

  /** Answers one request. Never throws: every failure is a problem response. */
  async handle(request: AdminRequest): Promise<AdminResponse> {
    const now = this.#kg.clock.now();
    try {
      if (request.method === "GET" && request.subPath === "/openapi.json") {
        return json(200, this.openApiDocument);
      }
      const client = this.#kg.clientOf(request);
      await this.#refuseBlocked(client, request.path, now);
      // Authentication comes before routing, so an unauthenticated caller learns nothing,
      // not even which paths or ids exist.
      const adminKey = request.header("x-admin-key");
      if (!this.#authorized(adminKey)) {
        // Only a wrong key counts toward a block: a missing one (what any web page can make
        // a browser send) and preflights never do.
        const wrongKey = adminKey !== undefined && adminKey !== "";
        if (countsAsFailure(request.method, wrongKey)) {
          await countAuthFailure(
            this.#limiter,
            client,
            now,
            {
              threshold: this.#kg.config.ipBlockThreshold,
              windowMs: DEFAULT_FAILURE_WINDOW_MS,
              blockMs: DEFAULT_FAILURE_BLOCK_MS,
            },
            (block) => this.#kg.blockAutomatically(block), // stored: a restart lifts nothing
            // Refused either way: an unavailable limiter must not make it a 503 (but is heard).
          ).catch((error: unknown) => this.#kg.reportError(error));
        }
        throw new KeyGuardError("unauthorized", "Send the admin key in the X-Admin-Key header.");
      }
      const { route, params } = this.#match(request.method, request.subPath);
      const query = parse(route.query, flattenQuery(request.query), "query");
      const body = this.#parseBody(route, request, await this.#readBody(request));
      // Every change this request makes is attributed to the admin API and its client.
      const kg = this.#kg.withActor({ type: "admin_api", name: client });
      const result = await route.run(kg, { params, query, body, now });
      return json(route.statusFor?.(result) ?? route.status, result);
    } catch (error) {
      // The operator hears of every 5xx (with its cause); the client is told nothing of it.
      if (!isKeyGuardError(error) || error.status >= 500) this.#onUnexpectedError(error);
      return problem(error);
    }
  }

  async #refuseBlocked(client: string, path: string, now: number): Promise<void> {
    // An unavailable limiter must not lock the operator out: the manual blocks still apply.
    const block = await this.#kg
      .findBlock(client, normalizePath(path), now)
      .catch(() => this.#kg.findManualBlock(client, normalizePath(path), now));
    if (block !== undefined) {
      throw new KeyGuardError("ip_blocked", blockedDetail(block.untilMs, now), {
        details: { retryAfter: retryAfterSeconds(block.untilMs - now) },
      });
    }
  }

  #authorized(header: string | string[] | undefined): boolean {
    if (typeof header !== "string") return false;
    // Digests have equal lengths, so the comparison takes the same time for any input.
    return timingSafeEqual(digest(header), this.#adminKeyDigest);
  }

  #match(method: string, subPath: string): { route: AdminRoute; params: Record<string, string> } {
    const path = subPath === "" ? "/" : subPath.replace(/\/+$/, "") || "/";
    const allowed: string[] = [];
    for (const { route, pattern, names } of this.#routes) {
      const match = pattern.exec(path);
      if (match === null) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      names.forEach((name, i) => {
        params[name] = safeDecode(match[i + 1] ?? "");
      });
      return { route, params };
    }
    if (allowed.length > 0) {
      throw new KeyGuardError("method_not_allowed", `Use ${allowed.join(", ")} on this path.`, {
        details: { allow: allowed.join(", ") },
      });
    }
    throw new KeyGuardError("not_found", "No admin endpoint at this path. See openapi.json.");
  }

  /** The adapter's body read, bounded by `bodyTimeoutMs` (a stalled client gets 408). */
  #readBody(request: AdminRequest): Promise<string | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new KeyGuardError(
            "request_timeout",
            `The request body did not arrive within ${this.bodyTimeoutMs} ms.`,
            { details: { connection: "close" } },
          ),
        );
      }, this.bodyTimeoutMs);
    });
    return Promise.race([request.readBody(), timeout]).finally(() => clearTimeout(timer));
  }

  #parseBody(route: AdminRoute, request: AdminRequest, raw: string | undefined): unknown {
    const text = raw ?? "";
    if (Buffer.byteLength(text) > this.maxBodyBytes) {
      throw new KeyGuardError(
        "payload_too_large",
        `The request body must be at most ${this.maxBodyBytes} bytes.`,
      );
    }
    if (route.body === undefined) {
      if (text.trim() !== "") {
        throw new KeyGuardError("invalid_input", "This endpoint takes no request body.");
      }
      return undefined;
    }
    if (text.trim() === "") {
      if (route.optionalBody) return undefined;
      throw new KeyGuardError(
        "invalid_input",
        "Send a JSON body (Content-Type: application/json).",
      );
    }
    const contentType = request.header("content-type");
    if (
      typeof contentType !== "string" ||
      !/^application\/([\w.+-]*\+)?json\b/i.test(contentType)
    ) {
      throw new KeyGuardError(
        "unsupported_media_type",
        "Send the body as JSON, with Content-Type: application/json.",
      );
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new KeyGuardError(
        "invalid_input",
        `The body is not valid JSON (${(error as Error).message}).`,
      );
    }
    return parse(route.body, value, "body");
  }
}

function compile(route: AdminRoute): CompiledRoute {
  const names: string[] = [];
  const source = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    names.push(name);
    return "([^/]+)";
  });
  return { route, pattern: new RegExp(`^${source}$`), names };
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** Single values as strings; a repeated parameter is a mistake the schema reports. */
function flattenQuery(query: AdminRequest["query"]): Record<string, unknown> {
  const flat: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(query)) if (value !== undefined) flat[name] = value;
  return flat;
}

function parse(schema: z.ZodType, value: unknown, where: "body" | "query"): unknown {
  // reportInput: zod 4 leaves `issue.input` out otherwise, and then a present field of the
  // wrong type would read as a missing one.
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.join(".") ?? "";
  const noun = where === "body" ? "field" : "query parameter";
  let detail = field === "" ? (issue?.message ?? "invalid input") : `${field}: ${issue?.message}`;
  if (issue?.code === "unrecognized_keys") {
    detail = `unknown ${noun}${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map(shownName).join(", ")}`;
  } else if (issue?.code === "invalid_type" && issue.input === undefined && field !== "") {
    detail = `${field} is required`;
  } else if (issue?.code === "invalid_type" && field === "") {
    detail = where === "body" ? "the body must be a JSON object" : "invalid query";
  }
  throw new KeyGuardError("invalid_input", detail);
}

/**
 * An unknown name as the answer shows it: quoted when it could be a field's name (a typo
 * is easy to see), otherwise not echoed (the request's own text: kilobytes of it, or
 * control and bidi characters that would corrupt a terminal or log showing the answer).
 */
function shownName(name: string): string {
  return /^[\w.[\]-]{1,40}$/.test(name) ? `"${name}"` : "(a name no field has)";
}

function json(status: number, value: unknown): AdminResponse {
  return {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
    body: JSON.stringify(value),
  };
}

/** Core's names for inputs (`details.field`) as the request bodies spell them. */
const WIRE_FIELD_NAMES: Readonly<Record<string, string>> = {
  rateLimitPerMinute: "rate_limit_per_minute",
  monthlyLimit: "monthly_limit",
  expiresAt: "expires_at",
  allowedIps: "allowed_ips",
  gracePeriodMs: "grace_period_seconds",
  targetId: "target_id",
};

/** Every error becomes a problem; anything unexpected is a 503 that says nothing internal. */
function problem(error: unknown): AdminResponse {
  let code: ErrorCode = "service_unavailable";
  let detail = "The operation could not be completed right now. Retry shortly.";
  const headers: Record<string, string> = { "cache-control": "no-store" };
  if (isKeyGuardError(error) && isErrorCode(error.code)) {
    code = error.code;
    // A 5xx KeyGuardError's message can quote a driver ("connect ECONNREFUSED 10.0.0.7:5432").
    if (error.status < 500) detail = messageWithFieldNames(error, WIRE_FIELD_NAMES);
    const details = error.details;
    if (typeof details?.retryAfter === "string") headers["retry-after"] = details.retryAfter;
    if (typeof details?.allow === "string") headers.allow = details.allow;
    // The rest of a body that timed out is never read: the connection closes after the answer.
    if (details?.connection === "close") headers.connection = "close";
  }
  if (code === "unauthorized") headers["www-authenticate"] = ADMIN_CHALLENGE;
  if (code === "service_unavailable" || code === "database_unavailable") {
    headers["retry-after"] = "5";
  }
  const answer = problemResponse(code, detail, headers);
  return { status: answer.status, headers: answer.headers, body: JSON.stringify(answer.problem) };
}
