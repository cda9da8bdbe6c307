/** keyguard-python's `stats` figures. `errorRate` is a fraction (0.024 means 2.4%). */
export interface KeyGuardStats {
  readonly organizations: number;
  readonly totalKeys: number;
  /** Keys that are not revoked and not expired. */
  readonly activeKeys: number;
  readonly totalRequests: number;
  readonly requestsLastHour: number;
  /** Share of logged requests answered with a status of 400 or above; 0 when there are none. */
  readonly errorRate: number;
  /**
   * Keys (not revoked) still stored under another system's hash (keyguard-python, plain
   * SHA-256), waiting for their first use to be re-stored under KeyGuard's HMAC. At 0 the
   * legacy secret is no longer needed.
   */
  readonly legacyHashKeys: number;
  /**
   * Active keys (not revoked, not expired) made before the last secret rotation, so hashed
   * with a secret it retired: each works only while that secret is in `previousSecretKeys`.
   * At 0 the previous secrets can be removed. 0 when the secret was never rotated.
   */
  readonly previousSecretKeys: number;
  /**
   * Requests a shadow policy would have refused (and let through), counted by this
   * process since it started.
   */
  readonly shadowRefusals?: number;
}

/** The raw counts a store reports; the service derives {@link KeyGuardStats} from them. */
export interface StoreCounts {
  readonly organizations: number;
  readonly totalKeys: number;
  readonly activeKeys: number;
  readonly totalRequests: number;
  readonly requestsSince: number;
  readonly errorRequests: number;
}
