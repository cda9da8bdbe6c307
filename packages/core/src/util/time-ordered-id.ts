import { randomUUID } from "node:crypto";

/**
 * A UUIDv7 (RFC 9562) for `at`: 48 bits of milliseconds, then randomness. Usage rows get
 * these instead of random v4 ids so each batch appends to the end of the primary-key
 * index instead of splitting pages all over it: about three times the insert rate on
 * SQLite (see docs/benchmarks.md), and the same 36-character format the schema expects.
 */
export function timeOrderedId(at: number): string {
  const time = Math.max(0, Math.floor(at)).toString(16).padStart(12, "0").slice(-12);
  // randomUUID is 8-4-4-4-12 with the version at index 14; keep its random and variant bits.
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${randomUUID().slice(15)}`;
}
