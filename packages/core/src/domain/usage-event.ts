/**
 * Handled requests, as written to keyguard-python's `usage_logs` table. One event is one request,
 * or, once aggregated, `requestCount` requests with the same key, method, path, status,
 * client and charge within the same second (`latencyMs` is then their mean, `timestamp`
 * the latest).
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
  /**
   * Whether these requests were charged to the key's monthly quota: true for requests the
   * pipeline let through, false for its refusals (rate limit, quota, IP block). Only charged
   * requests seed a quota after a restart. Default: every status but 429 (what an event
   * recorded without it, by an application or an older version, is taken to mean).
   */
  readonly charged?: boolean;
  /**
   * The row's id, fixed before the first attempt to write it (`UsageRecorder` sets it): a
   * store writes an event with a given id at most once, so a batch retried after its
   * COMMIT's reply was lost, or replayed from the spool, is not counted twice.
   */
  readonly id?: string;
  /**
   * Credits these requests spent (the sum of their costs), for a key with credits; with
   * `creditsPeriodStart`, the balance period (`creditPeriod(...).start`, epoch ms) they
   * were spent in. A store adds them to the lineage's spending only for rows it inserts.
   */
  readonly credits?: number;
  readonly creditsPeriodStart?: number;
}

/** `event.charged`, or the rule for events recorded without it. */
export function isCharged(event: UsageEvent): boolean {
  return event.charged ?? event.statusCode !== 429;
}
