/** One handled request, as written to the seed's `usage_logs` table. */
export interface UsageEvent {
  readonly keyId: string;
  readonly path: string;
  readonly method: string;
  readonly statusCode: number;
  readonly latencyMs: number;
  readonly ipAddress: string | null;
  readonly timestamp: Date;
}
