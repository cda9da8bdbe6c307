/**
 * Handled requests, as written to the seed's `usage_logs` table. One event is one request,
 * or, once aggregated, `requestCount` requests with the same key, method, path, status and
 * client within the same second (`latencyMs` is then their mean, `timestamp` the latest).
 */
export interface UsageEvent {
  readonly keyId: string;
  readonly path: string;
  readonly method: string;
  readonly statusCode: number;
  readonly latencyMs: number;
  readonly ipAddress: string | null;
  readonly timestamp: Date;
  /** How many requests this event stands for (default 1). */
  readonly requestCount?: number;
}
