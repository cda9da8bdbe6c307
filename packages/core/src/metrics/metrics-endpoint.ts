import { createHash, timingSafeEqual } from "node:crypto";
import type { Registry } from "prom-client";
import { KeyGuardError } from "../errors/keyguard-error.js";
import type { KeyGuard } from "../keyguard.js";
import {
  countAuthFailure,
  countsAsFailure,
  DEFAULT_FAILURE_BLOCK_MS,
  DEFAULT_FAILURE_WINDOW_MS,
} from "../pipeline/auth-failures.js";
import type { GuardRequest } from "../pipeline/guard-request.js";
import { blockedDetail, problemResponse, retryAfterSeconds } from "../pipeline/problem-details.js";
import { normalizePath } from "../pipeline/protected-path.js";

export interface MetricsEndpointOptions {
  /**
   * Serve the metrics to anyone (`true`), or only with the admin key in `X-Admin-Key`
   * (`false`). Default: the configuration's `metrics.public` (`KEYGUARD_METRICS_PUBLIC`),
   * itself `false`.
   */
  readonly public?: boolean;
  /** The key to ask for; default the admin API's: `adminKey`, else `secretKey`. */
  readonly adminKey?: string;
  /** A registry to serve instead of `kg.metrics` (e.g. one merged with the app's). */
  readonly registry?: Registry;
}

/** What an adapter writes back. */
export interface MetricsAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const ADMIN_CHALLENGE = 'ApiKey realm="keyguard-admin", header="X-Admin-Key"';

/**
 * The Prometheus scrape endpoint, framework-free: each adapter's `keyguardMetrics(kg)`
 * hands requests in and writes the answer out. Unless public, it is guarded as the admin
 * API is: a blocked client gets 403, a missing or wrong `X-Admin-Key` 401 (compared in
 * constant time; a wrong one counts toward the client's block threshold), so metrics that
 * tell an attacker how a deployment is doing are not an open door.
 */
export class MetricsEndpoint {
  readonly #kg: KeyGuard;
  readonly #public: boolean;
  readonly #adminKeyDigest: Buffer | undefined;
  readonly #registry: Registry;

  constructor(kg: KeyGuard, options: MetricsEndpointOptions = {}) {
    this.#kg = kg;
    this.#public = options.public ?? kg.config.metrics.public;
    this.#registry = options.registry ?? kg.metrics;
    if (!this.#public) {
      const adminKey = options.adminKey ?? kg.config.adminKey ?? kg.config.secretKey;
      if (adminKey === undefined || adminKey.length < 8) {
        throw new KeyGuardError(
          "invalid_config",
          adminKey === undefined
            ? "The metrics endpoint needs the admin key (or metrics.public: true): set KEYGUARD_ADMIN_KEY, or configure the secret key."
            : "The admin key must be at least 8 characters; use a long random value.",
        );
      }
      this.#adminKeyDigest = digest(adminKey);
    }
  }

  /** Answers one request. Never throws: every refusal is a problem response. */
  async answer(request: GuardRequest): Promise<MetricsAnswer> {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return problem("method_not_allowed", "The metrics endpoint answers GET.", {
        allow: "GET, HEAD",
      });
    }
    if (!this.#public) {
      const refusal = await this.#refusal(request);
      if (refusal !== undefined) return refusal;
    }
    const body = await this.#registry.metrics();
    return {
      status: 200,
      headers: { "content-type": this.#registry.contentType, "cache-control": "no-store" },
      body,
    };
  }

  async #refusal(request: GuardRequest): Promise<MetricsAnswer | undefined> {
    const kg = this.#kg;
    const now = kg.clock.now();
    const client = kg.clientOf(request);
    const path = normalizePath(request.path);
    // An unavailable limiter must not lock the operator out: the stored blocks still apply.
    const block = await kg
      .findBlock(client, path, now)
      .catch(() => kg.findManualBlock(client, path, now));
    if (block !== undefined) {
      return problem("ip_blocked", blockedDetail(block.untilMs, now), {
        "retry-after": retryAfterSeconds(block.untilMs - now),
      });
    }
    const sent = request.header("x-admin-key");
    if (typeof sent === "string" && this.#matches(sent)) return undefined;
    // Only a wrong key counts toward a block: a missing one never does (any web page can
    // make a browser send that).
    const wrongKey = sent !== undefined && sent !== "";
    if (countsAsFailure(request.method, wrongKey)) {
      await countAuthFailure(
        kg.limiter,
        client,
        now,
        {
          threshold: kg.config.ipBlockThreshold,
          windowMs: DEFAULT_FAILURE_WINDOW_MS,
          blockMs: DEFAULT_FAILURE_BLOCK_MS,
        },
        (found) => kg.blockAutomatically(found),
      ).catch((error: unknown) => kg.reportError(error));
    }
    return problem("unauthorized", "Send the admin key in the X-Admin-Key header.", {
      "www-authenticate": ADMIN_CHALLENGE,
    });
  }

  #matches(sent: string): boolean {
    // Digests have equal lengths, so the comparison takes the same time for any input.
    return timingSafeEqual(digest(sent), this.#adminKeyDigest as Buffer);
  }
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

function problem(
  code: "method_not_allowed" | "ip_blocked" | "unauthorized",
  detail: string,
  headers: Record<string, string>,
): MetricsAnswer {
  const response = problemResponse(code, detail, headers);
  return {
    status: response.status,
    headers: response.headers, // with the problem+json content type
    body: JSON.stringify(response.problem),
  };
}
