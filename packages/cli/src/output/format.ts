/** `1247` -> `1,247` (keyguard-python's stats). */
export function formatCount(value: number): string {
  return value.toLocaleString("en-US");
}

/** `0.024` -> `2.4%`. */
export function formatPercent(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

/** `2026-04-22 14:30` in UTC, as keyguard-python's listings show times; `never` for none. */
export function formatDateTime(date: Date | null, empty = "never"): string {
  if (date === null) return empty;
  return `${date.toISOString().slice(0, 16).replace("T", " ")}`;
}

/** JSON, two-space indented, newline-terminated (times are already ISO 8601 strings). */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
