import type { UsageHourWire } from "./wire.js";

const HOUR_MS = 3_600_000;

/** The chart's columns: hour starts (seconds, as uPlot takes them) and a count per class. */
export interface UsageSeries {
  readonly hours: number[];
  readonly ok: number[];
  readonly redirects: number[];
  /** 4xx; without the 429s when `limited` is known. */
  readonly clientErrors: number[];
  /** 429s (refused by a limit), when the API reports them apart (every key's overview). */
  readonly limited: number[] | undefined;
  readonly serverErrors: number[];
}

/**
 * Hourly usage as chart columns, one per hour from `sinceMs`'s hour to `nowMs`'s: hours the
 * API did not list (no requests) are zeros, so the x axis is even and gaps read as "none".
 */
export function usageSeries(
  rows: readonly (UsageHourWire & { readonly status_429?: number })[],
  sinceMs: number,
  nowMs: number,
): UsageSeries {
  const byHour = new Map<number, UsageHourWire & { readonly status_429?: number }>();
  for (const row of rows) byHour.set(Math.floor(Date.parse(row.hour) / HOUR_MS), row);
  const apart = rows.length > 0 && rows.every((row) => row.status_429 !== undefined);
  const limited: number[] = [];
  const series: UsageSeries = {
    hours: [],
    ok: [],
    redirects: [],
    clientErrors: [],
    limited: apart ? limited : undefined,
    serverErrors: [],
  };
  const first = Math.floor(sinceMs / HOUR_MS);
  const last = Math.max(first, Math.floor(nowMs / HOUR_MS));
  for (let hour = first; hour <= last; hour++) {
    const row = byHour.get(hour);
    const tooMany = apart ? (row?.status_429 ?? 0) : 0;
    series.hours.push((hour * HOUR_MS) / 1000);
    series.ok.push(row?.status_2xx ?? 0);
    series.redirects.push(row?.status_3xx ?? 0);
    series.clientErrors.push((row?.status_4xx ?? 0) - tooMany);
    if (apart) limited.push(tooMany);
    series.serverErrors.push(row?.status_5xx ?? 0);
  }
  return series;
}

/** The totals of a series, per class (4xx including 429): what the cards beside the chart show. */
export function usageTotals(series: UsageSeries): {
  total: number;
  ok: number;
  clientErrors: number;
  limited: number;
  serverErrors: number;
} {
  const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
  const ok = sum(series.ok);
  const limited = sum(series.limited ?? []);
  const clientErrors = sum(series.clientErrors) + limited;
  const serverErrors = sum(series.serverErrors);
  return {
    total: ok + sum(series.redirects) + clientErrors + serverErrors,
    ok,
    clientErrors,
    limited,
    serverErrors,
  };
}
