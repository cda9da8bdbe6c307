/** Requests of one key in one UTC hour, by status class. */
export interface UsageBucket {
  /** Start of the hour (UTC). */
  readonly hour: Date;
  readonly total: number;
  readonly status2xx: number;
  readonly status3xx: number;
  readonly status4xx: number;
  readonly status5xx: number;
}
